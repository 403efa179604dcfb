/*
 * syscalls: spends nearly all its time blocked in one system call, so that a
 * checkpoint catches it there and the restart must resume the call.
 *
 *   syscalls nanosleep [MS]   "tick N" then nanosleep(MS, default 200) ms
 *   syscalls read             "ready", then "got LINE" for each line read
 *                             from stdin with read(2); "eof" and exit 0 at EOF
 *   syscalls epollnest        the same as read, but waits before each read
 *                             in epoll_wait on an epoll instance A that
 *                             watches a second one, B, with a higher fd
 *                             number, which watches stdin
 *   syscalls futex [MS]       a ticker thread signals a condvar every MS
 *                             (default 1000) ms; main waits on it and
 *                             prints "woke N"
 *   syscalls epoll            epoll_wait on a timerfd (100 ms interval) and
 *                             an eventfd: "timer N exp E total T" for each
 *                             timerfd wakeup (E expirations read, T their
 *                             running sum); on every 10th wakeup it writes
 *                             the eventfd, and prints "event K" when epoll
 *                             reports it
 * Every line is flushed. N and K grow by exactly one per line.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (fflush(stdout) != 0) {
		perror("syscalls: write");
		exit(1);
	}
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static __attribute__((noreturn)) void mode_nanosleep(long ms)
{
	for (long n = 1;; n++) {
		out("tick %ld\n", n);
		sleep_ms(ms);
	}
}

static int nest_a = -1, nest_b = -1;

/* nest makes epoll A watch epoll B, with a higher fd number, which watches
 * stdin. */
static void nest(void)
{
	nest_a = epoll_create1(EPOLL_CLOEXEC);
	nest_b = epoll_create1(EPOLL_CLOEXEC);
	if (nest_a < 0 || nest_b < 0)
		die("syscalls: epoll_create1");
	if (nest_a > nest_b) {
		int t = nest_a;
		nest_a = nest_b;
		nest_b = t;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = 0 };
	if (epoll_ctl(nest_b, EPOLL_CTL_ADD, 0, &ev) != 0)
		die("syscalls: epoll_ctl stdin");
	ev.data.fd = nest_b;
	if (epoll_ctl(nest_a, EPOLL_CTL_ADD, nest_b, &ev) != 0)
		die("syscalls: epoll_ctl epoll");
}

/* nest_wait returns once A reports B, and B stdin, ready. */
static void nest_wait(void)
{
	struct epoll_event ev;
	int r;
	while ((r = epoll_wait(nest_a, &ev, 1, -1)) < 0 && errno == EINTR)
		;
	if (r != 1 || ev.data.fd != nest_b) {
		fprintf(stderr, "syscalls: epoll_wait A: %d, fd %d (want B, fd %d)\n", r, ev.data.fd, nest_b);
		exit(2);
	}
	r = epoll_wait(nest_b, &ev, 1, 0);
	if (r != 1 || ev.data.fd != 0) {
		fprintf(stderr, "syscalls: epoll_wait B: %d, fd %d (want stdin)\n", r, ev.data.fd);
		exit(2);
	}
}

static int mode_read(int nested)
{
	char buf[4096];
	size_t len = 0;

	if (nested)
		nest();
	out("ready\n");
	for (;;) {
		if (nested)
			nest_wait();
		ssize_t r = read(0, buf + len, sizeof buf - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("syscalls: read");
		}
		if (r == 0) {
			if (len > 0)
				out("got %.*s\n", (int)len, buf);
			out("eof\n");
			return 0;
		}
		len += (size_t)r;
		char *nl;
		while ((nl = memchr(buf, '\n', len)) != NULL) {
			size_t line = (size_t)(nl - buf);
			out("got %.*s\n", (int)line, buf);
			memmove(buf, nl + 1, len - line - 1);
			len -= line + 1;
		}
		if (len == sizeof buf) {
			out("got %.*s\n", (int)len, buf);
			len = 0;
		}
	}
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long ticks;

static void *ticker(void *arg)
{
	long ms = *(long *)arg;
	for (;;) {
		sleep_ms(ms);
		pthread_mutex_lock(&mu);
		ticks++;
		pthread_cond_signal(&cv);
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

static __attribute__((noreturn)) void mode_futex(long ms)
{
	pthread_t th;
	static long period;
	long seen = 0;

	period = ms;
	int err = pthread_create(&th, NULL, ticker, &period);
	if (err) {
		errno = err;
		die("syscalls: pthread_create");
	}
	pthread_mutex_lock(&mu);
	for (;;) {
		while (ticks == seen)
			pthread_cond_wait(&cv, &mu);
		/* One line per tick, even if several came while printing. */
		seen++;
		out("woke %ld\n", seen);
	}
}

static __attribute__((noreturn)) void mode_epoll(void)
{
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (tfd < 0 || efd < 0 || ep < 0)
		die("syscalls: timerfd/eventfd/epoll");
	struct itimerspec its = { { 0, 100000000L }, { 0, 100000000L } };
	if (timerfd_settime(tfd, 0, &its, NULL) != 0)
		die("syscalls: timerfd_settime");
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = tfd };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) != 0)
		die("syscalls: epoll_ctl timerfd");
	ev.data.fd = efd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) != 0)
		die("syscalls: epoll_ctl eventfd");

	long n = 0, k = 0;
	uint64_t total = 0;
	for (;;) {
		struct epoll_event evs[2];
		int r = epoll_wait(ep, evs, 2, -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("syscalls: epoll_wait");
		}
		for (int i = 0; i < r; i++) {
			uint64_t v;
			if (evs[i].data.fd == tfd) {
				ssize_t got = read(tfd, &v, sizeof v);
				if (got < 0 && errno == EAGAIN)
					continue;
				if (got != sizeof v)
					die("syscalls: read timerfd");
				total += v;
				n++;
				out("timer %ld exp %llu total %llu\n", n,
				    (unsigned long long)v,
				    (unsigned long long)total);
				if (n % 10 == 0) {
					v = 1;
					if (write(efd, &v, sizeof v) != sizeof v)
						die("syscalls: write eventfd");
				}
			} else {
				ssize_t got = read(efd, &v, sizeof v);
				if (got < 0 && errno == EAGAIN)
					continue;
				if (got != sizeof v)
					die("syscalls: read eventfd");
				for (uint64_t j = 0; j < v; j++)
					out("event %ld\n", ++k);
			}
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: syscalls nanosleep|read|epollnest|futex|epoll [MS]\n");
		return 2;
	}
	const char *mode = argv[1];
	long ms = argc > 2 ? atol(argv[2]) : 0;
	if (strcmp(mode, "nanosleep") == 0)
		mode_nanosleep(ms > 0 ? ms : 200);
	if (strcmp(mode, "read") == 0)
		return mode_read(0);
	if (strcmp(mode, "epollnest") == 0)
		return mode_read(1);
	if (strcmp(mode, "futex") == 0)
		mode_futex(ms > 0 ? ms : 1000);
	if (strcmp(mode, "epoll") == 0)
		mode_epoll();
	fprintf(stderr, "syscalls: unknown mode %s\n", mode);
	return 2;
}
