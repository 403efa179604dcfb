/*
 * heap: a large, changing heap whose contents the program verifies itself.
 *
 *   heap [MIB [MAXSTEPS]]
 *
 * Allocates MIB MiB (default 300) with malloc and fills it, one 1 MiB block
 * at a time, from a xorshift generator: block i is generated from seed[i],
 * and the seeds come from a generator seeded with 42. While generating a
 * block the program hashes the generated words (not the memory) into
 * expect[i]. Then, every 100 ms, step N:
 *   - regenerates block (N * 2654435761) % MIB from a seed derived from N
 *     (so the heap content at step N depends only on N);
 *   - hashes every block as it is in memory and compares each hash with
 *     expect[i];
 *   - regenerates one more block (N % MIB) from its seed without touching
 *     memory and compares that with expect[] too, so the table itself is
 *     checked against the seeds;
 *   - prints "step N sum HEX ok", or "step N sum HEX BAD ..." on a mismatch.
 * HEX folds all block hashes: it is the same for the same N in every run.
 * With MAXSTEPS > 0 it exits 0 after that step (1 if any step was BAD).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK_WORDS ((1u << 20) / sizeof(uint64_t))
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* splitmix64 finaliser: turns a small number into a good non-zero seed. */
static uint64_t mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return z ? z : 1;
}

/* Word-wise FNV-1a in four lanes (so the multiplies overlap), folded. */
struct hash { uint64_t l[4]; };

static void hinit(struct hash *h)
{
	for (int i = 0; i < 4; i++)
		h->l[i] = FNV_OFFSET + (uint64_t)i;
}

static uint64_t hfold(const struct hash *h)
{
	uint64_t r = FNV_OFFSET;
	for (int i = 0; i < 4; i++)
		r = (r ^ h->l[i]) * FNV_PRIME;
	return r;
}

/* Fills p (NULL: only generates) from seed; returns the hash of the words. */
static uint64_t gen_block(uint64_t *p, uint64_t seed)
{
	struct hash h;
	uint64_t s = seed;
	hinit(&h);
	for (size_t i = 0; i < BLOCK_WORDS; i += 4) {
		for (int k = 0; k < 4; k++) {
			uint64_t w = xorshift(&s);
			if (p)
				p[i + k] = w;
			h.l[k] = (h.l[k] ^ w) * FNV_PRIME;
		}
	}
	return hfold(&h);
}

static uint64_t hash_block(const uint64_t *p)
{
	struct hash h;
	hinit(&h);
	for (size_t i = 0; i < BLOCK_WORDS; i += 4)
		for (int k = 0; k < 4; k++)
			h.l[k] = (h.l[k] ^ p[i + k]) * FNV_PRIME;
	return hfold(&h);
}

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 300;
	long maxsteps = argc > 2 ? atol(argv[2]) : 0;
	int bad_ever = 0;

	if (mib <= 0) {
		fprintf(stderr, "heap: bad size %s\n", argv[1]);
		return 2;
	}
	uint64_t *heap = malloc((size_t)mib << 20);
	uint64_t *seed = malloc(mib * sizeof(uint64_t));
	uint64_t *expect = malloc(mib * sizeof(uint64_t));
	if (!heap || !seed || !expect) {
		fprintf(stderr, "heap: cannot allocate %ld MiB\n", mib);
		return 2;
	}

	uint64_t g = 42;
	for (long i = 0; i < mib; i++) {
		seed[i] = xorshift(&g);
		expect[i] = gen_block(heap + i * BLOCK_WORDS, seed[i]);
	}

	struct timespec ts = { 0, 100 * 1000 * 1000 };
	for (uint64_t n = 1; maxsteps <= 0 || (long)n <= maxsteps; n++) {
		long b = (long)((n * 2654435761ULL) % (uint64_t)mib);
		seed[b] = mix(n);
		expect[b] = gen_block(heap + b * BLOCK_WORDS, seed[b]);

		uint64_t sum = FNV_OFFSET;
		long bad = -1;
		for (long i = 0; i < mib; i++) {
			uint64_t h = hash_block(heap + i * BLOCK_WORDS);
			if (h != expect[i] && bad < 0)
				bad = i;
			sum = (sum ^ h) * FNV_PRIME;
		}
		long r = (long)(n % (uint64_t)mib);
		int table_ok = gen_block(NULL, seed[r]) == expect[r];

		if (bad < 0 && table_ok) {
			printf("step %llu sum %016llx ok\n", (unsigned long long)n,
			       (unsigned long long)sum);
		} else {
			bad_ever = 1;
			printf("step %llu sum %016llx BAD block %ld table %s\n",
			       (unsigned long long)n, (unsigned long long)sum, bad,
			       table_ok ? "ok" : "BAD");
		}
		if (fflush(stdout) != 0) {
			perror("heap: write");
			return 1;
		}
		if (maxsteps > 0 && (long)n == maxsteps)
			break;
		struct timespec rem = ts;
		while (nanosleep(&rem, &rem) != 0 && errno == EINTR)
			;
	}
	return bad_ever;
}
