/*
 * tick: a job that wakes every millisecond and measures how late it is,
 * so that a checkpoint's freeze is measured as the job itself sees it.
 *
 *   tick MIB THREADS
 *
 * It fills MIB MiB of private anonymous memory with pseudo-random bytes
 * (as fill random does), then runs THREADS threads (the main one
 * included), each sleeping 1 ms at a time (clock_nanosleep, relative, on
 * CLOCK_MONOTONIC) and keeping the longest time between two of its
 * wake-ups. It prints "ready" once every thread runs.
 *
 *   SIGUSR1 opens a window: every thread forgets its longest gap at its
 *           next wake-up and counts from there.
 *   SIGUSR2 closes it: once every thread has woken since, the main thread
 *           prints the longest gap of any thread in the window and when
 *           it ended, "gap MICROSECONDS end MICROSECONDS" (the end on
 *           CLOCK_MONOTONIC).
 *
 * Exit status 0 is never reached; 1 with a message on stderr on error.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "random.h"

struct ticker {
	uint64_t wakes;	  /* wake-ups so far (atomic) */
	uint64_t longest; /* the longest gap in the window, ns (atomic) */
	uint64_t end;	  /* when it ended, ns (atomic) */
	uint64_t window;  /* the window its longest gap belongs to */
	uint64_t prev;	  /* the last wake-up, ns */
	char pad[24];	  /* one cache line each */
};

static struct ticker *tickers;
static long nthreads;
static uint64_t window;	  /* bumped by SIGUSR1 (atomic) */
static int report_wanted; /* set by SIGUSR2 (atomic) */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_usr1(int sig)
{
	(void)sig;
	__atomic_add_fetch(&window, 1, __ATOMIC_SEQ_CST);
}

static void on_usr2(int sig)
{
	(void)sig;
	__atomic_store_n(&report_wanted, 1, __ATOMIC_SEQ_CST);
}

/* tick wakes t every millisecond, forever; the main thread (main) also
 * answers SIGUSR2. */
static void tick(struct ticker *t, int main)
{
	const struct timespec ms = {0, 1000000};
	uint64_t *seen = NULL; /* the wake counts when the report was asked */
	if (main && (seen = calloc(nthreads, sizeof *seen)) == NULL) {
		perror("tick: calloc");
		exit(1);
	}
	int pending = 0;
	t->prev = now_ns();
	for (;;) {
		clock_nanosleep(CLOCK_MONOTONIC, 0, &ms, NULL); /* EINTR: a signal, fine */
		uint64_t now = now_ns();
		uint64_t w = __atomic_load_n(&window, __ATOMIC_SEQ_CST);
		if (w != t->window) {
			t->window = w;
			__atomic_store_n(&t->longest, 0, __ATOMIC_RELAXED);
		} else if (now - t->prev > __atomic_load_n(&t->longest, __ATOMIC_RELAXED)) {
			__atomic_store_n(&t->end, now, __ATOMIC_RELAXED);
			__atomic_store_n(&t->longest, now - t->prev, __ATOMIC_RELAXED);
		}
		t->prev = now;
		__atomic_add_fetch(&t->wakes, 1, __ATOMIC_SEQ_CST);
		if (!main)
			continue;
		if (__atomic_exchange_n(&report_wanted, 0, __ATOMIC_SEQ_CST)) {
			for (long i = 0; i < nthreads; i++)
				seen[i] = __atomic_load_n(&tickers[i].wakes, __ATOMIC_SEQ_CST);
			pending = 1;
		}
		if (!pending)
			continue;
		uint64_t longest = 0, end = 0;
		long i;
		for (i = 0; i < nthreads; i++) {
			if (__atomic_load_n(&tickers[i].wakes, __ATOMIC_SEQ_CST) == seen[i])
				break; /* not woken since: its gap may not be in yet */
			uint64_t l = __atomic_load_n(&tickers[i].longest, __ATOMIC_RELAXED);
			if (l > longest) {
				longest = l;
				end = __atomic_load_n(&tickers[i].end, __ATOMIC_RELAXED);
			}
		}
		if (i < nthreads)
			continue;
		pending = 0;
		printf("gap %llu end %llu\n", (unsigned long long)(longest / 1000),
		       (unsigned long long)(end / 1000));
		if (fflush(stdout) != 0) {
			perror("tick: stdout");
			exit(1);
		}
	}
}

static void *thread(void *arg)
{
	tick(arg, 0);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: tick MIB THREADS\n");
		return 1;
	}
	size_t size = (size_t)atol(argv[1]) << 20;
	nthreads = atol(argv[2]);
	if (size == 0 || nthreads < 1) {
		fprintf(stderr, "tick: bad size or number of threads\n");
		return 1;
	}
	unsigned char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("tick: mmap");
		return 1;
	}
	fill_random(mem, size);
	if ((tickers = calloc(nthreads, sizeof *tickers)) == NULL) {
		perror("tick: calloc");
		return 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_usr1;
	if (sigaction(SIGUSR1, &sa, NULL) != 0)
		return perror("tick: sigaction"), 1;
	sa.sa_handler = on_usr2;
	if (sigaction(SIGUSR2, &sa, NULL) != 0)
		return perror("tick: sigaction"), 1;
	for (long i = 1; i < nthreads; i++) {
		pthread_t t;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 64 << 10);
		if (pthread_create(&t, &a, thread, &tickers[i]) != 0) {
			fprintf(stderr, "tick: pthread_create failed\n");
			return 1;
		}
	}
	printf("ready\n");
	if (fflush(stdout) != 0)
		return perror("tick: stdout"), 1;
	tick(&tickers[0], 1);
}
