package slurm

// A real Slurm cluster for tests: one slurmctld and two slurmd, nothing
// mocked. The two nodes, n1 and n2, are two slurmd processes on this
// machine, each in its own network namespace and UTS namespace, so a job
// sees its node's hostname and address. A veth pair joins each namespace to
// a Linux bridge in the host namespace, where slurmctld and munged run.
//
// What was found while building it (Slurm 22.05.8, munge 0.5.15, Debian 12,
// a 2-core VM, kernel 6.18):
//
//   - munged runs as root without complaint as long as its key is owned by
//     root with mode 0400 and the directory of its socket can be entered by
//     everyone (else it warns "Socket is inaccessible", and a job of uid
//     65534 could not run scontrol). --force is passed anyway: it turns the
//     remaining permission checks (on a TMPDIR we do not choose) into
//     warnings. -F keeps it in the foreground, so the pid we start is the
//     daemon's.
//   - slurmd initialises the cgroup plugin even with proctrack/linuxproc and
//     task/none, and fails ("No filesystem mounted on /sys/fs/cgroup") when
//     started with `ip netns exec`, which mounts a fresh sysfs. So a node is
//     `nsenter --net=/run/netns/NS unshare --uts sh -c 'hostname n1; exec
//     slurmd -D -N n1'`: every step execs, the pid is slurmd's, and /sys is
//     the host's. proctrack/linuxproc works without cgroups.
//   - A requeued job is held: its EligibleTime is set to the requeue time
//     plus AuthInfo's cred_expire plus one second (120 s by default; seen as
//     Reason=BeginTime for 121 s). cred_expire=5 is the smallest value
//     accepted (2 is rejected: "AuthInfo=cred_expire=2 invalid"), so a
//     requeued job runs again about 6 s after the requeue. (Setting the
//     start time again, `scontrol update jobid=N StartTime=now`, after the
//     requeue should also work; not tried, the configuration suffices.) `scontrol reconfigure` does not
//     change cred_expire: the daemons must be restarted.
//   - A requeue ends the first run as a cancel does (stepd logs "CANCELLED
//     ... DUE TO JOB REQUEUE"); with --open-mode=append its output file keeps the first
//     run's lines, by default (truncate) they are lost.
//   - --signal=B:USR1@N is sent, it seems, by slurmctld's periodic
//     time-limit check, which runs about every 30 s, so the signal comes up to 30 s after the
//     job's remaining time reaches N; with --time=1 and @50 (due 10 s after
//     the start) it came 25-27 s after the start in six runs.
//   - Measured in five runs: a requeued job ran again 5.9-6.0 s after its
//     `scontrol requeue` (root and uid 65534 alike); from sbatch to the
//     script running took 1.9-3.0 s (sched/builtin, sched_interval=1); the
//     cluster is up, both nodes idle, about 1-1.5 s after the start. The
//     package takes about 31 s, nearly all of it the USR1@50 test.
//   - A job pinned with -w to a node another test has drained waits until
//     that node is resumed (seen: 10 s), so a test drains only for as long
//     as it must and resumes in its cleanup.
//   - sacct needs slurmdbd; job states are read from `scontrol show job -o`
//     (the field for the restart count is "Restarts"), which forgets a job
//     MinJobAge (30 s here) after it ends.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The programs the cluster needs, with the Debian package of each.
var needed = []struct{ prog, pkg string }{
	{"munged", "munge"},
	{"slurmctld", "slurmctld"},
	{"slurmd", "slurmd"},
	{"sbatch", "slurm-client"},
	{"scontrol", "slurm-client"},
	{"squeue", "slurm-client"},
	{"scancel", "slurm-client"},
	{"sinfo", "slurm-client"},
	{"ip", "iproute2"},
	{"nsenter", "util-linux"},
	{"unshare", "util-linux"},
}

// Nodes are the names of the cluster's nodes, which are also their hostnames.
var Nodes = []string{"n1", "n2"}

// CPUs each node declares (SlurmdParameters=config_overrides).
const nodeCPUs = 4

// Cluster is a running cluster.
type Cluster struct {
	Dir string // shared, world-writable and sticky: job scripts and output

	root    string // everything else: config, state, spool, logs
	conf    string // slurm.conf
	id      string // names this run's bridge, namespaces and veths
	subnet  string // "10.a.b": bridge .1, node i at .(i+2)
	bridge  string
	netns   []string // per node
	veths   []string // host ends, per node
	daemons []*daemon
	logs    []string // daemons' log files, for dumping

	mu      sync.Mutex
	scripts int
}

