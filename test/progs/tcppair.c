/* tcppair: a server and its client, a forked child, over TCP on
 * loopback. Each end writes an endless stream of 64-bit numbers counting
 * from 1 as fast as the other reads, and reads the other's stream,
 * checking every number is the one after the last: a byte lost, doubled
 * or reordered anywhere (in a send queue, a receive queue, in flight)
 * shows. The server prints "tick N ok R" every 20 ms, R counting the
 * numbers it has received; on a wrong number either end prints "BAD ..."
 * and exits 1. Both queues of both ends are full most of the time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct stream {
	int fd;
	uint64_t out;            /* the next number to write */
	unsigned char pend[4096]; /* written partly */
	size_t poff, plen;
	uint64_t in;             /* the last number read */
	unsigned char carry[8];  /* a number read partly */
	size_t clen;
};

static const char *who;

static void bad(const char *what, uint64_t got, uint64_t want)
{
	printf("BAD %s %s: got %llu, want %llu\n", who, what, (unsigned long long)got, (unsigned long long)want);
	fprintf(stderr, "BAD %s %s: got %llu, want %llu\n", who, what, (unsigned long long)got, (unsigned long long)want);
	exit(1);
}

static void pump(struct stream *s, short revents)
{
	if (revents & POLLOUT) {
		if (s->poff == s->plen) {
			for (size_t i = 0; i < sizeof s->pend; i += 8) {
				uint64_t v = ++s->out;
				memcpy(s->pend + i, &v, 8);
			}
			s->poff = 0, s->plen = sizeof s->pend;
		}
		ssize_t n = write(s->fd, s->pend + s->poff, s->plen - s->poff);
		if (n > 0)
			s->poff += n;
		else if (n < 0 && errno != EAGAIN)
			bad("write", errno, 0);
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		unsigned char buf[65536];
		ssize_t n = read(s->fd, buf, sizeof buf);
		if (n == 0)
			bad("read: end of stream", 0, s->in + 1);
		if (n < 0) {
			if (errno != EAGAIN)
				bad("read", errno, 0);
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			s->carry[s->clen++] = buf[i];
			if (s->clen == 8) {
				uint64_t v;
				memcpy(&v, s->carry, 8);
				if (v != s->in + 1)
					bad("stream", v, s->in + 1);
				s->in = v, s->clen = 0;
			}
		}
	}
}

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

int main(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	struct stream s = {0};
	int l = socket(AF_INET, SOCK_STREAM, 0);
	long long next;
	long tick = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &al) < 0) {
		perror("listen");
		return 1;
	}
	if (fork() == 0) {
		close(l);
		who = "client";
		s.fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(s.fd, (struct sockaddr *)&a, sizeof a) < 0) {
			perror("connect");
			return 1;
		}
	} else {
		who = "server";
		s.fd = accept(l, NULL, NULL);
		close(l);
		if (s.fd < 0) {
			perror("accept");
			return 1;
		}
	}
	fcntl(s.fd, F_SETFL, O_NONBLOCK);
	next = now_ms() + 20;
	for (;;) {
		struct pollfd p = {.fd = s.fd, .events = POLLIN | POLLOUT};
		int wait = (int)(next - now_ms());
		if (poll(&p, 1, wait > 0 ? wait : 0) > 0)
			pump(&s, p.revents);
		if (who[0] == 's' && now_ms() >= next) {
			printf("tick %ld ok %llu\n", ++tick, (unsigned long long)s.in);
			next += 20;
		}
	}
}
