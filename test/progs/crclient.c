/*
 * crclient: a C program that takes part in its own checkpoints through
 * libcr (built by TestLibcrC against the installed header and library).
 *
 * Every 50 ms the main thread appends the next number to crclient.out. A
 * thread-context callback flushes and closes that file before each
 * checkpoint and reopens it after, so the numbers go on without a gap or a
 * repeat across restarts. The main thread and a worker thread each have a
 * signal-context callback. Files in the working directory make the
 * thread-context callback answer otherwise: "tempfail", "tempcode"
 * (CR_CHECKPOINT_TEMP_FAILURE_CODE(911)), "omit",
 * "permfail", "slow" (sleep 4 s first), and misbehave: "hang" (never
 * return), "crash" (abort). SIGUSR1: hold a critical section
 * for 2 s; SIGUSR2: checkpoint itself to self.img through
 * cr_request_checkpoint and cr_poll_checkpoint. Everything it sees goes
 * to crclient.log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libcr.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static FILE *out;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static int logfd;
static int rounds;
static volatile sig_atomic_t want_cs, want_self;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	char b[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof b - 1, fmt, ap);
	va_end(ap);
	b[n++] = '\n';
	write(logfd, b, (size_t)n);
}

/* Async-signal-safe: only write(2). */
static void sig_log(const char *who, int rc)
{
	char b[128];
	const char *what = rc > 0 ? ": restarted\n" : rc == 0 ? ": continued\n" : ": failed\n";
	size_t a = strlen(who), w = strlen(what);
	memcpy(b, "signal cb ", 10);
	memcpy(b + 10, who, a);
	memcpy(b + 10 + a, what, w);
	write(logfd, b, 10 + a + w);
}

static int main_sig_cb(void *arg)
{
	(void)arg;
	sig_log("main", cr_checkpoint(CR_CHECKPOINT_READY));
	return 0;
}

static int worker_sig_cb(void *arg)
{
	(void)arg;
	sig_log("worker", cr_checkpoint(CR_CHECKPOINT_READY));
	return 0;
}

static int exists(const char *f) { return access(f, F_OK) == 0; }

static int flush_and_reopen(void *arg)
{
	const char *path = arg;
	const struct cr_checkpoint_info *ci = cr_get_checkpoint_info();
	int n = ++rounds, rc;
	logf_("callback %d requester=%d dest=%s scope=%d status=%d", n, (int)ci->requester, ci->dest, (int)ci->scope, cr_status());
	if (exists("slow"))
		sleep(4); /* longer than the --time the test gives */
	if (exists("hang")) {
		logf_("callback %d hangs", n);
		for (;;)
			sleep(1000);
	}
	if (exists("crash")) {
		logf_("callback %d crashes", n);
		abort();
	}
	if (exists("tempfail")) {
		rc = cr_checkpoint(CR_CHECKPOINT_TEMP_FAILURE);
		logf_("callback %d tempfail: %d %s", n, rc, cr_strerror(-rc));
		return 0;
	}
	if (exists("tempcode")) {
		rc = cr_checkpoint(CR_CHECKPOINT_TEMP_FAILURE_CODE(911));
		logf_("callback %d tempcode: %d", n, rc);
		return 0;
	}
	if (exists("omit")) {
		rc = cr_checkpoint(CR_CHECKPOINT_OMIT);
		logf_("callback %d omit: %d %s", n, rc, cr_strerror(-rc));
		return 0;
	}
	if (exists("permfail")) {
		rc = cr_checkpoint(CR_CHECKPOINT_PERM_FAILURE);
		logf_("callback %d permfail returned: %d", n, rc);
		return 0;
	}
	pthread_mutex_lock(&out_mu);
	fclose(out); /* flushes; no descriptor of it goes into the image */
	rc = cr_checkpoint(CR_CHECKPOINT_READY);
	out = fopen(path, "a");
	pthread_mutex_unlock(&out_mu);
	if (rc > 0) {
		const struct cr_restart_info *ri = cr_get_restart_info();
		logf_("callback %d after: restarted from %s by %d", n, ri ? ri->src : "?", ri ? (int)ri->requester : 0);
	} else if (rc == 0)
		logf_("callback %d after: continued", n);
	else
		logf_("callback %d after: failed %d %s", n, rc, cr_strerror(-rc));
	return 0;
}

static void *worker(void *arg)
{
	(void)arg;
	if (cr_init() < 0 || cr_register_callback(worker_sig_cb, NULL, CR_SIGNAL_CONTEXT) < 0) {
		logf_("worker: error %s", cr_strerror(errno));
		return NULL;
	}
	for (;;)
		pause();
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		want_cs = 1;
	else
		want_self = 1;
}

static void self_checkpoint(void)
{
	cr_checkpoint_args_t a;
	cr_checkpoint_handle_t h;
	int fd = open("self.img", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || cr_initialize_checkpoint_args_t(&a) < 0) {
		logf_("self: error %s", strerror(errno));
		return;
	}
	a.cr_fd = fd;
	a.cr_scope = CR_SCOPE_PROC;
	if (cr_request_checkpoint(&a, &h) < 0) {
		logf_("self: error cr_request_checkpoint: %s", cr_strerror(errno));
		close(fd);
		return;
	}
	int rc;
	do
		rc = cr_poll_checkpoint(&h, NULL);
	while (rc == CR_POLL_CHKPT_ERR_PRE && errno == EINTR);
	if (rc > 0)
		logf_("self: continued");
	else if (rc == CR_POLL_CHKPT_ERR_POST && errno == CR_ERESTARTED)
		logf_("self: restarted");
	else
		logf_("self: error %d %s", rc, cr_strerror(errno));
	close(fd);
}

int main(void)
{
	const char *path = "crclient.out";
	logfd = open("crclient.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	out = fopen(path, "a");
	if (logfd < 0 || !out)
		return 2;
	cr_client_id_t id = cr_init();
	if (id < 0) {
		logf_("cr_init: %s", cr_strerror(errno));
		return 1;
	}
	if (cr_register_callback(flush_and_reopen, (void *)path, CR_THREAD_CONTEXT) < 0 ||
	    cr_register_callback(main_sig_cb, NULL, CR_SIGNAL_CONTEXT) < 0) {
		logf_("register: %s", cr_strerror(errno));
		return 1;
	}
	pthread_t t;
	pthread_create(&t, NULL, worker, NULL);
	signal(SIGUSR1, on_signal);
	signal(SIGUSR2, on_signal);
	logf_("ready status=%d", cr_status());
	for (long tick = 1;; tick++) {
		pthread_mutex_lock(&out_mu);
		fprintf(out, "%ld\n", tick);
		fflush(out);
		pthread_mutex_unlock(&out_mu);
		if (tick % 20 == 0)
			logf_("tick %ld", tick);
		if (want_cs) {
			want_cs = 0;
			cr_enter_cs(id);
			logf_("cs entered");
			sleep(2);
			logf_("cs left");
			cr_leave_cs(id);
		}
		if (want_self) {
			want_self = 0;
			self_checkpoint();
		}
		usleep(50000);
	}
}
