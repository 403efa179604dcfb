/*
 * pagemix: a heap whose pages reach a checkpoint by every way it reads
 * them, checked by the program itself against what it wrote.
 *
 *   pagemix MIB
 *
 * Maps MIB MiB and 5 pages of private anonymous memory and writes every
 * page: page i holds words generated from (i, gen[i]), with gen[i] = 1,
 * except the zero pages (every page i with i % 7 == 3, and the first 40
 * of every 256), which it writes with zeros so that they are resident.
 * Then it forks a child that only sleeps (it exits once its parent is
 * gone), so that every page is shared copy-on-write between the two, and
 * rewrites the first half of the pages that are not zero with gen[i] = 2:
 * those are the parent's alone again (and the child's old ones its own),
 * the second half stays shared (the zero pages are written again too, with
 * zeros, so that the first half is all the parent's). So a checkpoint
 * finds runs of pages one process alone maps, runs of shared pages, and
 * zero pages inside both.
 *
 * Then, every 50 ms, step N: it rewrites the 64 pages of the first half
 * from page (N * 2654435761) % (half - 64) on with gen = N + 3 (zero
 * pages with zeros), checks every page against its generator and prints
 * "step N sum HEX ok" (HEX folds the pages' hashes, the same for the same
 * N in every run), or "step N sum HEX BAD page P" and exits 1 on the first
 * page that differs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define WORDS (PAGE / 8)

static uint64_t *mem;
static uint32_t *gen;
static size_t pages;

static int zero_page(size_t i) { return i % 7 == 3 || i % 256 < 40; }

/* page writes page i from (i, g), or with check compares it with what
 * (i, g) gives and sets *bad if they differ; it returns the hash of what
 * (i, g) gives. */
static uint64_t page(size_t i, uint32_t g, int check, int *bad)
{
	uint64_t *p = mem + i * WORDS;
	uint64_t h = 0xcbf29ce484222325ULL;
	uint64_t x = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)i << 20) ^ g;
	for (size_t w = 0; w < WORDS; w++) {
		uint64_t v = 0;
		if (!zero_page(i)) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			v = x * 0x2545F4914F6CDD1DULL;
		}
		if (check) {
			if (p[w] != v)
				*bad = 1;
		} else {
			p[w] = v;
		}
		h = (h ^ v) * 0x100000001b3ULL;
	}
	return h;
}

static void nap(long ms)
{
	struct timespec ts = { 0, ms * 1000 * 1000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 48;
	pages = mib * 256 + 5;
	mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	gen = calloc(pages, sizeof *gen);
	if (mem == MAP_FAILED || gen == NULL) {
		perror("pagemix");
		return 1;
	}
	for (size_t i = 0; i < pages; i++)
		page(i, gen[i] = 1, 0, NULL);
	pid_t parent = getpid();
	pid_t child = fork();
	if (child < 0) {
		perror("pagemix: fork");
		return 1;
	}
	if (child == 0) {
		while (getppid() == parent)
			nap(100);
		return 0;
	}
	size_t half = pages / 2;
	for (size_t i = 0; i < half; i++)
		page(i, gen[i] = 2, 0, NULL);
	for (uint64_t n = 1;; n++) {
		size_t from = (size_t)((n * 2654435761ULL) % (half - 64));
		for (size_t i = from; i < from + 64; i++)
			page(i, gen[i] = (uint32_t)(n + 3), 0, NULL);
		uint64_t sum = 0;
		for (size_t i = 0; i < pages; i++) {
			int bad = 0;
			sum = (sum ^ page(i, gen[i], 1, &bad)) * 0x100000001b3ULL;
			if (bad) {
				printf("step %llu sum %016llx BAD page %zu\n", (unsigned long long)n,
				       (unsigned long long)sum, i);
				fflush(stdout);
				return 1;
			}
		}
		printf("step %llu sum %016llx ok\n", (unsigned long long)n, (unsigned long long)sum);
		fflush(stdout);
		nap(50);
	}
}
