/*
 * sockpair: a parent and a forked child talk over two unix socket pairs,
 * one SOCK_STREAM and one SOCK_SEQPACKET. The parent keeps five requests
 * in flight on each: the child answers one of each every 50 ms (n -> 2n on
 * the stream, n -> n+1 on the packets), so requests always wait in the
 * child's queues. The parent checks every answer and prints "tick N" for
 * request N; a wrong or lost answer ends it with "BAD ..." and status 1.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WIN 5

static int full(int fd, void *b, size_t n, int rd)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = rd ? read(fd, (char *)b + done, n - done) : write(fd, (char *)b + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += r;
	}
	return 0;
}

int main(void)
{
	int st[2], sq[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq)) {
		perror("socketpair");
		return 1;
	}
	if (fork() == 0) {
		close(st[0]);
		close(sq[0]);
		for (;;) {
			int64_t n, m;
			if (full(st[1], &n, 8, 1))
				_exit(0);
			struct timespec ts = { 0, 50 * 1000 * 1000 };
			while (nanosleep(&ts, &ts) && errno == EINTR)
				;
			n *= 2;
			ssize_t r;
			while ((r = recv(sq[1], &m, 8, 0)) < 0 && errno == EINTR)
				;
			if (r != 8)
				_exit(2);
			m += 1;
			if (full(st[1], &n, 8, 0) || send(sq[1], &m, 8, 0) != 8)
				_exit(3);
		}
	}
	close(st[1]);
	close(sq[1]);
	for (int64_t i = 1; i <= WIN; i++)
		if (full(st[0], &i, 8, 0) || send(sq[0], &i, 8, 0) != 8)
			return 1;
	for (int64_t i = 1;; i++) {
		int64_t a, b;
		ssize_t r;
		if (full(st[0], &a, 8, 1))
			return printf("BAD stream ended at %ld\n", (long)i), 1;
		while ((r = recv(sq[0], &b, 8, 0)) < 0 && errno == EINTR)
			;
		if (r != 8)
			return printf("BAD packet ended at %ld\n", (long)i), 1;
		if (a != 2 * i || b != i + 1)
			return printf("BAD answers %ld %ld to %ld\n", (long)a, (long)b, (long)i), 1;
		printf("tick %ld\n", (long)i);
		fflush(stdout);
		int64_t next = i + WIN;
		if (full(st[0], &next, 8, 0) || send(sq[0], &next, 8, 0) != 8)
			return 1;
	}
}
