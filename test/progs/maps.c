/*
 * maps: a process with many mappings that checks their contents and their
 * layout itself.
 *
 *   maps N
 *
 * It reserves one region and maps N private anonymous mappings in it, side
 * by side, with a page of PROT_NONE at each end: even ones writable (every
 * 32nd of 16 pages, so that their page data is big enough to be mapped
 * from an image; the rest of one page), odd ones read-only (filled, then
 * made read-only; every fourth odd one never touched, so all zero).
 * Neighbours differ in protection, so none merge. Every word of a page
 * filled is seed + word * K, where seed comes from the mapping's index, the
 * page's and the mapping's generation.
 *
 * Then, every 100 ms, step S: refills writable mapping (S * 2654435761) % N
 * (the next even one) with generation S; checks every word of every
 * mapping against its index and generation (zero for the untouched ones);
 * checks in /proc/self/maps that the mappings still tile the region
 * exactly, each with its protection (a line may cover part of one mapping,
 * never two; the file is read again while it is not consistent, see
 * read_layout); and prints "step S sum HEX ok", HEX folding the generations,
 * or "step S ... BAD what" and exits 3 on a difference.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
#define WORDS (PAGE / sizeof(uint64_t))
#define K 0x9e3779b97f4a7c15ull

static long n;
static char **addr;     /* mapping i starts at addr[i] */
static long *pages;     /* and holds pages[i] pages */
static uint64_t *gen;   /* generation of its contents */

static int writable(long i) { return i % 2 == 0; }
static int untouched(long i) { return i % 8 == 3; }

static uint64_t seed(long i, long p, uint64_t g)
{
	uint64_t z = (uint64_t)i * 0x100000001b3ull ^ (uint64_t)p << 40 ^ g * 0xbf58476d1ce4e5b9ull;
	z ^= z >> 31;
	return z | 1;
}

static void fill(long i)
{
	for (long p = 0; p < pages[i]; p++) {
		uint64_t *w = (uint64_t *)(addr[i] + p * PAGE), s = seed(i, p, gen[i]);
		for (unsigned long j = 0; j < WORDS; j++)
			w[j] = s + j * K;
	}
}

static int bad(long step, const char *what, long i)
{
	printf("step %ld mapping %ld at %p BAD %s\n", step, i, i < n ? (void *)addr[i] : NULL, what);
	fflush(stdout);
	exit(3);
}

static void check_contents(long step)
{
	for (long i = 0; i < n; i++)
		for (long p = 0; p < pages[i]; p++) {
			const uint64_t *w = (const uint64_t *)(addr[i] + p * PAGE);
			uint64_t s = seed(i, p, gen[i]);
			for (unsigned long j = 0; j < WORDS; j++)
				if (w[j] != (untouched(i) ? 0 : s + j * K))
					bad(step, "contents", i);
		}
}

/* read_layout reads /proc/self/maps and checks that the lines within the
 * region tile it: each lies inside one mapping, with its protection, and
 * together they cover every mapping. It reads the file in one read(): the
 * kernel promises a consistent picture only then, and on 6.18 the 4 KiB
 * reads of stdio in the first step after a restart have returned lines cut
 * and spliced together (also before issue 16's changes to the restart),
 * right again when read again. It returns 0 if the layout is right and -1
 * if the file was not consistent (a line that does not parse, or that
 * starts below the end of the one before); on a wrong layout it exits. */
static int read_layout(long step, char *lo, char *hi)
{
	static char *text;
	size_t len = 0, size = 16ul << 20;
	if (text == NULL && (text = malloc(size)) == NULL)
		bad(step, "malloc", n);
	int fd = open("/proc/self/maps", O_RDONLY);
	if (fd < 0)
		bad(step, "open /proc/self/maps", n);
	for (ssize_t got; (got = read(fd, text + len, size - 1 - len)) > 0;)
		len += got;
	close(fd);
	text[len] = 0;
	long i = 0;
	char *at = addr[0];  /* covered up to here */
	unsigned long prev = 0; /* the end of the line before */
	for (char *line = text, *nl; *line != 0; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			nl = line + strlen(line) - 1;
		unsigned long s, e;
		char perms[5];
		if (sscanf(line, "%lx-%lx %4s", &s, &e, perms) != 3 || s < prev || e <= s) {
			fprintf(stderr, "maps: step %ld: /proc/self/maps not consistent, after %#lx: %.*s\n", step, prev, (int)(nl - line), line);
			return -1;
		}
		prev = e;
		if ((char *)e <= lo || (char *)s >= hi)
			continue;
		if ((char *)s < addr[0] || (char *)e > addr[n - 1] + pages[n - 1] * PAGE) {
			if (strcmp(perms, "---p") != 0)
				bad(step, "guard page", n);
			continue;
		}
		const char *what = NULL;
		if ((char *)s != at)
			what = "layout: a hole";
		else if ((char *)e > addr[i] + pages[i] * PAGE)
			what = "layout: merged with the next";
		else if (strcmp(perms, writable(i) ? "rw-p" : "r--p") != 0)
			what = "protection";
		if (what != NULL) {
			printf("step %ld: mapping %ld is %p-%p %s, covered up to %p; /proc/self/maps: %.*s\n", step, i,
			       (void *)addr[i], (void *)(addr[i] + pages[i] * PAGE), writable(i) ? "rw-p" : "r--p", (void *)at,
			       (int)(nl - line), line);
			bad(step, what, i);
		}
		at = (char *)e;
		if (at == addr[i] + pages[i] * PAGE)
			i++;
	}
	if (i != n)
		bad(step, "layout: mappings missing", i);
	return 0;
}

/* check_layout checks the layout, reading /proc/self/maps again (up to 50
 * times, 10 ms apart) while it is not consistent. */
static void check_layout(long step, char *lo, char *hi)
{
	for (int k = 0; read_layout(step, lo, hi) != 0; k++) {
		if (k == 50)
			bad(step, "/proc/self/maps never consistent", n);
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2 || (n = atol(argv[1])) < 2) {
		fprintf(stderr, "usage: maps N (2 or more)\n");
		return 1;
	}
	addr = calloc(n, sizeof *addr);
	pages = calloc(n, sizeof *pages);
	gen = calloc(n, sizeof *gen);
	if (addr == NULL || pages == NULL || gen == NULL) {
		perror("calloc");
		return 1;
	}
	long total = 2;
	for (long i = 0; i < n; i++)
		total += pages[i] = i % 32 == 0 ? 16 : 1;
	char *region = mmap(NULL, total * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (region == MAP_FAILED) {
		perror("mmap region");
		return 1;
	}
	char *at = region + PAGE;
	for (long i = 0; i < n; i++) {
		addr[i] = mmap(at, pages[i] * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (addr[i] == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		at += pages[i] * PAGE;
		if (!untouched(i))
			fill(i);
		if (!writable(i) && mprotect(addr[i], pages[i] * PAGE, PROT_READ) != 0) {
			perror("mprotect");
			return 1;
		}
	}
	for (long step = 1;; step++) {
		long k = (long)(((uint64_t)step * 2654435761u) % (uint64_t)n) & ~1l;
		gen[k] = (uint64_t)step;
		fill(k);
		check_contents(step);
		check_layout(step, region, region + total * PAGE);
		uint64_t sum = 0;
		for (long i = 0; i < n; i++)
			sum = (sum ^ gen[i]) * 0x100000001b3ull;
		printf("step %ld sum %016llx ok\n", step, (unsigned long long)sum);
		fflush(stdout);
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}
