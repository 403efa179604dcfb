/*
 * cowshm: two processes that take turns over shared memory, each checking
 * the shared memory against its own private memory.
 *
 *   cowshm MIB
 *
 * The parent maps MIB MiB of MAP_SHARED|MAP_ANONYMOUS memory and forks.
 * The two take turns (a futex on a shared word): on its turn a process
 * checks that the shared counter is the one it expects (kept in its
 * private memory) and that every word of the shared data holds the
 * pattern of that counter, then rewrites all of the data with the pattern
 * of counter+1, increments the counter and hands the turn over. The parent
 * prints "round N ok" after each of its turns, or "round N BAD: ..." and
 * exits 1 (as does the child, telling the parent through the shared
 * memory). A checkpoint that did not take the shared memory and both
 * processes' private memory at one instant is caught at the next turn
 * after a restart; everything printed depends only on N.
 */
#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct shared {
	int turn; /* 0: the parent's, 1: the child's */
	int bad;
	uint64_t counter;
	uint64_t data[];
};

static uint64_t pattern(uint64_t c, size_t i)
{
	return (c + 1) * 0x9e3779b97f4a7c15ULL ^ i;
}

static void wait_turn(struct shared *sh, int me)
{
	while (__atomic_load_n(&sh->turn, __ATOMIC_ACQUIRE) != me)
		syscall(SYS_futex, &sh->turn, FUTEX_WAIT, !me, NULL, NULL, 0);
}

static void give_turn(struct shared *sh, int other)
{
	__atomic_store_n(&sh->turn, other, __ATOMIC_RELEASE);
	syscall(SYS_futex, &sh->turn, FUTEX_WAKE, 1, NULL, NULL, 0);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: cowshm MIB\n");
		return 2;
	}
	size_t words = (size_t)atol(argv[1]) << 17;
	struct shared *sh = mmap(NULL, sizeof *sh + words * 8, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("cowshm: mmap");
		return 2;
	}
	for (size_t i = 0; i < words; i++)
		sh->data[i] = pattern(0, i);
	int me = fork() == 0;
	uint64_t expect = me; /* private: the counter at my next turn */
	for (uint64_t round = 1;; round++) {
		wait_turn(sh, me);
		const char *why = NULL;
		if (sh->bad)
			why = "the other process found the memory wrong";
		else if (sh->counter != expect)
			why = "shared counter differs from my private copy";
		for (size_t i = 0; !why && i < words; i++)
			if (sh->data[i] != pattern(expect, i))
				why = "shared data differs from the counter's pattern";
		if (why) {
			sh->bad = 1;
			give_turn(sh, !me);
			if (!me) {
				printf("round %llu BAD: %s\n", (unsigned long long)round, why);
				fflush(stdout);
			}
			return 1;
		}
		for (size_t i = 0; i < words; i++)
			sh->data[i] = pattern(expect + 1, i);
		sh->counter = expect + 1;
		expect += 2;
		give_turn(sh, !me);
		if (!me) {
			printf("round %llu ok\n", (unsigned long long)round);
			fflush(stdout);
		}
	}
}
