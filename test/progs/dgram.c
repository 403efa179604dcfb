/* dgram: syslog-like unix datagram servers and their clients, in two
 * processes. The parent binds a server to the path argv[1] and one to the
 * abstract name argv[2]; its child connects two clients to each: one
 * unbound, one bound to a name of its own (argv[3]: a path; argv[4]: an
 * abstract name, or "auto": one the kernel picks, autobind, which the
 * child passes on in shared memory), to which the server replies. Every socket is
 * non-blocking. The unbound clients send a datagram every two
 * milliseconds or so, when the servers' queues take it
 * (net.unix.max_dgram_qlen), each fifth followed by an empty one; the
 * bound ones keep up to twelve requests unanswered and read a reply only
 * when three or more wait (the servers count theirs in shared memory);
 * the servers read one datagram each every
 * three milliseconds or so, and answer the bound clients at once: so
 * datagrams wait on the servers and replies on the bound clients all the
 * time.
 *
 * Datagram i of a stream is "TAG i " and i%29 letters (TAG: Pu, Pn, Au,
 * An; a reply to request i of Pn is "rPn i " and i*7%31 letters). Each
 * end hashes what it receives of each stream, in order (FNV-1a 64 over
 * each datagram's length mod 256, then its bytes), and checks the
 * sender's address as recvfrom gives it (none for an unbound client) and
 * each number; the child keeps its replies' counts and hashes in shared
 * memory. Every 15 rounds (50 ms or so) the parent prints
 *   tick N P u=C/H n=C/H r=C/H A u=C/H n=C/H r=C/H
 * (count/hash of what server P got from its unbound and bound client,
 * and of the replies its bound client got; the same for A), which the
 * test recomputes; anything amiss prints a line starting "BAD" and exits.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct stream {
	long n;
	uint64_t h;
};

/* The child's replies, read by the parent: a sequence lock per server. */
struct shared {
	volatile long ver[2];
	struct stream r[2];
	volatile long replied[2]; /* replies each server sent */
	char autoname[16];        /* "@" and the autobound name */
};

static struct shared *sh;

static void bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("BAD ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	exit(1);
}

static uint64_t hash(uint64_t h, const char *b, size_t n)
{
	h = (h ^ (unsigned char)n) * 1099511628211ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)b[i]) * 1099511628211ULL;
	return h;
}

/* payload writes datagram i of stream tag ("" for an unbound client's
 * empty one) and returns its length. */
static size_t payload(char *b, const char *tag, long i, int letters)
{
	size_t n = sprintf(b, "%s %ld ", tag, i);
	for (int k = 0; k < letters; k++)
		b[n++] = 'a' + (i + k) % 26;
	return n;
}

static socklen_t addr(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	if (name[0] == '@') {
		memcpy(a->sun_path + 1, name + 1, strlen(name + 1));
		return offsetof(struct sockaddr_un, sun_path) + strlen(name);
	}
	strcpy(a->sun_path, name);
	return offsetof(struct sockaddr_un, sun_path) + strlen(name) + 1;
}

static int sock(const char *bindto)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		bad("socket: errno %d", errno);
	if (bindto) {
		struct sockaddr_un a;
		socklen_t l = addr(&a, bindto);
		if (bindto[0] == '/')
			unlink(bindto);
		if (bind(fd, (struct sockaddr *)&a, l) < 0)
			bad("bind %s: errno %d", bindto, errno);
	}
	return fd;
}

static void msleep(int ms)
{
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, 0);
}

/* A server: its socket, its bound client's name, what it got. */
struct server {
	const char *tag, *client;
	int fd;
	struct stream u, n;
	int uempty;           /* an empty datagram is due from the unbound client */
	long replied, repl_n; /* replies sent; requests from the bound client got */
};

static struct server srv[2];

static void serve(struct server *s)
{
	char b[256], tag[8];
	struct sockaddr_un from;
	socklen_t fl = sizeof from;
	/* The reply to the last request first, if the client's queue was full. */
	while (s->replied < s->repl_n) {
		char r[256];
		struct sockaddr_un a;
		snprintf(tag, sizeof tag, "r%sn", s->tag);
		size_t n = payload(r, tag, s->replied + 1, (s->replied + 1) * 7 % 31);
		if (sendto(s->fd, r, n, 0, (struct sockaddr *)&a, addr(&a, s->client)) < 0) {
			if (errno == EAGAIN)
				return;
			bad("%s: sendto: errno %d", s->tag, errno);
		}
		s->replied++;
		sh->replied[s == srv ? 0 : 1] = s->replied;
	}
	ssize_t n = recvfrom(s->fd, b, sizeof b, 0, (struct sockaddr *)&from, &fl);
	if (n < 0) {
		if (errno == EAGAIN)
			return;
		bad("%s: recvfrom: errno %d", s->tag, errno);
	}
	char want[256];
	size_t wn;
	struct stream *st;
	if (fl == 0) {
		st = &s->u;
		snprintf(tag, sizeof tag, "%su", s->tag);
		if (s->uempty) {
			wn = 0;
		} else {
			wn = payload(want, tag, st->n - st->n / 6 + 1, (st->n - st->n / 6 + 1) % 29);
		}
	} else {
		char name[sizeof from.sun_path + 2] = "@";
		size_t l = fl - offsetof(struct sockaddr_un, sun_path);
		if (from.sun_path[0] == 0)
			memcpy(name + 1, from.sun_path + 1, l - 1), name[l] = 0;
		else
			strcpy(name, from.sun_path);
		if (strcmp(name, s->client) != 0)
			bad("%s: a datagram from %s", s->tag, name);
		st = &s->n;
		snprintf(tag, sizeof tag, "%sn", s->tag);
		wn = payload(want, tag, st->n + 1, (st->n + 1) % 29);
		s->repl_n++;
	}
	if ((size_t)n != wn || memcmp(b, want, wn) != 0) {
		b[n] = 0;
		bad("%s: got \"%s\" (%zd bytes), datagram %ld of its stream", s->tag, b, n, st->n + 1);
	}
	st->n++;
	st->h = hash(st->h, b, n);
	if (st == &s->u)
		/* stream of Pu: 1 2 3 4 5 "" 6 7 8 9 10 "" ...: the sixth of each six is empty */
		s->uempty = st->n % 6 == 5;
}

