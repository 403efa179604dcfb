/*
 * tree: a tree of processes with private memory, to checkpoint.
 *
 *   tree N MIB
 *
 * The first process forks N-1 children; each of the N writes MIB MiB of
 * its own pseudo-random bytes (so that no page is shared with another),
 * the children tell the parent through a pipe, and the parent prints the
 * pid of each child, one a line, then "ready", and all sleep in pause()
 * until killed. Exit status 1 with a message on stderr on error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "random.h"

static int fill(size_t size)
{
	uint64_t *w = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w == MAP_FAILED)
		return -1;
	fill_random(w, size);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: tree N MIB\n");
		return 1;
	}
	int n = atoi(argv[1]);
	size_t size = (size_t)atol(argv[2]) << 20;
	int fds[2];
	if (n < 1 || size == 0 || pipe(fds) != 0) {
		fprintf(stderr, "tree: bad arguments or no pipe\n");
		return 1;
	}
	pid_t *kids = calloc(n, sizeof *kids);
	for (int i = 1; i < n; i++) {
		kids[i] = fork();
		if (kids[i] < 0) {
			perror("tree: fork");
			return 1;
		}
		if (kids[i] == 0) {
			close(fds[0]);
			if (fill(size) != 0 || write(fds[1], "x", 1) != 1)
				_exit(1);
			close(fds[1]);
			for (;;)
				pause();
		}
	}
	close(fds[1]);
	if (fill(size) != 0) {
		perror("tree: mmap");
		return 1;
	}
	char c;
	for (int i = 1; i < n; i++)
		if (read(fds[0], &c, 1) != 1) {
			fprintf(stderr, "tree: a child failed\n");
			return 1;
		}
	close(fds[0]);
	for (int i = 1; i < n; i++)
		printf("%d\n", kids[i]);
	printf("ready\n");
	if (fflush(stdout) != 0)
		return 1;
	for (;;)
		pause();
}
