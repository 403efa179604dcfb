/*
 * ids: what a process knows of its own ids and clocks, printed so that a
 * test can tell whether a restart kept them.
 *
 *   ids [fork]
 *
 * Main and two threads. Every 100 ms main prints
 *   tick N pid P tids T0,T1,T2 start S0,S1,S2 timer K mono M boot B clocks C
 * and, with "fork", " child Q ppid R n X" at the end.
 * P is getpid(); Ti is what gettid() returns in thread i now (i = 0 is
 * main), Si what it returned when the thread started (what a library
 * remembers); K counts the signals of a POSIX timer aimed at thread 1
 * (SIGEV_THREAD_ID) every 10 ms; M and B are CLOCK_MONOTONIC and
 * CLOCK_BOOTTIME in ms; C is "ok" while neither clock was ever seen to go
 * backwards, "BACK" for ever after. With "fork", a child started first
 * sends its pid, its parent's pid and a count through a pipe every 20 ms;
 * Q, R and X are the last it sent.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

static volatile int start[3], cur[3];
static volatile long timer_hits;

static long long ms(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void nap(long nsec)
{
	struct timespec ts = { 0, nsec };
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void on_timer(int sig)
{
	(void)sig;
	timer_hits++;
}

static void *worker(void *arg)
{
	int i = (int)(long)arg;
	start[i] = syscall(SYS_gettid);
	if (i == 1) {
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, SIGUSR1);
		pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	}
	for (;;) {
		cur[i] = syscall(SYS_gettid);
		nap(10 * 1000 * 1000);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int fds[2] = { -1, -1 };
	long child[3] = { 0, 0, 0 };
	if (argc > 1 && strcmp(argv[1], "fork") == 0) {
		if (pipe(fds) != 0) {
			perror("ids: pipe");
			return 1;
		}
		pid_t c = fork();
		if (c < 0) {
			perror("ids: fork");
			return 1;
		}
		if (c == 0) {
			close(fds[0]);
			for (long n = 1;; n++) {
				long msg[3] = { getpid(), getppid(), n };
				if (write(fds[1], msg, sizeof msg) != sizeof msg)
					_exit(1);
				nap(20 * 1000 * 1000);
			}
		}
		close(fds[1]);
		fcntl(fds[0], F_SETFL, O_NONBLOCK);
	}
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	signal(SIGUSR1, on_timer);
	start[0] = cur[0] = syscall(SYS_gettid);
	pthread_t th[2];
	for (long i = 1; i <= 2; i++)
		pthread_create(&th[i - 1], NULL, worker, (void *)i);
	while (!start[1] || !start[2])
		nap(1000 * 1000);

	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_THREAD_ID;
	ev.sigev_signo = SIGUSR1;
	ev._sigev_un._tid = start[1];
	timer_t t;
	if (timer_create(CLOCK_MONOTONIC, &ev, &t) != 0) {
		perror("ids: timer_create");
		return 1;
	}
	struct itimerspec its = { { 0, 10 * 1000 * 1000 }, { 0, 10 * 1000 * 1000 } };
	timer_settime(t, 0, &its, NULL);

	long long last_mono = ms(CLOCK_MONOTONIC), last_boot = ms(CLOCK_BOOTTIME);
	int back = 0;
	for (long tick = 1;; tick++) {
		for (int k = 0; k < 10; k++) {
			long long m = ms(CLOCK_MONOTONIC), b = ms(CLOCK_BOOTTIME);
			if (m < last_mono || b < last_boot)
				back = 1;
			last_mono = m;
			last_boot = b;
			nap(10 * 1000 * 1000);
		}
		cur[0] = syscall(SYS_gettid);
		if (fds[0] >= 0) {
			long msg[3];
			while (read(fds[0], msg, sizeof msg) == sizeof msg)
				memcpy(child, msg, sizeof msg);
		}
		printf("tick %ld pid %d tids %d,%d,%d start %d,%d,%d timer %ld mono %lld boot %lld clocks %s",
		       tick, getpid(), cur[0], cur[1], cur[2], start[0], start[1], start[2], timer_hits,
		       last_mono, last_boot, back ? "BACK" : "ok");
		if (fds[0] >= 0)
			printf(" child %ld ppid %ld n %ld", child[0], child[1], child[2]);
		printf("\n");
		fflush(stdout);
	}
}
