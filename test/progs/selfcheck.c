/*
 * selfcheck: a process that checks its own registers, flags, signal mask
 * and memory all the time, to catch anyone who changes them under it.
 *
 *   selfcheck MIB
 *
 * It fills MIB MiB of heap with a pattern and loops: a stretch of
 * assembly that holds known values in every general register and in
 * xmm7 with the arithmetic flags live across instructions, checking them
 * as it goes; a check of its signal mask (SIGUSR2 blocked, nothing else);
 * a check of 64 KiB of the heap, in turn; a 1 ms sleep. It prints
 * "ok N" every 20 rounds. On any difference it prints "BAD what" and
 * exits 3. On SIGUSR1 it checks the whole heap, prints "final N SUM" and
 * exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t finish;

static void on_usr1(int sig)
{
	(void)sig;
	finish = 1;
}

/* spin runs n rounds of register and flag checks; it returns 0 if every
 * value held. */
static unsigned long spin(unsigned long s, long n)
{
	unsigned long bad = 0;

	__asm__ volatile(
		"mov %[s], %%rbx\n\t"
		"lea 1(%%rbx), %%r8\n\t"
		"lea 2(%%rbx), %%r9\n\t"
		"lea 3(%%rbx), %%r10\n\t"
		"lea 4(%%rbx), %%r11\n\t"
		"lea 5(%%rbx), %%r12\n\t"
		"lea 6(%%rbx), %%r13\n\t"
		"lea 7(%%rbx), %%r14\n\t"
		"lea 8(%%rbx), %%r15\n\t"
		"lea 9(%%rbx), %%rsi\n\t"
		"lea 10(%%rbx), %%rdi\n\t"
		"movq %%rbx, %%xmm7\n\t"
		"mov %[n], %%rcx\n"
		"1:\n\t"
		/* OF SF set, CF ZF clear, live across the leas */
		"movabs $0x7fffffffffffffff, %%rax\n\t"
		"add $1, %%rax\n\t"
		"lea 1(%%rbx), %%rdx\n\t"
		"lea 2(%%rbx), %%rdx\n\t"
		"lea 3(%%rbx), %%rdx\n\t"
		"jno 9f\n\t"
		"jns 9f\n\t"
		"jc 9f\n\t"
		"jz 9f\n\t"
		/* CF ZF set by a compare, live across the leas */
		"cmp %%rbx, %%rbx\n\t"
		"lea 4(%%rbx), %%rdx\n\t"
		"lea 5(%%rbx), %%rdx\n\t"
		"jne 9f\n\t"
		"lea 1(%%rbx), %%rax\n\t"
		"cmp %%rax, %%r8\n\t"
		"jne 9f\n\t"
		"lea 2(%%rbx), %%rax\n\t"
		"cmp %%rax, %%r9\n\t"
		"jne 9f\n\t"
		"lea 3(%%rbx), %%rax\n\t"
		"cmp %%rax, %%r10\n\t"
		"jne 9f\n\t"
		"lea 4(%%rbx), %%rax\n\t"
		"cmp %%rax, %%r11\n\t"
		"jne 9f\n\t"
		"lea 5(%%rbx), %%rax\n\t"
		"cmp %%rax, %%r12\n\t"
		"jne 9f\n\t"
		"lea 6(%%rbx), %%rax\n\t"
		"cmp %%rax, %%r13\n\t"
		"jne 9f\n\t"
		"lea 7(%%rbx), %%rax\n\t"
		"cmp %%rax, %%r14\n\t"
		"jne 9f\n\t"
		"lea 8(%%rbx), %%rax\n\t"
		"cmp %%rax, %%r15\n\t"
		"jne 9f\n\t"
		"lea 9(%%rbx), %%rax\n\t"
		"cmp %%rax, %%rsi\n\t"
		"jne 9f\n\t"
		"lea 10(%%rbx), %%rax\n\t"
		"cmp %%rax, %%rdi\n\t"
		"jne 9f\n\t"
		"movq %%xmm7, %%rax\n\t"
		"cmp %%rax, %%rbx\n\t"
		"jne 9f\n\t"
		"dec %%rcx\n\t"
		"jnz 1b\n\t"
		"jmp 2f\n"
		"9:\n\t"
		"movq $1, %[bad]\n"
		"2:\n"
		: [bad] "+m"(bad)
		: [s] "m"(s), [n] "m"(n)
		: "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
		  "r12", "r13", "r14", "r15", "xmm7", "cc", "memory");
	return bad;
}

static unsigned long word(size_t i)
{
	return i * 0x9e3779b97f4a7c15UL + 12345;
}

int main(int argc, char **argv)
{
	size_t words = (size_t)(argc > 1 ? atol(argv[1]) : 16) << 20 >> 3;
	unsigned long *heap = malloc(words * sizeof *heap);
	const size_t chunk = 65536 / sizeof *heap;
	struct timespec ms = { 0, 1000 * 1000 };
	sigset_t want, have;
	size_t at = 0;

	if (heap == NULL) {
		perror("selfcheck: malloc");
		return 1;
	}
	for (size_t i = 0; i < words; i++)
		heap[i] = word(i);
	sigemptyset(&want);
	sigaddset(&want, SIGUSR2);
	sigprocmask(SIG_SETMASK, &want, NULL);
	signal(SIGUSR1, on_usr1);

	for (long round = 1;; round++) {
		if (spin((unsigned long)round << 8, 20000) != 0) {
			printf("BAD registers or flags in round %ld\n", round);
			return 3;
		}
		sigprocmask(SIG_BLOCK, NULL, &have);
		for (int sig = 1; sig < NSIG; sig++) {
			if (sigismember(&have, sig) != sigismember(&want, sig)) {
				printf("BAD signal mask: signal %d in round %ld\n", sig, round);
				return 3;
			}
		}
		for (size_t i = at; i < at + chunk && i < words; i++) {
			if (heap[i] != word(i)) {
				printf("BAD heap word %zu in round %ld\n", i, round);
				return 3;
			}
		}
		at = at + chunk < words ? at + chunk : 0;
		if (round % 20 == 0) {
			printf("ok %ld\n", round / 20);
			fflush(stdout);
		}
		if (finish) {
			unsigned long sum = 0;
			for (size_t i = 0; i < words; i++) {
				if (heap[i] != word(i)) {
					printf("BAD heap word %zu at the end\n", i);
					return 3;
				}
				sum += heap[i];
			}
			printf("final %ld %lx\n", round / 20, sum);
			return 0;
		}
		nanosleep(&ms, NULL);
	}
}
