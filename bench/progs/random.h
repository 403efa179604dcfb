/*
 * random.h: the pseudo-random bytes the benchmark programs fill their
 * memory with (xorshift64*, seeded with the pid so that two processes
 * share no page), which neither zero detection nor compression can shrink.
 */
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

static void fill_random(void *mem, size_t size)
{
	uint64_t x = 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
	uint64_t *w = mem;
	for (size_t i = 0; i < size / sizeof *w; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		w[i] = x * 0x2545F4914F6CDD1Dull;
	}
}
