/*
 * mainexit: a worker thread prints "tick N" every 50 ms; the main thread
 * watches for a child of its own and ends itself (pthread_exit) as soon as
 * one appears: the copy-on-write snapshot of a --run checkpoint, which
 * exists only while the checkpoint reads the process's memory.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *work(void *a)
{
	(void)a;
	for (long n = 1;; n++) {
		printf("tick %ld\n", n);
		fflush(stdout);
		usleep(50000);
	}
	return 0;
}

int main(void)
{
	char *heap = malloc(64 << 20);
	memset(heap, 1, 64 << 20);
	pthread_t t;
	pthread_create(&t, 0, work, 0);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%ld/children", (long)syscall(SYS_gettid));
	for (;;) {
		FILE *f = fopen(path, "r");
		int c = f ? fgetc(f) : EOF;
		if (f)
			fclose(f);
		if (c != EOF)
			pthread_exit(0);
		usleep(1000);
	}
}