static struct stream replies(int i)
{
	struct stream r;
	long v;
	do {
		v = sh->ver[i];
		__sync_synchronize();
		r = sh->r[i];
		__sync_synchronize();
	} while ((v & 1) || v != sh->ver[i]);
	return r;
}

/* A client: its socket, its stream. */
struct client {
	const char *tag;
	int fd, bound, idx;
	long sent, got; /* datagrams sent (counting empty ones), replies got */
};

static void client(struct client *c, long round)
{
	char b[256];
	size_t n = 0;
	if (c->bound ? c->sent - c->got < 12 : round % 2 == 0) {
		if (c->bound) {
			n = payload(b, c->tag, c->sent + 1, (c->sent + 1) % 29);
		} else if (c->sent % 6 != 5) {
			long i = c->sent - c->sent / 6 + 1;
			n = payload(b, c->tag, i, i % 29);
		}
		if (send(c->fd, b, n, 0) >= 0)
			c->sent++;
		else if (errno != EAGAIN)
			bad("%s: send: errno %d", c->tag, errno);
	}
	if (!c->bound || sh->replied[c->idx] - c->got < 3)
		return;
	/* Three replies waiting or more: read one. */
	char tag[8];
	snprintf(tag, sizeof tag, "r%s", c->tag);
	ssize_t got = recv(c->fd, b, sizeof b, 0);
	if (got < 0) {
		if (errno == EAGAIN)
			return;
		bad("%s: recv: errno %d", c->tag, errno);
	}
	char want[256];
	size_t wn = payload(want, tag, c->got + 1, (c->got + 1) * 7 % 31);
	if ((size_t)got != wn || memcmp(b, want, wn) != 0) {
		b[got] = 0;
		bad("%s: reply \"%s\", reply %ld", c->tag, b, c->got + 1);
	}
	c->got++;
	sh->ver[c->idx]++;
	__sync_synchronize();
	sh->r[c->idx].n = c->got;
	sh->r[c->idx].h = hash(sh->r[c->idx].h, b, got);
	__sync_synchronize();
	sh->ver[c->idx]++;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: dgram PATH @ABSTRACT CLIENT-PATH @CLIENT-ABSTRACT|auto\n");
		return 2;
	}
	setvbuf(stdout, 0, _IOLBF, 0);
	sh = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		bad("mmap: errno %d", errno);
	srv[0] = (struct server){"P", argv[3]};
	int autobind = strcmp(argv[4], "auto") == 0;
	srv[1] = (struct server){"A", autobind ? sh->autoname : argv[4]};
	srv[0].fd = sock(argv[1]);
	srv[1].fd = sock(argv[2]);
	pid_t kid = fork();
	if (kid < 0)
		bad("fork: errno %d", errno);
	if (kid == 0) {
		close(srv[0].fd);
		close(srv[1].fd);
		struct client cs[4] = {{"Pu"}, {"Pn", -1, 1, 0}, {"Au"}, {"An", -1, 1, 1}};
		for (int i = 0; i < 4; i++) {
			const char *to = argv[1 + i / 2];
			struct sockaddr_un a;
			if (i == 3 && autobind) {
				struct sockaddr_un me = {AF_UNIX};
				socklen_t l = sizeof(sa_family_t);
				cs[i].fd = sock(0);
				if (bind(cs[i].fd, (struct sockaddr *)&me, l) < 0)
					bad("autobind: errno %d", errno);
				l = sizeof me;
				if (getsockname(cs[i].fd, (struct sockaddr *)&me, &l) < 0 || l != offsetof(struct sockaddr_un, sun_path) + 6)
					bad("getsockname: errno %d, length %d", errno, (int)l);
				sh->autoname[0] = '@';
				memcpy(sh->autoname + 1, me.sun_path + 1, 5);
				__sync_synchronize();
			} else {
				cs[i].fd = sock(cs[i].bound ? argv[3 + i / 2] : 0);
			}
			if (connect(cs[i].fd, (struct sockaddr *)&a, addr(&a, to)) < 0)
				bad("connect to %s: errno %d", to, errno);
		}
		for (long round = 0;; round++) {
			for (int i = 0; i < 4; i++)
				client(&cs[i], round);
			msleep(1);
		}
	}
	for (long tick = 1, round = 1;; round++) {
		serve(&srv[0]);
		serve(&srv[1]);
		msleep(3);
		if (round % 15 != 0)
			continue;
		struct stream r0 = replies(0), r1 = replies(1);
		printf("tick %ld P u=%ld/%016llx n=%ld/%016llx r=%ld/%016llx A u=%ld/%016llx n=%ld/%016llx r=%ld/%016llx\n", tick++,
		       srv[0].u.n, (unsigned long long)srv[0].u.h, srv[0].n.n, (unsigned long long)srv[0].n.h, r0.n, (unsigned long long)r0.h,
		       srv[1].u.n, (unsigned long long)srv[1].u.h, srv[1].n.n, (unsigned long long)srv[1].n.h, r1.n, (unsigned long long)r1.h);
	}
}
