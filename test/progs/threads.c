/*
 * threads: four pthreads pass a shared counter round-robin under a mutex and
 * a condition variable, so at any moment three of them (and main) are in a
 * futex wait.
 *
 *   threads [MAXREPORTS]
 *
 * Thread i waits on the condvar until it is its turn, then increments the
 * shared total and its own __thread count and hands the turn to i+1. Thread
 * 0 sleeps 1 ms before each of its turns, so a round takes about 1 ms. After
 * every 100 rounds the workers hold still until main has printed
 *   "round R total T locals a,b,c,d ok"
 * where ok means T == a+b+c+d == 4*R and a == b == c == d == R (otherwise
 * the line ends in BAD). The numbers depend only on R. With MAXREPORTS > 0
 * it exits after that many lines (status 1 if any was BAD).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NT 4

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int turn;
static int pending; /* a report is due: workers wait for main */
static long rounds, total;
static long *locals[NT]; /* each thread's __thread count, read by main */
static __thread long local;

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct timespec ms = { 0, 1000 * 1000 };

	pthread_mutex_lock(&mu);
	locals[id] = &local;
	pthread_mutex_unlock(&mu);
	for (;;) {
		if (id == 0) {
			struct timespec rem = ms;
			while (nanosleep(&rem, &rem) != 0 && errno == EINTR)
				;
		}
		pthread_mutex_lock(&mu);
		while (turn != id || pending)
			pthread_cond_wait(&cv, &mu);
		local++;
		total++;
		turn = (id + 1) % NT;
		if (turn == 0 && ++rounds % 100 == 0)
			pending = 1;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long max = argc > 1 ? atol(argv[1]) : 0;
	pthread_t th[NT];
	int bad_ever = 0;

	/* No worker takes a turn before all locals[] are published. */
	pthread_mutex_lock(&mu);
	pending = 1;
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < NT; i++) {
		int err = pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
		if (err) {
			fprintf(stderr, "threads: pthread_create: error %d\n", err);
			return 2;
		}
	}
	pthread_mutex_lock(&mu);
	for (;;) {
		int all = 1;
		for (int i = 0; i < NT; i++)
			all &= locals[i] != NULL;
		if (all)
			break;
		pthread_mutex_unlock(&mu);
		struct timespec ts = { 0, 1000 * 1000 };
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&mu);
	}
	pending = 0;
	pthread_cond_broadcast(&cv);

	for (long reports = 1; max <= 0 || reports <= max; reports++) {
		while (!pending)
			pthread_cond_wait(&cv, &mu);
		long l[NT], sum = 0;
		int ok = 1;
		for (int i = 0; i < NT; i++) {
			l[i] = *locals[i];
			sum += l[i];
			ok &= l[i] == rounds;
		}
		ok &= sum == total && total == NT * rounds &&
		      rounds == reports * 100;
		bad_ever |= !ok;
		printf("round %ld total %ld locals %ld,%ld,%ld,%ld %s\n", rounds,
		       total, l[0], l[1], l[2], l[3], ok ? "ok" : "BAD");
		if (fflush(stdout) != 0) {
			perror("threads: write");
			return 1;
		}
		pending = 0;
		pthread_cond_broadcast(&cv);
	}
	return bad_ever;
}