type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // once done is closed
}

// StartCluster starts a cluster of its own for t, stopped when t ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := start()
	if err != nil {
		if c != nil {
			c.dumpLogs(t, nil)
			c.Stop()
		}
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	c.watch(t)
	return c
}

var (
	sharedOnce sync.Once
	sharedC    *Cluster
	sharedErr  error
)

// shared is the package's cluster, started by the first test that asks
// and stopped by TestMain. The test fails if the cluster could not start.
// Tests using it leave both nodes idle or allocated, never drained.
func shared(t testing.TB) *Cluster {
	t.Helper()
	sharedOnce.Do(func() {
		sharedC, sharedErr = start()
		if sharedErr != nil && sharedC != nil {
			c := sharedC
			sharedC = nil
			var b strings.Builder
			for _, f := range c.logs {
				data, _ := os.ReadFile(f)
				fmt.Fprintf(&b, "--- %s\n%s", f, data)
			}
			sharedErr = fmt.Errorf("%w\n%s", sharedErr, b.String())
			c.Stop()
		}
	})
	if sharedErr != nil {
		t.Fatal("the cluster did not start:", sharedErr)
	}
	sharedC.watch(t)
	return sharedC
}

func stopShared() {
	if sharedC != nil {
		sharedC.Stop()
	}
}

// watch dumps what the daemons logged during t if t fails.
func (c *Cluster) watch(t testing.TB) {
	from := make(map[string]int64)
	for _, f := range c.logs {
		if fi, err := os.Stat(f); err == nil {
			from[f] = fi.Size()
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs(t, from)
		}
	})
}

// dumpLogs logs each daemon's log from the offset in from (or whole).
func (c *Cluster) dumpLogs(t testing.TB, from map[string]int64) {
	for _, f := range c.logs {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Logf("--- %s: %v", f, err)
			continue
		}
		off := from[f]
		if off > int64(len(data)) {
			off = 0
		}
		t.Logf("--- %s (from byte %d)\n%s", f, off, data[off:])
	}
}

// Missing names what the cluster needs and does not find, with packages.
func Missing() error {
	var miss []string
	for _, n := range needed {
		if _, err := exec.LookPath(n.prog); err != nil {
			miss = append(miss, fmt.Sprintf("%s (package %s)", n.prog, n.pkg))
		}
	}
	if len(miss) > 0 {
		return fmt.Errorf("not installed: %s", strings.Join(miss, ", "))
	}
	if os.Geteuid() != 0 {
		return errors.New("the Slurm cluster needs root (namespaces, bridge, SlurmUser=root)")
	}
	return nil
}

// start brings up munged, slurmctld and the nodes and waits until the
// nodes are idle. On error the returned cluster, if not nil, holds what
// was started: the caller dumps its logs and stops it.
func start() (*Cluster, error) {
	if err := Missing(); err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "stasis-slurm-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{root: root, Dir: filepath.Join(root, "shared")}
	if err := c.layout(); err != nil {
		return c, err
	}
	if err := c.network(); err != nil {
		return c, err
	}
	if err := c.startMunge(); err != nil {
		return c, err
	}
	if err := c.writeConf(); err != nil {
		return c, err
	}
	if err := c.startDaemons(); err != nil {
		return c, err
	}
	if err := c.waitIdle(30 * time.Second); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Cluster) path(p ...string) string {
	return filepath.Join(append([]string{c.root}, p...)...)
}

// layout makes the directories. The root must be enterable by uid 65534
// (the config, munge's socket and the shared directory are below it).
func (c *Cluster) layout() error {
	if err := os.Chmod(c.root, 0o755); err != nil {
		return err
	}
	dirs := []struct {
		p    string
		mode os.FileMode
	}{
		{c.path("etc"), 0o755},
		{c.path("munge"), 0o700},
		{c.path("run"), 0o755},
		{c.path("state"), 0o700},
		{c.path("log"), 0o755},
		{c.path("spool"), 0o755},
		{c.Dir, 0o777 | os.ModeSticky},
	}
	for _, d := range dirs {
		if err := os.Mkdir(d.p, d.mode); err != nil {
			return err
		}
		if err := os.Chmod(d.p, d.mode); err != nil { // past the umask
			return err
		}
	}
	for _, n := range Nodes {
		if err := os.Mkdir(c.path("spool", n), 0o755); err != nil {
			return err
		}
	}
	key := make([]byte, 1024)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	return os.WriteFile(c.path("munge", "munge.key"), key, 0o400)
}

