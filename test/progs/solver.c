/*
 * solver: a stand-in for a long computation with a known answer.
 *
 *   solver INPUT
 *
 * INPUT holds two numbers: STEPS and the milliseconds each step takes.
 * Step k adds k*k*k to a sum kept in memory and in a 1 MiB table whose
 * checksum it verifies every step, and prints "step k sum S" (flushed).
 * At the end it prints "answer S" and exits 0; S must be (STEPS*(STEPS+1)/2)^2.
 * A restart from zero shows as "step 1" again; a restart that lost memory
 * as a wrong sum or "table BAD".
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define WORDS (1 << 17)

static uint64_t table[WORDS];

int main(int argc, char **argv)
{
	long steps, ms;
	FILE *in = argc > 1 ? fopen(argv[1], "r") : NULL;
	if (in == NULL || fscanf(in, "%ld %ld", &steps, &ms) != 2) {
		fprintf(stderr, "solver: usage: solver INPUT (holding STEPS and MS)\n");
		return 2;
	}
	fclose(in);
	uint64_t sum = 0, check = 0;
	for (long k = 1; k <= steps; k++) {
		uint64_t add = (uint64_t)k * k * k;
		sum += add;
		table[k % WORDS] += add;
		check += add;
		uint64_t total = 0;
		for (long i = 0; i < WORDS; i++)
			total += table[i];
		if (total != check) {
			printf("step %ld table BAD\n", k);
			return 1;
		}
		printf("step %ld sum %llu\n", k, (unsigned long long)sum);
		if (fflush(stdout) != 0)
			return 1;
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	printf("answer %llu\n", (unsigned long long)sum);
	return fflush(stdout) != 0;
}
