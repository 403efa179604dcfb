/*
 * fill: a process with a known amount of resident memory, to checkpoint.
 *
 *   fill MODE MIB [STRIDE_KIB]
 *
 * It maps MIB MiB of private anonymous memory, writes every page of it so
 * that all of it is resident, prints "ready" and then sleeps in pause()
 * until it is killed. MODE says what the memory holds:
 *
 *   random  pseudo-random bytes (xorshift64*, seeded from the pid), which
 *           neither a zero-page check nor a compressor can shrink;
 *   half    pseudo-random bytes in the first half of every page, which
 *           the second half repeats: a compressor that finds the repeat
 *           halves it, and no zero-page check shrinks it;
 *   zero    zeros, but for one non-zero byte every STRIDE_KIB KiB (default
 *           1024): every page is written (a zero stored into an anonymous
 *           page makes it resident, unlike a read), and only one page in
 *           STRIDE_KIB/4 holds anything but zeros.
 *
 * Exit status 0 is never reached; 1 with a message on stderr on error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "random.h"

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: fill random|half|zero MIB [STRIDE_KIB]\n");
		return 1;
	}
	int random = strcmp(argv[1], "random") == 0;
	int half = strcmp(argv[1], "half") == 0;
	if (!random && !half && strcmp(argv[1], "zero") != 0) {
		fprintf(stderr, "fill: unknown mode %s\n", argv[1]);
		return 1;
	}
	size_t size = (size_t)atol(argv[2]) << 20;
	size_t stride = (argc > 3 ? (size_t)atol(argv[3]) : 1024) << 10;
	long page = sysconf(_SC_PAGESIZE);
	if (size == 0 || stride == 0) {
		fprintf(stderr, "fill: bad size\n");
		return 1;
	}
	unsigned char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("fill: mmap");
		return 1;
	}
	if (random || half) {
		fill_random(mem, size);
		for (size_t off = 0; half && off < size; off += page)
			memcpy(mem + off + page / 2, mem + off, page / 2);
	} else {
		volatile unsigned char *v = mem;
		for (size_t off = 0; off < size; off += page)
			v[off] = 0;
		for (size_t off = 0; off < size; off += stride)
			v[off] = 1;
	}
	printf("ready\n");
	if (fflush(stdout) != 0) {
		perror("fill: stdout");
		return 1;
	}
	for (;;)
		pause();
}
