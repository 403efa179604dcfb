/*
 * forker: forks short-lived children as fast as it can (each exits at
 * once with status 3; the parent reaps them as it goes and checks the
 * status), and prints "tick N" every 50 ms. A checkpoint of its tree has
 * to freeze it while children keep appearing and vanishing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	long tick = 0;
	double next = now();
	for (;;) {
		pid_t c = fork();
		if (c == 0)
			_exit(3);
		if (c < 0 && errno != EAGAIN) {
			perror("forker: fork");
			return 1;
		}
		int st;
		pid_t w;
		while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 3) {
				fprintf(stderr, "forker: child %d ended with %#x\n", w, st);
				return 1;
			}
		}
		if (now() >= next) {
			printf("tick %ld\n", ++tick);
			fflush(stdout);
			next += 0.05;
		}
	}
}
