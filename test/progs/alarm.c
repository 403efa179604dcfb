/*
 * alarm: counts the SIGALRMs of a 1 ms ITIMER_REAL.
 *
 * Prints "tick N" each time another 100 SIGALRMs have come. A checkpoint
 * freezes it for longer than a millisecond, so the timer expires while it
 * is frozen, with SIGALRM pending: the timer must still run after a
 * restart.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t alarms;

static void onalrm(int sig)
{
	(void)sig;
	alarms++;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = onalrm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
	if (setitimer(ITIMER_REAL, &it, NULL) != 0) {
		perror("alarm: setitimer");
		return 1;
	}
	long printed = 0;
	for (;;) {
		pause();
		while (alarms / 100 > printed) {
			printf("tick %ld\n", ++printed);
			fflush(stdout);
		}
	}
}
