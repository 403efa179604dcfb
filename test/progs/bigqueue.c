/* bigqueue BYTES: a server and its client, a forked child, over TCP on
 * loopback, with queues far larger than SO_RCVBUF and SO_SNDBUF grant.
 * Both ends force their buffers to BYTES (SO_RCVBUFFORCE,
 * SO_SNDBUFFORCE: root only); the client writes 64-bit numbers counting
 * from 1 until the server, which does not read, stops taking them for
 * half a second, and prints "wrote N". The server prints "server PID"
 * and waits for SIGUSR1, then reads until nothing comes for half a
 * second, checking every number is the one after the last, and prints
 * "read N" (or "BAD ..." and exits 1).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void force(int fd, int bytes)
{
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) < 0) {
		perror("SO_RCVBUFFORCE/SO_SNDBUFFORCE");
		exit(1);
	}
}

static void client(int fd)
{
	unsigned char buf[65536];
	uint64_t next = 1;
	size_t off = sizeof buf, len = sizeof buf;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (off == len) {
			for (size_t i = 0; i < len; i += 8, next++)
				memcpy(buf + i, &next, 8);
			off = 0;
		}
		if (poll(&p, 1, 500) == 0)
			break;
		ssize_t n = write(fd, buf + off, len - off);
		if (n < 0 && errno != EAGAIN) {
			perror("write");
			exit(1);
		}
		if (n > 0)
			off += n;
	}
	/* all but the last len-off bytes of numbers 1 to next-1 went; the
	 * server can read only whole numbers */
	printf("wrote %llu\n", (unsigned long long)(next - 1 - (len - off + 7) / 8));
	for (;;)
		pause();
}

static void server(int fd)
{
	unsigned char buf[65536], carry[8];
	size_t clen = 0;
	uint64_t last = 0;
	sigset_t s;
	int sig;

	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigprocmask(SIG_BLOCK, &s, NULL);
	printf("server %d\n", (int)getpid());
	sigwait(&s, &sig);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 500) == 0)
			break;
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0) {
			if (n < 0 && errno == EAGAIN)
				continue;
			printf("BAD read: %s\n", n == 0 ? "end of stream" : strerror(errno));
			exit(1);
		}
		for (ssize_t i = 0; i < n; i++) {
			carry[clen++] = buf[i];
			if (clen == 8) {
				uint64_t v;
				memcpy(&v, carry, 8);
				if (v != last + 1) {
					printf("BAD stream: got %llu, want %llu\n", (unsigned long long)v, (unsigned long long)last + 1);
					exit(1);
				}
				last = v, clen = 0;
			}
		}
	}
	printf("read %llu\n", (unsigned long long)last);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int bytes = argc > 1 ? atoi(argv[1]) : 0;
	int l = socket(AF_INET, SOCK_STREAM, 0);

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (bytes <= 0) {
		fprintf(stderr, "usage: bigqueue BYTES\n");
		return 2;
	}
	if (l < 0)
		return perror("socket"), 1;
	force(l, bytes);
	if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &al) < 0)
		return perror("listen"), 1;
	if (fork() == 0) {
		close(l);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		force(fd, bytes);
		if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
			return perror("connect"), 1;
		client(fd);
	}
	int fd = accept(l, NULL, NULL);
	close(l);
	if (fd < 0)
		return perror("accept"), 1;
	server(fd);
}