// ipCmd runs ip(8) and returns its error with its output.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// network makes the bridge, a namespace per node and the veths, with
// names and a 10.a.b.0/24 subnet that no interface here uses.
func (c *Cluster) network() error {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return err
	}
	used := func(subnet string) bool {
		for _, a := range addrs {
			if strings.HasPrefix(a.String(), subnet+".") {
				return true
			}
		}
		return false
	}
	for i := 0; ; i++ {
		b := make([]byte, 3)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		c.subnet = fmt.Sprintf("10.%d.%d", 200+int(b[0])%50, b[1])
		c.id = hex.EncodeToString(b)
		if _, err := os.Stat("/run/netns/stasis-" + c.id + "-n1"); err == nil {
			continue
		}
		if !used(c.subnet) {
			break
		}
		if i > 20 {
			return errors.New("no free 10.x.y.0/24 subnet found")
		}
	}
	c.bridge = "stsb" + c.id // at most 15 bytes, as every name here
	if err := ipCmd("link", "add", c.bridge, "type", "bridge"); err != nil {
		c.bridge = ""
		return err
	}
	if err := ipCmd("addr", "add", c.subnet+".1/24", "dev", c.bridge); err != nil {
		return err
	}
	if err := ipCmd("link", "set", c.bridge, "up"); err != nil {
		return err
	}
	for i, n := range Nodes {
		ns := "stasis-" + c.id + "-" + n
		if err := ipCmd("netns", "add", ns); err != nil {
			return err
		}
		c.netns = append(c.netns, ns)
		veth := "stv" + c.id + n
		if err := ipCmd("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns); err != nil {
			return err
		}
		c.veths = append(c.veths, veth)
		steps := [][]string{
			{"link", "set", veth, "master", c.bridge, "up"},
			{"-n", ns, "addr", "add", c.nodeAddr(i) + "/24", "dev", "eth0"},
			{"-n", ns, "link", "set", "eth0", "up"},
			{"-n", ns, "link", "set", "lo", "up"},
		}
		for _, s := range steps {
			if err := ipCmd(s...); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Cluster) nodeAddr(i int) string { return fmt.Sprintf("%s.%d", c.subnet, i+2) }

func (c *Cluster) mungeSocket() string { return c.path("run", "munge.sock") }

func (c *Cluster) startMunge() error {
	m := c.path("munge")
	err := c.startDaemon("munged", "munged", "-F", "--force",
		"--socket="+c.mungeSocket(),
		"--key-file="+filepath.Join(m, "munge.key"),
		"--log-file="+filepath.Join(m, "munged.log"),
		"--pid-file="+filepath.Join(m, "munged.pid"),
		"--seed-file="+filepath.Join(m, "munged.seed"))
	if err != nil {
		return err
	}
	// Wait for the socket rather than for a log line.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if conn, err := net.Dial("unix", c.mungeSocket()); err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("munged: no socket after 10 s")
		}
		select {
		case <-c.daemons[len(c.daemons)-1].done:
			return errors.New("munged exited at start")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePort is a TCP port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) writeConf() error {
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	host, _, _ = strings.Cut(host, ".") // slurmctld compares the short name
	port, err := freePort()
	if err != nil {
		return err
	}
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	line("ClusterName=stasis%s", c.id)
	line("SlurmctldHost=%s(%s.1)", host, c.subnet)
	line("SlurmctldPort=%d", port)
	line("SlurmdPort=6818") // each slurmd in its own namespace
	line("AuthType=auth/munge")
	line("CredType=cred/munge")
	// cred_expire=5 (the least allowed): a requeued job waits 6 s, not 121.
	line("AuthInfo=socket=%s,cred_expire=5", c.mungeSocket())
	line("SlurmUser=root")
	line("SlurmdUser=root")
	line("StateSaveLocation=%s", c.path("state"))
	line("SlurmctldPidFile=%s", c.path("state", "slurmctld.pid"))
	line("SlurmdSpoolDir=%s", c.path("spool", "%n"))
	line("SlurmdPidFile=%s", c.path("spool", "%n", "slurmd.pid"))
	line("SlurmdLogFile=%s", c.path("log", "slurmd-%n.log"))
	line("SlurmctldDebug=debug")
	line("SlurmdDebug=debug")
	line("PlugStackConfig=%s", c.path("etc", "plugstack.conf"))
	line("MailProg=/bin/true")
	line("ProctrackType=proctrack/linuxproc")
	line("TaskPlugin=task/none")
	line("SelectType=select/cons_tres")
	line("SelectTypeParameters=CR_CPU")
	line("SlurmdParameters=config_overrides")
	line("ReturnToService=2")
	line("JobRequeue=1")
	line("MessageTimeout=5")
	line("SlurmdTimeout=30")
	line("KillWait=5")
	line("MinJobAge=30")
	line("SchedulerType=sched/builtin")
	line("SchedulerParameters=sched_interval=1")
	line("AccountingStorageType=accounting_storage/none")
	line("JobAcctGatherType=jobacct_gather/none")
	line("JobCompType=jobcomp/none")
	line("MpiDefault=none")
	for i, n := range Nodes {
		line("NodeName=%s NodeHostname=%s NodeAddr=%s CPUs=%d RealMemory=1000 State=UNKNOWN",
			n, n, c.nodeAddr(i), nodeCPUs)
	}
	line("PartitionName=test Nodes=%s Default=YES MaxTime=INFINITE State=UP", strings.Join(Nodes, ","))
	c.conf = c.path("etc", "slurm.conf")
	if err := os.WriteFile(c.path("etc", "plugstack.conf"), nil, 0o644); err != nil {
		return err
	}
	return os.WriteFile(c.conf, []byte(b.String()), 0o644)
}

func (c *Cluster) startDaemons() error {
	if err := c.startDaemon("slurmctld", "slurmctld", "-D", "-i"); err != nil {
		return err
	}
	for i, n := range Nodes {
		c.logs = append(c.logs, c.path("log", "slurmd-"+n+".log"))
		err := c.startDaemon("slurmd-"+n, "nsenter", "--net=/run/netns/"+c.netns[i], "--",
			"unshare", "--uts", "--",
			"/bin/sh", "-c", `hostname "$0" && exec slurmd -D -N "$0"`, n)
		if err != nil {
			return err
		}
	}
	return nil
}

// startDaemon starts a daemon in the foreground, its output in log/name.
func (c *Cluster) startDaemon(name, prog string, args ...string) error {
	logf := c.path("log", name+".stderr")
	out, err := os.Create(logf)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(prog, args...)
	cmd.Env = c.Env()
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Dir = c.root
	// Its own process group: a ^C to the test does not reach it first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	c.logs = append(c.logs, logf)
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	c.daemons = append(c.daemons, d)
	return nil
}

// Env is the environment for Slurm's commands: ours without SLURM_*
// variables (a test run inside a job must not reach that job's cluster),
// with SLURM_CONF naming this cluster's configuration.
func (c *Cluster) Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SLURM_") || strings.HasPrefix(k, "SBATCH_") ||
			strings.HasPrefix(k, "SQUEUE_") || strings.HasPrefix(k, "SINFO_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "SLURM_CONF="+c.path("etc", "slurm.conf"))
}

// Run runs a Slurm client command in the shared directory and returns
// its standard output; the error carries its standard error.
func (c *Cluster) Run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = c.Env()
	cmd.Dir = c.Dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Sbatch writes script to a file in Dir and submits it with the extra
// arguments, from Dir (the job's default working directory), and returns
// the job id.
func (c *Cluster) Sbatch(t testing.TB, script string, extraArgs ...string) string {
	t.Helper()
	c.mu.Lock()
	c.scripts++
	f := filepath.Join(c.Dir, fmt.Sprintf("script-%d.sh", c.scripts))
	c.mu.Unlock()
	if err := os.WriteFile(f, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--parsable"}, extraArgs...)
	out, err := c.Run("sbatch", append(args, f)...)
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out), ";") // id;cluster
	if _, err := strconv.Atoi(id); err != nil {
		t.Fatalf("sbatch printed %q, not a job id", out)
	}
	return id
}

