/*
 * cowheap: a heap written without pause, whose running checksum the
 * program checks against its memory.
 *
 *   cowheap MIB GAPLOG
 *
 * Fills MIB MiB of private anonymous memory from a xorshift generator and
 * keeps sum, the sum of all its words. Then, step after step, it rewrites
 * 256 runs of 64 KiB at pseudo-random places (so pages all over the heap
 * change all the time), updating sum as it goes, then adds up the whole
 * heap and compares: "step N sum HEX ok", or "step N sum HEX BAD want
 * HEX" and exit 1. A checkpoint that did not take the heap and sum (in a
 * register or on the stack) at one instant is caught by the first step
 * after a restart. Everything it prints depends only on N.
 *
 * It also appends "step N gap US" to GAPLOG (opened O_APPEND) after every
 * step: the longest time, in microseconds, between two consecutive looks
 * at the clock during the step (it looks every 64 KiB written and every
 * 1 MiB added up), that is, about how long it was stopped.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RUN_WORDS (64 * 1024 / 8)

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void tick(uint64_t *last, uint64_t *gap)
{
	uint64_t t = now_us();
	if (t - *last > *gap)
		*gap = t - *last;
	*last = t;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: cowheap MIB GAPLOG\n");
		return 2;
	}
	size_t words = (size_t)atol(argv[1]) << 17;
	int gapfd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (words < RUN_WORDS || gapfd < 0) {
		fprintf(stderr, "cowheap: bad size or gap log\n");
		return 2;
	}
	uint64_t *mem = mmap(NULL, words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("cowheap: mmap");
		return 2;
	}
	uint64_t s = 42, sum = 0;
	for (size_t i = 0; i < words; i++)
		sum += mem[i] = xorshift(&s);
	size_t runs = words / RUN_WORDS;
	for (uint64_t step = 1;; step++) {
		uint64_t gap = 0, last = now_us();
		for (int r = 0; r < 256; r++) {
			uint64_t *p = mem + (xorshift(&s) % runs) * RUN_WORDS;
			for (size_t j = 0; j < RUN_WORDS; j++) {
				uint64_t w = xorshift(&s);
				sum += w - p[j];
				p[j] = w;
			}
			tick(&last, &gap);
		}
		uint64_t got = 0;
		for (size_t i = 0; i < words; i++) {
			got += mem[i];
			if ((i & ((1 << 17) - 1)) == 0)
				tick(&last, &gap);
		}
		if (got != sum) {
			printf("step %llu sum %016llx BAD want %016llx\n", (unsigned long long)step,
			       (unsigned long long)got, (unsigned long long)sum);
			fflush(stdout);
			return 1;
		}
		printf("step %llu sum %016llx ok\n", (unsigned long long)step, (unsigned long long)sum);
		fflush(stdout);
		char line[64];
		int n = snprintf(line, sizeof line, "step %llu gap %llu\n", (unsigned long long)step,
				 (unsigned long long)gap);
		if (write(gapfd, line, n) != n)
			return 2;
	}
}
