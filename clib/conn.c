/*
 * conn.c: the process's one connection to its agent, cr_init, and the
 * thread that reads the agent's messages.
 *
 * The reader blocks in read(2) on a plain blocking socket. That is what
 * lets a restarted copy wake up connected to its new agent: cr_restart puts
 * a new connection at the same descriptor number, and the first thing on
 * it is "restarted" (docs/libcr-protocol.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

struct cri_state cri = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
	.send_mu = PTHREAD_MUTEX_INITIALIZER,
	.fd = -1,
};

static __thread int thread_id = -1; /* cr_init's answer for this thread */
static int next_id;

int cri_thread_inited(void) { return thread_id >= 0 || cri_in_callback(); }

int cri_send_locked(const char *line)
{
	size_t len = strlen(line), done = 0;
	if (cri.fd < 0) {
		errno = EPIPE;
		return -1;
	}
	while (done < len) {
		ssize_t k = send(cri.fd, line + done, len - done, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		done += (size_t)k;
	}
	return 0;
}

int cri_send(const char *line)
{
	sigset_t old;
	cri_lock(&cri.send_mu, &old);
	int r = cri_send_locked(line);
	int e = errno;
	cri_unlock(&cri.send_mu, &old);
	errno = e;
	return r;
}

/* dispatch hands one message on. */
static void dispatch(const struct cri_event *ev)
{
	if (!strcmp(ev->ev, "prepare")) {
		cri_prepare(ev);
		return;
	}
	pthread_mutex_lock(&cri.mu);
	if (!strcmp(ev->ev, "done")) {
		if (ev->id == cri.round_id && !cri.round_over) {
			cri.round_over = 1;
			cri.round_status = ev->error[0] ? (ev->status ? ev->status : -1) : 0;
			cri.round_code = ev->error[0] ? ev->code : 0;
			snprintf(cri.round_error, sizeof cri.round_error, "%s", ev->error);
			if (ev->error[0])
				cri_cs_end(); /* abandoned: the program's critical sections go on */
		}
	} else if (!strcmp(ev->ev, "restarted")) {
		cri.restarts++;
		cri.direct = 0; /* the connection is now the new agent's */
		snprintf(cri.restart_path, sizeof cri.restart_path, "%s", ev->path);
		cri.restart_requester = ev->requester;
		if (cri.round_id && !cri.round_over) {
			cri.round_over = 1;
			cri.round_restarted = 1;
		}
		cri_restarted_requests();
	} else if (!strcmp(ev->ev, "reply")) {
		cri_reply_arrived(ev);
	}
	pthread_cond_broadcast(&cri.cv);
	cri_changed();
	pthread_mutex_unlock(&cri.mu);
}

/* lose ends every wait: the agent went away (or never took us). */
static void lose(int for_good)
{
	pthread_mutex_lock(&cri.mu);
	cri.lost = for_good;
	cri.direct = 0;
	if (cri.round_id && !cri.round_over) {
		cri.round_over = 1;
		cri.round_status = -1;
		snprintf(cri.round_error, sizeof cri.round_error, "connection to agent pid %d lost", (int)cri.agent);
	}
	cri_lost_requests();
	pthread_cond_broadcast(&cri.cv);
	cri_changed();
	pthread_mutex_unlock(&cri.mu);
	/* Then the descriptor, once no one is sending on it (a request
	 * waiting for want_fd with send_mu held has just been woken). */
	pthread_mutex_lock(&cri.send_mu);
	if (cri.fd >= 0)
		close(cri.fd);
	cri.fd = -1;
	pthread_mutex_unlock(&cri.send_mu);
}

/* read_loop hands on what fd brings until it ends. */
static void read_loop(int fd)
{
	char *buf = malloc(CRI_MAX_LINE + 1);
	struct cri_event *ev = malloc(sizeof *ev);
	size_t have = 0;
	if (!buf || !ev)
		goto out;
	for (;;) {
		ssize_t k = read(fd, buf + have, CRI_MAX_LINE - have);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		have += (size_t)k;
		char *nl;
		while ((nl = memchr(buf, '\n', have))) {
			*nl = 0;
			if (cri_decode(buf, ev) < 0 || (!ev->ev[0] && ev->bare.present && !ev->bare.ok))
				goto out; /* not our protocol, or the agent turned us away */
			dispatch(ev);
			size_t used = (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have - used);
			have -= used;
		}
		if (have == CRI_MAX_LINE)
			break; /* a line too long: a protocol error */
	}
out:
	free(buf);
	free(ev);
}

static void *reader(void *arg)
{
	read_loop((int)(intptr_t)arg);
	lose(1);
	return NULL;
}

/* cri_spawn starts a detached library thread that no signal reaches, so
 * that signal-context callbacks run only in the threads that registered
 * them. */
int cri_spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	pthread_attr_t a;
	sigset_t all, old;
	sigfillset(&all);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&t, &a, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	if (r) {
		errno = r;
		return -1;
	}
	return 0;
}

