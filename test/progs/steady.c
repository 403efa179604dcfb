/*
 * steady: a tree of processes that go on whatever becomes of the others,
 * so that a restart that let some of them go without the rest shows.
 *
 *   steady N
 *
 * The first process forks N-1 children, each with 256 KiB of memory of
 * its own, and prints "tick N" every 20 ms; the children sleep 20 ms at a
 * time. Nobody waits for, or writes to, anyone: a child ends only when
 * killed, and the first process takes no notice of it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	int n = argc == 2 ? atoi(argv[1]) : 0;
	if (n < 1) {
		fprintf(stderr, "usage: steady N\n");
		return 1;
	}
	signal(SIGCHLD, SIG_IGN); /* children reap themselves */
	for (int i = 1; i < n; i++) {
		pid_t c = fork();
		if (c < 0) {
			perror("steady: fork");
			return 1;
		}
		if (c == 0) {
			char *m = malloc(256 << 10);
			if (m == NULL)
				_exit(1);
			memset(m, i, 256 << 10);
			for (;;)
				sleep_ms(20);
		}
	}
	for (long tick = 1;; tick++) {
		printf("tick %ld\n", tick);
		fflush(stdout);
		sleep_ms(20);
	}
}
