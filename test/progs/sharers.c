/*
 * sharers: a parent that fills a large private region with pseudo-random
 * data, then forks workers that only read it, so the pages stay shared
 * copy-on-write between all of them (what page deduplication is for).
 *
 *   sharers [MIB [TICKS [NW]]]
 *
 * The parent fills MIB MiB (default 64) and forks NW workers (default 4).
 * Each worker checksums the region, prints "ready I" on stderr, waits TICKS times 50
 * ms (default 60), checksums it again and writes "I FIRST SECOND" to a pipe
 * back to the parent, then exits 0. The parent prints "tick N" every 50 ms
 * until every worker has reported, reaps them, checksums the region itself
 * and prints "result ok SUM" if every sum it got equals its own (and every
 * worker exited 0), or "result BAD ..." otherwise, and exits 0 or 1.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXW 16

static uint64_t checksum(const uint64_t *p, size_t n)
{
	uint64_t s = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		s = (s ^ p[i]) * 1099511628211ULL;
	return s;
}

static void nap(long ms)
{
	struct timespec ts = { 0, ms * 1000 * 1000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 64;
	long ticks = argc > 2 ? atol(argv[2]) : 60;
	int nw = argc > 3 ? atoi(argv[3]) : 4;
	size_t n = (size_t)mib << 17; /* 8-byte words */
	pid_t pids[MAXW];
	int p[2];

	if (nw < 1 || nw > MAXW || mib < 1) {
		fprintf(stderr, "sharers: bad arguments\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	uint64_t *buf = mmap(NULL, n * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || pipe(p) != 0) {
		perror("sharers");
		return 1;
	}
	uint64_t x = 88172645463325252ULL;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = x;
	}
	for (int i = 0; i < nw; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("fork");
			return 1;
		}
		if (pids[i] == 0) {
			close(p[0]);
			uint64_t first = checksum(buf, n);
			fprintf(stderr, "ready %d\n", i);
			for (long t = 0; t < ticks; t++)
				nap(50);
			uint64_t second = checksum(buf, n);
			char line[80];
			int len = snprintf(line, sizeof line, "%d %llu %llu\n", i, (unsigned long long)first,
					   (unsigned long long)second);
			if (write(p[1], line, len) != len)
				_exit(3);
			_exit(0);
		}
	}
	close(p[1]);
	FILE *in = fdopen(p[0], "r");
	uint64_t sums[MAXW][2];
	int got = 0, seen[MAXW] = { 0 };
	char line[80];
	long tick = 0;
	while (got < nw) {
		struct pollfd pf = { p[0], POLLIN, 0 };
		int ready = poll(&pf, 1, 50);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready == 0) {
			printf("tick %ld\n", ++tick);
			continue;
		}
		if (fgets(line, sizeof line, in) == NULL) {
			printf("result BAD: the pipe closed after %d reports\n", got);
			return 1;
		}
		int i;
		unsigned long long a, b;
		if (sscanf(line, "%d %llu %llu", &i, &a, &b) != 3 || i < 0 || i >= nw || seen[i]) {
			printf("result BAD: report %s", line);
			return 1;
		}
		seen[i] = 1;
		sums[i][0] = a;
		sums[i][1] = b;
		got++;
	}
	int bad = 0;
	for (int i = 0; i < nw; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			printf("result BAD: worker %d ended with status %#x\n", i, st);
			bad = 1;
		}
	}
	uint64_t mine = checksum(buf, n);
	for (int i = 0; i < nw; i++) {
		if (sums[i][0] != mine || sums[i][1] != mine) {
			printf("result BAD: worker %d: sums %llu %llu, the parent's %llu\n", i,
			       (unsigned long long)sums[i][0], (unsigned long long)sums[i][1], (unsigned long long)mine);
			bad = 1;
		}
	}
	if (bad)
		return 1;
	printf("result ok %llu\n", (unsigned long long)mine);
	return 0;
}