static int listen_fd = -1; /* without an agent: where cr_checkpoint finds us */

/* serve takes the connections of cr_checkpoint to the listener, one at a
 * time, and plays the client's part on each as on an agent's
 * (docs/libcr-protocol.md, "Without an agent"). After a restart the
 * connection it was reading is the new agent's, and it reads that one
 * until it ends. */
static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				usleep(100000);
			continue;
		}
		struct ucred cr;
		socklen_t cl = sizeof cr;
		uid_t me = geteuid();
		if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || (cr.uid != me && cr.uid != 0)) {
			close(c); /* only our own user, or root, checkpoints us */
			continue;
		}
		char hello[64];
		snprintf(hello, sizeof hello, "{\"op\":\"hello\",\"fd\":%d}\n", c);
		pthread_mutex_lock(&cri.send_mu);
		pthread_mutex_lock(&cri.mu);
		cri.fd = c;
		cri.agent = cr.pid;
		cri.direct = 1;
		cri.lost = 0;
		pthread_mutex_unlock(&cri.mu);
		int r = cri_send_locked(hello);
		pthread_mutex_unlock(&cri.send_mu);
		if (r == 0)
			read_loop(c);
		lose(0);
	}
	return NULL;
}

/* listen_locked binds @stasis-libcr-PID-RANDOM (RANDOM: 128 bits, so that
 * no one can take the name first) and starts serve; with mu held. */
static int listen_locked(void)
{
	unsigned char rnd[16];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (listen_fd >= 0)
		return 0;
	if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
		return -1;
	int n = snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "stasis-libcr-%d-", (int)getpid());
	for (int i = 0; i < 16; i++)
		n += snprintf(sa.sun_path + 1 + n, sizeof sa.sun_path - 1 - (size_t)n, "%02x", rnd[i]);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) < 0 ||
	    listen(fd, 8) < 0) {
		close(fd);
		return -1;
	}
	listen_fd = fd;
	if (cri_spawn(serve, NULL) < 0) {
		close(fd);
		listen_fd = -1;
		return -1;
	}
	return 0;
}

/* connect_locked connects the process to its agent, or without one
 * listens for cr_checkpoint; with mu held. */
static int connect_locked(void)
{
	pid_t agent;
	char hello[64];
	if (cri.pid == getpid() && ((cri.fd >= 0 && !cri.lost) || listen_fd >= 0))
		return 0;
	int fd = cri_find_agent(&agent);
	if (fd < 0) {
		if (errno != CR_ENOSUPPORT || listen_locked() < 0)
			return -1;
		cri.pid = getpid();
		return 0;
	}
	snprintf(hello, sizeof hello, "{\"op\":\"hello\",\"fd\":%d}\n", fd);
	cri.fd = fd;
	cri.agent = agent;
	cri.pid = getpid();
	cri.lost = 0;
	if (cri_send_locked(hello) < 0 || cri_spawn(reader, (void *)(intptr_t)fd) < 0) {
		int e = errno;
		close(fd);
		cri.fd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

/* cri_agent says whether an agent takes our requests: 0, or -1 with
 * errno (CR_ENOSUPPORT: none; cr_checkpoint, which may be talking to us,
 * takes none). */
int cri_agent(void)
{
	if (cri_connected() < 0)
		return -1;
	sigset_t old;
	cri_lock(&cri.mu, &old);
	int ok = cri.fd >= 0 && !cri.direct;
	cri_unlock(&cri.mu, &old);
	if (!ok) {
		errno = CR_ENOSUPPORT;
		return -1;
	}
	return 0;
}

int cri_connected(void)
{
	if (!cri_thread_inited()) {
		errno = CR_ENOINIT;
		return -1;
	}
	sigset_t old;
	cri_lock(&cri.mu, &old);
	int r = connect_locked();
	int e = errno;
	cri_unlock(&cri.mu, &old);
	errno = e;
	return r;
}

/* A forked child shares its parent's connection: it lets go of it, and
 * connects again (as itself) on its next cr_init. */
static void child(void)
{
	pthread_mutex_init(&cri.mu, NULL);
	pthread_mutex_init(&cri.send_mu, NULL);
	pthread_cond_init(&cri.cv, NULL);
	if (cri.fd >= 0)
		close(cri.fd);
	if (listen_fd >= 0)
		close(listen_fd); /* the parent's: we make our own */
	cri.fd = listen_fd = -1;
	cri.pid = 0;
	cri.round_id = 0;
	cri.direct = 0;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void setup(void) { pthread_atfork(NULL, NULL, child); }

cr_client_id_t cr_init(void)
{
	pthread_once(&once, setup);
	sigset_t old;
	cri_lock(&cri.mu, &old);
	int r = connect_locked();
	int e = errno;
	if (r == 0 && thread_id < 0)
		thread_id = next_id++;
	int id = thread_id;
	cri_unlock(&cri.mu, &old);
	if (r < 0) {
		errno = e;
		return -1;
	}
	return id;
}
