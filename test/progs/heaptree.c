/*
 * heaptree: a tree of processes that each check their own memory all the
 * time, to prove a checkpoint of a tree saved every page of every one.
 *
 *   heaptree N
 *
 * The first process forks N-1 children. Each of the N fills a heap of its
 * own with a pattern of its index: process 1 has 12 MiB (more than one of
 * cr_checkpoint's read batches), the others 64 KiB to 576 KiB, each with
 * every fifth page written as zeros. Then each loops: it checks its heap
 * against the pattern (process 1 an eighth of it a round, in turn),
 * changes one word of a second, smaller heap
 * that it checks against its round count, and tells the first process by
 * a pipe that it passed, and sleeps 40 ms. The first process prints "tick N" each time every
 * process (itself too) has passed since the last tick, at most every
 * 50 ms. A process that finds a difference prints "BAD ..." and exits 3;
 * the first process exits 1 if a child ends.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static uint64_t mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x7fb5d329728ea185ull;
	x ^= x >> 27;
	x *= 0x81dadef4bc2dd44dull;
	return x ^ (x >> 33);
}

/* word is the pattern of process idx at word j: zero in every fifth page. */
static uint64_t word(int idx, size_t j)
{
	if ((j * 8 / PAGE) % 5 == 3)
		return 0;
	return mix(((uint64_t)idx << 40) ^ j) | 1;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
}

/* run fills and checks the heaps of process idx, reporting to fd. */
static void run(int idx, int fd, int first, int n, int *ticks)
{
	size_t size = idx == 1 ? 12 << 20 : (size_t)(idx % 9 + 1) * 16 * PAGE;
	size_t words = size / 8;
	size_t parts = idx == 1 ? 8 : 1; /* checked a part a round, in turn */
	uint64_t *h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *round = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h == MAP_FAILED || round == MAP_FAILED) {
		printf("BAD %d: mmap\n", idx);
		fflush(stdout);
		exit(3);
	}
	for (size_t j = 0; j < words; j++)
		h[j] = word(idx, j);
	size_t rwords = 16 * PAGE / 8;
	unsigned char *seen = first ? calloc(n + 1, 1) : NULL;
	int passed = 0;
	for (uint64_t r = 0;; r++) {
		size_t from = words / parts * (r % parts), to = from + words / parts;
		for (size_t j = from; j < to; j++)
			if (h[j] != word(idx, j)) {
				printf("BAD %d: word %zu of %zu is %#llx, not %#llx\n", idx, j, words,
				       (unsigned long long)h[j], (unsigned long long)word(idx, j));
				fflush(stdout);
				exit(3);
			}
		/* round[k] holds the last round that wrote it, at k = round % rwords */
		for (size_t k = 0; k < rwords && k < r; k++) {
			uint64_t want = r - 1 - ((r - 1 - k) % rwords);
			if (round[k] != want) {
				printf("BAD %d: round word %zu is %llu, not %llu\n", idx, k,
				       (unsigned long long)round[k], (unsigned long long)want);
				fflush(stdout);
				exit(3);
			}
		}
		round[r % rwords] = r;
		if (!first) {
			unsigned char b = idx;
			if (write(fd, &b, 1) != 1)
				exit(3);
			sleep_ms(40);
			continue;
		}
		if (!seen[idx]++)
			passed++;
		unsigned char b[256];
		ssize_t got;
		while ((got = read(fd, b, sizeof b)) > 0)
			for (ssize_t i = 0; i < got; i++)
				if (b[i] <= n && !seen[b[i]]++)
					passed++;
		if (waitpid(-1, NULL, WNOHANG) > 0) {
			printf("BAD a child ended\n");
			fflush(stdout);
			exit(1);
		}
		if (passed == n) {
			printf("tick %d\n", ++*ticks);
			fflush(stdout);
			memset(seen, 0, n + 1);
			passed = 0;
			sleep_ms(50);
		} else {
			sleep_ms(5);
		}
	}
}

int main(int argc, char **argv)
{
	int n = argc == 2 ? atoi(argv[1]) : 0;
	int fds[2];
	if (n < 1 || n > 250 || pipe(fds) != 0) {
		fprintf(stderr, "usage: heaptree N (1-250)\n");
		return 1;
	}
	for (int i = 2; i <= n; i++) {
		pid_t c = fork();
		if (c < 0) {
			perror("heaptree: fork");
			return 1;
		}
		if (c == 0) {
			close(fds[0]);
			run(i, fds[1], 0, n, NULL);
		}
	}
	close(fds[1]);
	/* the first process reads what it is told without waiting */
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
		perror("heaptree: fcntl");
		return 1;
	}
	int ticks = 0;
	run(1, fds[0], 1, n, &ticks);
}
