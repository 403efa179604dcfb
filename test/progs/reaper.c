/*
 * reaper: a parent that keeps exact accounts of its children.
 *
 *   reaper
 *
 * Round after round it forks a child that sleeps 20 ms and exits with
 * status N % 100, and waits for it with wait(-1). It counts the SIGCHLDs it
 * receives (a handler without SA_RESTART, so wait may return EINTR and is
 * called again), and checks after every round that wait returned that
 * child with that status, that it has received exactly one SIGCHLD per
 * child, and that waitpid(-1, WNOHANG) then finds no child at all
 * (ECHILD). Prints "round N sigchld N ok", or "round N BAD: ..." and exits
 * 1. A checkpointer's helper process that it could see as a child (one it
 * is told of, or can wait for) breaks the accounts.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t sigchld;

static void onchld(int sig)
{
	(void)sig;
	sigchld++;
}

static int bad(long n, const char *what, long a, long b)
{
	printf("round %ld BAD: %s (%ld, %ld)\n", n, what, a, b);
	fflush(stdout);
	return 1;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = onchld;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	for (long n = 1;; n++) {
		pid_t pid = fork();
		if (pid < 0)
			return bad(n, "fork failed", errno, 0);
		if (pid == 0) {
			struct timespec ts = {0, 20 * 1000 * 1000};
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
			_exit(n % 100);
		}
		int st;
		pid_t got;
		while ((got = wait(&st)) < 0 && errno == EINTR)
			;
		if (got != pid)
			return bad(n, "wait returned another pid", got, pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != n % 100)
			return bad(n, "wrong status", st, n % 100);
		if (sigchld != n)
			return bad(n, "SIGCHLDs received", sigchld, n);
		got = waitpid(-1, &st, WNOHANG);
		if (got != -1 || errno != ECHILD)
			return bad(n, "waitpid(-1, WNOHANG) found a child", got, errno);
		printf("round %ld sigchld %ld ok\n", n, (long)sigchld);
		fflush(stdout);
	}
}
