/*
 * cs.c: critical sections, cr_status, spinlocks. All of it is lock free
 * (one atomic word and futexes), so every call here is safe in a signal
 * handler, as BLCR promises.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* The count of open sections, and whether a checkpoint waits for them to
 * end (PENDING) or runs (ACTIVE). */
#define COUNT 0x00ffffff
#define PENDING 0x10000000
#define ACTIVE 0x20000000
static int word;

void cri_futex_wait(int *addr, int val)
{
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wait_ms(int *addr, int val, long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

int cri_gen;

void cri_changed(void)
{
	__atomic_add_fetch(&cri_gen, 1, __ATOMIC_ACQ_REL);
	cri_futex_wake(&cri_gen);
}

void cri_wait_change(int gen, long ms)
{
	if (__atomic_load_n(&cri_gen, __ATOMIC_ACQUIRE) != gen)
		return;
	if (ms >= 0)
		futex_wait_ms(&cri_gen, gen, ms);
	else
		cri_futex_wait(&cri_gen, gen);
}

void cri_lock(pthread_mutex_t *m, sigset_t *old)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, CR_SIGNUM);
	pthread_sigmask(SIG_BLOCK, &s, old);
	pthread_mutex_lock(m);
}

void cri_unlock(pthread_mutex_t *m, const sigset_t *old)
{
	pthread_mutex_unlock(m);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

void cri_futex_wake(int *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static int check(cr_client_id_t id)
{
	if (id == CR_ID_CALLBACK && cri_in_callback())
		return 1; /* sections inside a callback return at once */
	if (!cri_thread_inited()) {
		errno = CR_ENOINIT;
		return -1;
	}
	if (id < 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int cr_enter_cs(cr_client_id_t id)
{
	int c = check(id);
	if (c)
		return c < 0 ? -1 : 0;
	for (;;) {
		int s = __atomic_load_n(&word, __ATOMIC_ACQUIRE);
		if (s & ACTIVE) {
			cri_futex_wait(&word, s);
			continue;
		}
		if ((s & COUNT) == COUNT) {
			errno = ENOSPC;
			return -1;
		}
		if (__atomic_compare_exchange_n(&word, &s, s + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return 0;
	}
}

int cr_tryenter_cs(cr_client_id_t id)
{
	int c = check(id);
	if (c)
		return c < 0 ? -1 : 0;
	for (;;) {
		int s = __atomic_load_n(&word, __ATOMIC_ACQUIRE);
		if (s & (ACTIVE | PENDING) || (s & COUNT) == COUNT)
			return 1;
		if (__atomic_compare_exchange_n(&word, &s, s + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return 0;
	}
}

int cr_leave_cs(cr_client_id_t id)
{
	int c = check(id);
	if (c)
		return c < 0 ? -1 : 0;
	for (;;) {
		int s = __atomic_load_n(&word, __ATOMIC_ACQUIRE);
		if ((s & COUNT) == 0) {
			errno = EINVAL; /* more leaves than enters */
			return -1;
		}
		if (__atomic_compare_exchange_n(&word, &s, s - 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			if ((s & COUNT) == 1 && (s & PENDING))
				cri_futex_wake(&word); /* the checkpoint may go ahead */
			return 0;
		}
	}
}

/* cri_cs_wait marks a checkpoint pending and waits until no section is
 * open, then marks it active (which holds new sections back). It gives up,
 * returning -1, when *over becomes set (the agent gave up on us). */
int cri_cs_wait(const volatile int *over)
{
	__atomic_or_fetch(&word, PENDING, __ATOMIC_ACQ_REL);
	for (;;) {
		int s = __atomic_load_n(&word, __ATOMIC_ACQUIRE);
		if ((s & COUNT) == 0) {
			if (__atomic_compare_exchange_n(&word, &s, (s & ~PENDING) | ACTIVE, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				return 0;
			continue;
		}
		if (*over) {
			cri_cs_end();
			return -1;
		}
		futex_wait_ms(&word, s, 100);
	}
}

void cri_cs_end(void)
{
	__atomic_and_fetch(&word, ~(PENDING | ACTIVE), __ATOMIC_ACQ_REL);
	cri_futex_wake(&word);
}

int cr_status(void)
{
	if (!cri_thread_inited()) {
		errno = CR_ENOINIT;
		return -1;
	}
	int s = __atomic_load_n(&word, __ATOMIC_ACQUIRE);
	if (s & ACTIVE)
		return CR_STATE_ACTIVE;
	if (s & PENDING)
		return CR_STATE_PENDING;
	return CR_STATE_IDLE;
}

void cr_spinlock_init(cr_spinlock_t *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

void cr_spinlock_lock(cr_spinlock_t *l)
{
	while (!cr_spinlock_trylock(l))
		while (__atomic_load_n(l, __ATOMIC_RELAXED))
			__asm__ volatile("" ::: "memory");
}

void cr_spinlock_unlock(cr_spinlock_t *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

int cr_spinlock_trylock(cr_spinlock_t *l)
{
	return __atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE) == 0;
}