// ErrNoJob is returned by Job for a job slurmctld does not know (never
// submitted, or purged MinJobAge after it ended).
var ErrNoJob = errors.New("no such job")

// Job is `scontrol show job -o id` as a map: JobState, Reason, Restarts,
// NodeList, BatchHost, ExitCode, StartTime...
func (c *Cluster) Job(id string) (map[string]string, error) {
	out, err := c.Run("scontrol", "show", "job", "-o", id)
	if err != nil {
		if strings.Contains(err.Error(), "Invalid job id") {
			return nil, fmt.Errorf("job %s: %w", id, ErrNoJob)
		}
		return nil, err
	}
	return parseFields(strings.TrimSpace(out)), nil
}

// parseFields splits "K=V K=V" where a value may hold spaces: a word
// without "=" belongs to the value before it.
func parseFields(line string) map[string]string {
	m := make(map[string]string)
	last := ""
	for _, w := range strings.Fields(line) {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			if last != "" {
				m[last] += " " + w
			}
			continue
		}
		m[k] = v
		last = k
	}
	return m
}

// WaitState waits until job id is in one of states (JobState, e.g.
// "RUNNING") and returns the job; the test fails after timeout.
func (c *Cluster) WaitState(t testing.TB, id string, timeout time.Duration, states ...string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var job map[string]string
	var err error
	for {
		job, err = c.Job(id)
		if err == nil {
			for _, s := range states {
				if job["JobState"] == s {
					return job
				}
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("job %s not %v after %v: %v", id, states, timeout, err)
	}
	t.Fatalf("job %s not %v after %v: JobState=%s Reason=%s (%v)", id, states, timeout, job["JobState"], job["Reason"], job)
	return nil
}

// Node is `scontrol show node -o name` as a map (State, Reason...).
func (c *Cluster) Node(name string) (map[string]string, error) {
	out, err := c.Run("scontrol", "show", "node", "-o", name)
	if err != nil {
		return nil, err
	}
	return parseFields(strings.TrimSpace(out)), nil
}

// Drain drains node: no new job starts there.
func (c *Cluster) Drain(t testing.TB, node string) {
	t.Helper()
	if _, err := c.Run("scontrol", "update", "nodename="+node, "state=drain", "reason=test"); err != nil {
		t.Fatal(err)
	}
}

// Resume undoes Drain.
func (c *Cluster) Resume(t testing.TB, node string) {
	t.Helper()
	if _, err := c.Run("scontrol", "update", "nodename="+node, "state=resume"); err != nil {
		t.Fatal(err)
	}
}

// waitIdle waits until every node is idle.
func (c *Cluster) waitIdle(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := c.Run("sinfo", "-h", "-N", "-o", "%N %T")
		idle := 0
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[1] == "idle" {
				idle++
			}
		}
		if err == nil && idle == len(Nodes) {
			return nil
		}
		for _, d := range c.daemons {
			select {
			case <-d.done:
				return fmt.Errorf("%s exited: %v", d.name, d.err)
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nodes not idle after %v: %q %v", timeout, out, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ReadFile is a file of Dir, "" if it is not there yet.
func (c *Cluster) ReadFile(name string) string {
	data, _ := os.ReadFile(filepath.Join(c.Dir, name))
	return string(data)
}

// WaitFile waits until the file name in Dir holds want and returns it.
func (c *Cluster) WaitFile(t testing.TB, name, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := c.ReadFile(name)
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q after %v; it holds:\n%s", name, want, timeout, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the daemons (slurmd first), kills whatever is left in the
// nodes' network namespaces (slurmstepd, jobs), and removes the network
// and the directory. It can be called more than once.
func (c *Cluster) Stop() {
	if c.root == "" {
		return
	}
	// slurmd, then slurmctld, then munged: the reverse of the start.
	for i := len(c.daemons) - 1; i >= 0; i-- {
		c.daemons[i].stop()
	}
	c.daemons = nil
	for _, ns := range c.netns {
		killNetns(ns)
	}
	for _, ns := range c.netns {
		ipCmd("netns", "del", ns)
	}
	c.netns = nil
	if c.bridge != "" {
		ipCmd("link", "del", c.bridge) // the veths went with their namespaces
		c.bridge = ""
	}
	os.RemoveAll(c.root)
	c.root = ""
}

func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return
	case <-time.After(10 * time.Second):
	}
	d.cmd.Process.Kill()
	<-d.done
}

// killNetns kills every process in the network namespace ns and waits
// until they are gone (pid 1 reaps orphans here about 1.5 s late).
func killNetns(ns string) {
	want, err := os.Stat("/run/netns/" + ns)
	if err != nil {
		return
	}
	wantIno := want.Sys().(*syscall.Stat_t).Ino
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := netnsPids(wantIno)
		if len(pids) == 0 || time.Now().After(deadline) {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// netnsPids are the live (not zombie) processes whose network namespace
// has inode ino.
func netnsPids(ino uint64) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) != nil || st.Ino != ino {
			continue
		}
		if procState(pid) == "Z" {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func procState(pid int) string {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "State:"); ok {
			return strings.Fields(v)[0]
		}
	}
	return ""
}
