// Package netlock keeps a TCP peer outside a checkpoint from being told
// that its connection is gone. While such a connection is saved, and from
// a --kill checkpoint until cr_restart has made it again, a netfilter rule
// drops what the peer sends to it, so that the kernel, which has no socket
// for it any more, does not answer with a reset: the peer only sees no
// acknowledgement, and retransmits until the connection is back (CRIU's
// network lock, done with nftables). Each checkpoint's rules live in an
// nftables table of their own, named stasis-ID. While the checkpoint runs
// the table belongs to its netlink socket, so the kernel removes it if the
// checkpointer dies, and the job's connections go on; Keep leaves a copy
// that outlives it, which Release (cr_restart) removes.
package netlock

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Conn is one connection, as the host of the checkpointed end sees it.
type Conn struct {
	Local, Peer netip.AddrPort
}

// A Lock holds the rules of one checkpoint in a table its netlink socket
// owns.
type Lock struct {
	name  string
	netns *os.File // the network namespace, open: its processes may be gone by Keep
	conns []Conn
	nl    *netlink.Conn
}

// tableOwner is NFT_TABLE_F_OWNER: the table goes with its netlink socket,
// and only that socket may change it.
const tableOwner = 0x2

var validName = regexp.MustCompile(`^stasis-[0-9a-f]{16}$`)

// NewName returns a table name no other checkpoint has.
func NewName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "stasis-" + hex.EncodeToString(b)
}

// Hold drops, from now on, what the peers of conns send to them in the
// network namespace netns (a /proc/PID/ns/net path), until the lock is
// closed or the process ends.
func Hold(name, netns string, conns []Conn) (*Lock, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("nftables table %q: not a name stasis gives", name)
	}
	ns, err := os.Open(netns)
	if err != nil {
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	nl, err := dial(ns)
	if err != nil {
		ns.Close()
		return nil, err
	}
	if err := add(nl, name+"-hold", tableOwner, conns); err != nil {
		nl.Close()
		ns.Close()
		return nil, err
	}
	return &Lock{name: name, netns: ns, conns: conns, nl: nl}, nil
}

// Keep leaves the rules in place after the process ends, in the table
// Name, and closes the lock.
func (l *Lock) Keep() error {
	nl, err := dial(l.netns)
	if err != nil {
		return errors.Join(err, l.Close())
	}
	defer nl.Close()
	err = add(nl, l.name, 0, l.conns)
	return errors.Join(err, l.Close())
}

// Close removes the rules Hold made: the kernel removes the table with
// the socket that owns it.
func (l *Lock) Close() error {
	if l == nil || l.nl == nil {
		return nil
	}
	err := l.nl.Close()
	l.netns.Close()
	l.nl = nil
	return err
}

// Name is the table Keep leaves.
func (l *Lock) Name() string { return l.name }

// Release removes the table name that Keep left in the network namespace
// netns; there being none is not an error (a --run checkpoint leaves none,
// and an earlier restart may have removed it).
func Release(name, netns string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("nftables table %q: not a name stasis gives: image damaged", name)
	}
	ns, err := os.Open(netns)
	if err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	defer ns.Close()
	nl, err := dial(ns)
	if err != nil {
		return err
	}
	defer nl.Close()
	msg, err := tableMsg(unix.NFT_MSG_DELTABLE, name, 0)
	if err == nil {
		err = send(nl, msg)
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing nftables table inet %s: %w", name, err)
	}
	return nil
}

// Tables lists the nftables tables of ours (inet stasis-...) in our
// network namespace: those --kill checkpoints left, and those held.
func Tables() ([]string, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	ts, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("listing nftables tables: %w", err)
	}
	var out []string
	for _, t := range ts {
		if strings.HasPrefix(t.Name, "stasis-") {
			out = append(out, t.Name)
		}
	}
	return out, nil
}

// dial opens a netlink socket to nftables in the network namespace ns.
func dial(ns *os.File) (*netlink.Conn, error) {
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(ns.Fd())})
	if err != nil {
		return nil, fmt.Errorf("nftables: netlink: %w", err)
	}
	return nl, nil
}

// add makes the table name, with flags, holding a drop rule for each of
// conns in a chain on the input hook, in one transaction.
func add(nl *netlink.Conn, name string, flags uint32, conns []Conn) error {
	t, err := tableMsg(unix.NFT_MSG_NEWTABLE, name, flags)
	if err != nil {
		return err
	}
	c, err := chainMsg(name)
	if err != nil {
		return err
	}
	msgs := []netlink.Message{t, c}
	for _, cn := range conns {
		r, err := ruleMsg(name, cn)
		if err != nil {
			return err
		}
		msgs = append(msgs, r)
	}
	if err := send(nl, msgs...); err != nil {
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("nftables table inet %s: %w (it needs CAP_NET_ADMIN)", name, err)
		}
		return fmt.Errorf("nftables table inet %s: %w", name, err)
	}
	return nil
}

