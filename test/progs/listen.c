/* listen: a server on every kind of socket stasis re-creates. It listens
 * on TCP over IPv4 (SO_REUSEADDR, TCP_NODELAY, SO_KEEPALIVE, a receive
 * buffer, backlog 7) and IPv6 (IPV6_V6ONLY, SO_REUSEADDR), on a unix stream socket
 * bound to argv[1] (made mode 0640) and on the abstract name argv[2], and
 * receives on a UDP socket and a unix datagram socket bound to argv[3];
 * the listeners are non-blocking. It prints "ready tcp4=P tcp6=P udp=P"
 * with the ports the kernel chose. Each request (a line on a connection,
 * a datagram) gets "served N ok", N counting every request it ever
 * served, or "served N bad WHAT" when a socket of its no longer has the
 * option or mode it set: the program checks its own sockets every time.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum { TCP4, TCP6, UNIXS, ABSTRACT, UDP, UNIXD, N };

static int fds[N];
static int rcvbuf;
static long served;
static const char *path, *dpath;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int opt(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof v;
	if (getsockopt(fd, level, name, &v, &l) < 0)
		return -1;
	return v;
}

static void set(int fd, int level, int name, int v)
{
	if (setsockopt(fd, level, name, &v, sizeof v) < 0)
		die("setsockopt");
}

static int unixsock(int type, const char *name, int abstract)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	socklen_t len;
	int fd = socket(AF_UNIX, type, 0);
	if (fd < 0)
		die("socket");
	if (abstract) {
		strcpy(a.sun_path + 1, name);
		len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
	} else {
		unlink(name);
		strcpy(a.sun_path, name);
		len = sizeof a;
	}
	if (bind(fd, (struct sockaddr *)&a, len) < 0)
		die("bind unix");
	return fd;
}

static int port(int fd)
{
	struct sockaddr_storage s;
	socklen_t l = sizeof s;
	getsockname(fd, (struct sockaddr *)&s, &l);
	return ntohs(((struct sockaddr_in *)&s)->sin_port);
}

/* check says what, if anything, is no longer as the program set it. */
static const char *check(void)
{
	struct stat st;
	int i;
	for (i = 0; i < N; i++)
		if (i != UDP && i != UNIXD && !(fcntl(fds[i], F_GETFL) & O_NONBLOCK))
			return "nonblock";
	if (opt(fds[TCP4], SOL_SOCKET, SO_REUSEADDR) != 1)
		return "reuseaddr";
	if (opt(fds[TCP4], IPPROTO_TCP, TCP_NODELAY) != 1)
		return "nodelay";
	if (opt(fds[TCP4], SOL_SOCKET, SO_KEEPALIVE) != 1)
		return "keepalive";
	if (opt(fds[TCP4], SOL_SOCKET, SO_RCVBUF) != rcvbuf)
		return "rcvbuf";
	if (opt(fds[TCP6], IPPROTO_IPV6, IPV6_V6ONLY) != 1)
		return "v6only";
	if (opt(fds[UNIXS], SOL_SOCKET, SO_ACCEPTCONN) != 1)
		return "unix listening";
	if (stat(path, &st) < 0 || (st.st_mode & 07777) != 0640 || !S_ISSOCK(st.st_mode))
		return "unix mode";
	if (opt(fds[UDP], SOL_SOCKET, SO_BROADCAST) != 1)
		return "broadcast";
	return NULL;
}

static void answer(char *buf, size_t n)
{
	const char *bad = check();
	served++;
	if (bad)
		snprintf(buf, n, "served %ld bad %s\n", served, bad);
	else
		snprintf(buf, n, "served %ld ok\n", served);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct pollfd p[N];
	int i;

	if (argc != 4) {
		fprintf(stderr, "usage: listen PATH ABSTRACT DGRAMPATH\n");
		return 2;
	}
	path = argv[1], dpath = argv[3];
	setvbuf(stdout, NULL, _IOLBF, 0);

	fds[TCP4] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	set(fds[TCP4], SOL_SOCKET, SO_REUSEADDR, 1);
	set(fds[TCP4], IPPROTO_TCP, TCP_NODELAY, 1);
	set(fds[TCP4], SOL_SOCKET, SO_KEEPALIVE, 1);
	set(fds[TCP4], SOL_SOCKET, SO_RCVBUF, 48 * 1024);
	rcvbuf = opt(fds[TCP4], SOL_SOCKET, SO_RCVBUF);
	if (bind(fds[TCP4], (struct sockaddr *)&a4, sizeof a4) < 0 || listen(fds[TCP4], 7) < 0)
		die("tcp4");
	fds[TCP6] = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
	set(fds[TCP6], IPPROTO_IPV6, IPV6_V6ONLY, 1);
	set(fds[TCP6], SOL_SOCKET, SO_REUSEADDR, 1);
	if (bind(fds[TCP6], (struct sockaddr *)&a6, sizeof a6) < 0 || listen(fds[TCP6], 16) < 0)
		die("tcp6");
	fds[UNIXS] = unixsock(SOCK_STREAM | SOCK_NONBLOCK, path, 0);
	if (chmod(path, 0640) < 0 || listen(fds[UNIXS], 5) < 0)
		die("unix");
	fds[ABSTRACT] = unixsock(SOCK_SEQPACKET | SOCK_NONBLOCK, argv[2], 1);
	if (listen(fds[ABSTRACT], 3) < 0)
		die("abstract");
	fds[UDP] = socket(AF_INET, SOCK_DGRAM, 0);
	set(fds[UDP], SOL_SOCKET, SO_BROADCAST, 1);
	if (bind(fds[UDP], (struct sockaddr *)&a4, sizeof a4) < 0)
		die("udp");
	fds[UNIXD] = unixsock(SOCK_DGRAM, dpath, 0);
	printf("ready tcp4=%d tcp6=%d udp=%d\n", port(fds[TCP4]), port(fds[TCP6]), port(fds[UDP]));

	for (i = 0; i < N; i++)
		p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	for (;;) {
		if (poll(p, N, -1) < 0)
			continue;
		for (i = 0; i < N; i++) {
			char in[256], out[128];
			if (!(p[i].revents & POLLIN))
				continue;
			if (i == UDP || i == UNIXD) {
				struct sockaddr_storage from;
				socklen_t fl = sizeof from;
				ssize_t n = recvfrom(fds[i], in, sizeof in, 0, (struct sockaddr *)&from, &fl);
				if (n < 0)
					continue;
				answer(out, sizeof out);
				sendto(fds[i], out, strlen(out), 0, (struct sockaddr *)&from, fl);
				continue;
			}
			int c = accept(fds[i], NULL, NULL);
			if (c < 0)
				continue;
			if (read(c, in, sizeof in) > 0) {
				answer(out, sizeof out);
				write(c, out, strlen(out));
			}
			close(c);
		}
	}
}
