/*
 * mqueue: a POSIX message queue holding messages of several priorities.
 *
 *   mqueue NAME [notify|unlink]
 *
 * It makes the queue NAME (at most 8 messages of 32 bytes, mode 0640),
 * opened twice: for writing, and for reading without blocking. It queues
 * "a" at priority 1, "b" at 5, "c" at 3, "d" at 5, "e" at 0, prints
 * "ready" and then "tick N" every 50 ms until SIGUSR1. Then it receives
 * what is queued, printing "got PRIO TEXT" for each message and "empty"
 * once the non-blocking receive says EAGAIN, and goes on passing a count
 * through the queue, printing "echo N" for each count it sent and got
 * back at the priority it gave it. With "notify" it also registers for
 * a signal when a message arrives (mq_notify), once the queue is empty;
 * with "unlink" it removes the queue's name (mq_unlink), keeping it open.
 */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	struct mq_attr attr = { .mq_maxmsg = 8, .mq_msgsize = 32 };
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	const char *msgs[] = { "a", "b", "c", "d", "e" };
	unsigned prios[] = { 1, 5, 3, 5, 0 };
	char buf[32];
	unsigned prio;

	if (argc < 2) {
		fprintf(stderr, "usage: mqueue NAME [notify|unlink]\n");
		return 2;
	}
	signal(SIGUSR1, on_usr1);
	mqd_t w = mq_open(argv[1], O_WRONLY | O_CREAT | O_EXCL, 0640, &attr);
	if (w < 0)
		die("mqueue: mq_open");
	mqd_t r = mq_open(argv[1], O_RDONLY | O_NONBLOCK);
	if (r < 0)
		die("mqueue: mq_open for reading");
	for (int i = 0; i < 5; i++)
		if (mq_send(w, msgs[i], strlen(msgs[i]), prios[i]) < 0)
			die("mqueue: mq_send");
	if (argc > 2 && strcmp(argv[2], "notify") == 0) {
		struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2 };
		signal(SIGUSR2, SIG_IGN);
		mqd_t n = mq_open(argv[1], O_RDONLY);
		if (n < 0 || mq_notify(n, &ev) < 0)
			/* only an empty queue's registration fires, but any may register */
			die("mqueue: mq_notify");
	}
	if (argc > 2 && strcmp(argv[2], "unlink") == 0 && mq_unlink(argv[1]) < 0)
		die("mqueue: mq_unlink");
	printf("ready\n");
	fflush(stdout);
	for (long n = 1; !go; n++) {
		printf("tick %ld\n", n);
		fflush(stdout);
		nanosleep(&ts, NULL);
	}
	for (;;) {
		ssize_t len = mq_receive(r, buf, sizeof buf, &prio);
		if (len < 0 && errno == EAGAIN)
			break;
		if (len < 0)
			die("mqueue: mq_receive");
		printf("got %u %.*s\n", prio, (int)len, buf);
	}
	printf("empty\n");
	fflush(stdout);
	for (long n = 1;; n++) {
		int len = snprintf(buf, sizeof buf, "%ld", n);
		if (mq_send(w, buf, len, n % 4) < 0)
			die("mqueue: mq_send");
		char got[32];
		ssize_t l;
		while ((l = mq_receive(r, got, sizeof got, &prio)) < 0 && errno == EAGAIN)
			nanosleep(&ts, NULL);
		if (l < 0)
			die("mqueue: mq_receive");
		if (l != len || memcmp(got, buf, len) != 0 || prio != (unsigned)(n % 4)) {
			printf("BAD %ld: got %u %.*s\n", n, prio, (int)l, got);
			return 1;
		}
		printf("echo %ld\n", n);
		fflush(stdout);
		nanosleep(&ts, NULL);
	}
}