// send sends msgs as one nftables transaction and waits for each one's
// acknowledgement.
func send(nl *netlink.Conn, msgs ...netlink.Message) error {
	edge := func(typ int) netlink.Message {
		return netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request},
			Data:   genmsg(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES),
		}
	}
	batch := append(append([]netlink.Message{edge(unix.NFNL_MSG_BATCH_BEGIN)}, msgs...), edge(unix.NFNL_MSG_BATCH_END))
	if _, err := nl.SendMessages(batch); err != nil {
		return err
	}
	var errs []error
	for range msgs {
		if _, err := nl.Receive(); err != nil {
			errs = append(errs, err)
			break // after an error the kernel undoes the rest and says no more
		}
	}
	return errors.Join(errs...)
}

// genmsg is struct nfgenmsg.
func genmsg(family uint8, res uint16) []byte {
	return binary.BigEndian.AppendUint16([]byte{family, unix.NFNETLINK_V0}, res)
}

func message(typ int, flags netlink.HeaderFlags, attrs func(ae *netlink.AttributeEncoder)) (netlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	attrs(ae)
	b, err := ae.Encode()
	if err != nil {
		return netlink.Message{}, err
	}
	return netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ),
			Flags: netlink.Request | netlink.Acknowledge | flags,
		},
		Data: append(genmsg(unix.NFPROTO_INET, 0), b...),
	}, nil
}

func tableMsg(typ int, name string, flags uint32) (netlink.Message, error) {
	create := netlink.HeaderFlags(0)
	if typ == unix.NFT_MSG_NEWTABLE {
		create = netlink.Create | netlink.Excl
	}
	return message(typ, create, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_TABLE_NAME, name)
		ae.Uint32(unix.NFTA_TABLE_FLAGS, flags)
	})
}

func chainMsg(table string) (netlink.Message, error) {
	return message(unix.NFT_MSG_NEWCHAIN, netlink.Create, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_CHAIN_TABLE, table)
		ae.String(unix.NFTA_CHAIN_NAME, "input")
		ae.Nested(unix.NFTA_CHAIN_HOOK, func(h *netlink.AttributeEncoder) error {
			h.Uint32(unix.NFTA_HOOK_HOOKNUM, unix.NF_INET_LOCAL_IN)
			h.Int32(unix.NFTA_HOOK_PRIORITY, -300) // raw: before conntrack
			return nil
		})
		ae.String(unix.NFTA_CHAIN_TYPE, "filter")
	})
}

func ruleMsg(table string, c Conn) (netlink.Message, error) {
	var elems [][]byte
	for _, e := range dropFrom(c) {
		b, err := expr.Marshal(unix.NFPROTO_INET, e)
		if err != nil {
			return netlink.Message{}, err
		}
		elems = append(elems, b)
	}
	return message(unix.NFT_MSG_NEWRULE, netlink.Create|netlink.Append, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_RULE_TABLE, table)
		ae.String(unix.NFTA_RULE_CHAIN, "input")
		ae.Nested(unix.NFTA_RULE_EXPRESSIONS, func(l *netlink.AttributeEncoder) error {
			for _, b := range elems {
				l.Do(netlink.Nested|unix.NFTA_LIST_ELEM, func() ([]byte, error) { return b, nil })
			}
			return nil
		})
	})
}

// dropFrom matches a TCP packet from c's peer to c's local end, and drops
// it. Addresses are compared as they go on the wire: an IPv6 socket's
// IPv4-mapped ones as IPv4.
func dropFrom(c Conn) []expr.Any {
	peer, local := c.Peer.Addr().Unmap(), c.Local.Addr().Unmap()
	proto, src, dst := byte(unix.NFPROTO_IPV4), uint32(12), uint32(16)
	if peer.Is6() {
		proto, src, dst = unix.NFPROTO_IPV6, 8, 24
	}
	port := func(p uint16) []byte { return binary.BigEndian.AppendUint16(nil, p) }
	match := func(base expr.PayloadBase, off uint32, want []byte) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: base, Offset: off, Len: uint32(len(want))},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: want},
		}
	}
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
	}
	e = append(e, match(expr.PayloadBaseNetworkHeader, src, peer.AsSlice())...)
	e = append(e, match(expr.PayloadBaseNetworkHeader, dst, local.AsSlice())...)
	e = append(e, match(expr.PayloadBaseTransportHeader, 0, port(c.Peer.Port()))...)
	e = append(e, match(expr.PayloadBaseTransportHeader, 2, port(c.Local.Port()))...)
	return append(e, &expr.Verdict{Kind: expr.VerdictDrop})
}
