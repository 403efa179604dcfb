/*
 * counter: prints "tick N" every 50 ms, N from 1, one flushed write per line.
 *
 *   counter [MAX [STATUS]]
 *
 * Runs until killed, or, with MAX > 0, exits with STATUS (default 0) after
 * printing "tick MAX". The count lives only in this process's memory, so a
 * restored process proves it continued by printing the next number.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	long max = argc > 1 ? atol(argv[1]) : 0;
	int status = argc > 2 ? atoi(argv[2]) : 0;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	for (long n = 1; max <= 0 || n <= max; n++) {
		printf("tick %ld\n", n);
		if (fflush(stdout) != 0) {
			perror("counter: write");
			return 1;
		}
		if (max > 0 && n == max)
			break;
		struct timespec rem = ts;
		while (nanosleep(&rem, &rem) != 0 && errno == EINTR)
			;
	}
	return status;
}
