/*
 * request.c: checkpoints the program asks for (cr_request_checkpoint and
 * the calls that wait for, poll and reap them), sent to the agent on the
 * libcr connection and answered there (docs/libcr-protocol.md). A copy
 * restarted from the image finds its request ended with CR_ERESTARTED.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

enum { PENDING, DONE, RESTARTED };

#define MAX_REQS 64

struct req {
	uint64_t id; /* 0: free */
	int state, want_fd, ok, status, code;
	char error[CRI_MAX_TEXT];
};

static struct req reqs[MAX_REQS]; /* guarded by cri.mu */
static uint64_t next_req;

static struct req *find(uint64_t id)
{
	for (int i = 0; id && i < MAX_REQS; i++)
		if (reqs[i].id == id)
			return &reqs[i];
	return NULL;
}

/* lock_req locks cri.mu (cri_lock) and finds handle's request; NULL
 * (unlocked, errno EINVAL) if there is none. */
static struct req *lock_req(const cr_checkpoint_handle_t *handle, sigset_t *old)
{
	cri_lock(&cri.mu, old);
	struct req *r = handle ? find(*handle) : NULL;
	if (!r) {
		cri_unlock(&cri.mu, old);
		errno = EINVAL;
	}
	return r;
}

void cri_reply_arrived(const struct cri_event *ev)
{
	struct req *r = find(ev->id ? ev->id : ev->reply.id);
	if (!r || r->state != PENDING || !ev->reply.present)
		return;
	if (ev->reply.want_fd) {
		r->want_fd = 1;
		return;
	}
	r->state = DONE;
	r->ok = ev->reply.ok;
	r->status = ev->reply.status;
	r->code = ev->reply.code;
	snprintf(r->error, sizeof r->error, "%s", ev->reply.error);
}

void cri_restarted_requests(void)
{
	for (int i = 0; i < MAX_REQS; i++)
		if (reqs[i].id && reqs[i].state == PENDING)
			reqs[i].state = RESTARTED;
}

void cri_lost_requests(void)
{
	for (int i = 0; i < MAX_REQS; i++)
		if (reqs[i].id && reqs[i].state == PENDING) {
			reqs[i].state = DONE;
			reqs[i].ok = 0;
			reqs[i].status = -1;
			snprintf(reqs[i].error, sizeof reqs[i].error, "connection to agent pid %d lost", (int)cri.agent);
		}
}

int cri_init_checkpoint_args_t(cr_version_t version, cr_checkpoint_args_t *a)
{
	if (!a || version != CR_CHECKPOINT_ARGS_VERSION) {
		errno = a ? CR_EVERSION : EINVAL;
		return -1;
	}
	memset(a, 0, sizeof *a);
	a->cr_version = version;
	a->cr_scope = CR_SCOPE_PROC;
	a->cr_target = 0;
	a->cr_fd = CR_DEST_CWD;
	return 0;
}

static const char *scope_name(cr_scope_t s)
{
	switch (s) {
	case CR_SCOPE_PROC: return "process";
	case CR_SCOPE_PGRP: return "group";
	case CR_SCOPE_SESS: return "session";
	case CR_SCOPE_TREE: return "tree";
	}
	return NULL;
}

/* send_fd passes fd with one byte, as cr_checkpoint -F does. */
static int send_fd(int sock, int fd)
{
	char byte = 0, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {&byte, 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	ssize_t k;
	do
		k = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (k < 0 && errno == EINTR);
	return k == 1 ? 0 : -1;
}

int cr_request_checkpoint(cr_checkpoint_args_t *a, cr_checkpoint_handle_t *handle)
{
	if (!a || !handle) {
		errno = EINVAL;
		return -1;
	}
	if (a->cr_version != CR_CHECKPOINT_ARGS_VERSION) {
		errno = CR_EVERSION;
		return -1;
	}
	const char *scope = scope_name(a->cr_scope);
	if (!scope) {
		errno = EINVAL;
		return -1;
	}
	if (cri_agent() < 0)
		return -1;
	pid_t target = a->cr_target;
	if (target == 0)
		target = a->cr_scope == CR_SCOPE_PGRP ? getpgrp() : a->cr_scope == CR_SCOPE_SESS ? getsid(0) : getpid();
	if (target < 0) {
		errno = ESRCH;
		return -1;
	}
	if ((a->cr_flags & CR_CHKPT_PROHIBIT_SELF) &&
	    ((a->cr_scope == CR_SCOPE_PROC || a->cr_scope == CR_SCOPE_TREE) ? target == getpid()
	     : a->cr_scope == CR_SCOPE_PGRP ? target == getpgrp() : target == getsid(0))) {
		errno = EDEADLK;
		return -1;
	}
	int stream = a->cr_fd != CR_DEST_CWD;
	if (stream && fcntl(a->cr_fd, F_GETFD) < 0) {
		errno = EBADF;
		return -1;
	}
	/* scope.Policy: 0 fail, 1 skip, 2 allow; SaveFiles: exe 1, private 2, shared 4 */
	int ptraced = (a->cr_flags & CR_CHKPT_PTRACED_ALLOW) ? 2 : (a->cr_flags & CR_CHKPT_PTRACED_SKIP) ? 1 : 0;
	int ptracer = (a->cr_flags & CR_CHKPT_PTRACER_SKIP) ? 1 : 0;
	int save = ((a->cr_flags & CR_CHKPT_DUMP_EXEC) ? 1 : 0) | ((a->cr_flags & CR_CHKPT_DUMP_PRIVATE) ? 2 : 0) |
		   ((a->cr_flags & CR_CHKPT_DUMP_SHARED) ? 4 : 0);

	sigset_t old, old2;
	cri_lock(&cri.mu, &old);
	struct req *r = NULL;
	for (int i = 0; i < MAX_REQS && !r; i++)
		if (!reqs[i].id)
			r = &reqs[i];
	if (!r) {
		cri_unlock(&cri.mu, &old);
		errno = EAGAIN; /* too many unreaped requests */
		return -1;
	}
	memset(r, 0, sizeof *r);
	r->id = ++next_req;
	uint64_t id = r->id;
	cri_unlock(&cri.mu, &old);

	char line[512];
	snprintf(line, sizeof line,
		 "{\"op\":\"checkpoint\",\"id\":%llu,\"target\":%d,\"scope\":\"%s\",\"signal\":%d,\"time\":%u,"
		 "\"stream\":%s,\"save\":%d,\"ptraced\":%d,\"ptracer\":%d}\n",
		 (unsigned long long)id, (int)target, scope, a->cr_signal, a->cr_timeout,
		 stream ? "true" : "false", save, ptraced, ptracer);
	cri_lock(&cri.send_mu, &old);
	int rc = cri_send_locked(line);
	if (rc == 0 && stream) {
		/* Nothing else goes out until the agent has the descriptor (it
		 * asks at once: no checkpoint of ours waits for this one). */
		cri_lock(&cri.mu, &old2);
		while (!r->want_fd && r->state == PENDING)
			pthread_cond_wait(&cri.cv, &cri.mu);
		int want = r->want_fd && r->state == PENDING;
		cri_unlock(&cri.mu, &old2);
		if (want && cri.fd >= 0)
			rc = send_fd(cri.fd, a->cr_fd);
	}
	int e = errno;
	cri_unlock(&cri.send_mu, &old);
	if (rc < 0) {
		cri_lock(&cri.mu, &old);
		r->id = 0;
		cri_unlock(&cri.mu, &old);
		errno = e;
		return -1;
	}
	*handle = (cr_checkpoint_handle_t)id;
	return 0;
}

int cr_wait_checkpoint(cr_checkpoint_handle_t *handle, struct timeval *tv)
{
	struct timespec until;
	if (!handle) {
		errno = EINVAL;
		return -1;
	}
	if (tv) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += tv->tv_sec + (until.tv_nsec / 1000 + tv->tv_usec) / 1000000;
		until.tv_nsec = ((until.tv_nsec / 1000 + tv->tv_usec) % 1000000) * 1000;
	}
	/* Waiting holds no lock: a signal-context callback of this thread may
	 * run meanwhile (this very request may be checkpointing us). */
	sigset_t old;
	int over;
	for (;;) {
		struct req *r = lock_req(handle, &old);
		if (!r)
			return -1;
		over = r->state != PENDING;
		int gen = __atomic_load_n(&cri_gen, __ATOMIC_ACQUIRE);
		cri_unlock(&cri.mu, &old);
		if (over)
			break;
		long ms = -1;
		if (tv) {
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			ms = (until.tv_sec - now.tv_sec) * 1000L + (until.tv_nsec - now.tv_nsec) / 1000000;
			if (ms <= 0)
				break;
		}
		cri_wait_change(gen, ms);
	}
	if (tv) { /* the time left, as select(2) reports it on Linux */
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		long long left = (until.tv_sec - now.tv_sec) * 1000000LL + (until.tv_nsec - now.tv_nsec) / 1000;
		if (left < 0)
			left = 0;
		tv->tv_sec = left / 1000000;
		tv->tv_usec = left % 1000000;
	}
	return over ? 1 : 0;
}

int cr_log_checkpoint(cr_checkpoint_handle_t *handle, unsigned int len, char *msg)
{
	sigset_t old;
	struct req *r = lock_req(handle, &old);
	if (!r)
		return -1;
	int need = r->error[0] ? (int)strlen(r->error) + 2 : 0; /* the text, a newline, the NUL */
	if (need && len && msg)
		snprintf(msg, len, "%s\n", r->error);
	cri_unlock(&cri.mu, &old);
	return need;
}

static int errno_of(int status)
{
	switch (status) {
	case 50: return CR_ETEMPFAIL;
	case 51: return CR_EPERMFAIL;
	case 3: return ESRCH;
	case 110: return ETIMEDOUT;
	}
	return EIO;
}

int cr_reap_checkpoint(cr_checkpoint_handle_t *handle)
{
	sigset_t old;
	struct req *r = lock_req(handle, &old);
	if (!r)
		return -1;
	int state = r->state, ok = r->ok, status = r->status, code = r->code;
	if (state != PENDING)
		r->id = 0;
	cri_unlock(&cri.mu, &old);
	switch (state) {
	case PENDING:
		errno = EAGAIN;
		return -1;
	case RESTARTED:
		errno = CR_ERESTARTED;
		return -1;
	}
	if (ok)
		return 1;
	errno = code > 0 ? code : errno_of(status); /* a callback's own code, as BLCR */
	return -1;
}

int cr_poll_checkpoint_msg(cr_checkpoint_handle_t *handle, struct timeval *tv, char **msg_p)
{
	int rc = cr_wait_checkpoint(handle, tv);
	if (rc == 0)
		return 0;
	if (rc < 0)
		return CR_POLL_CHKPT_ERR_PRE;
	if (msg_p) {
		int len = cr_log_checkpoint(handle, 0, NULL);
		*msg_p = NULL;
		if (len > 0) {
			*msg_p = malloc((size_t)len);
			if (!*msg_p || cr_log_checkpoint(handle, (unsigned)len, *msg_p) < 0)
				return CR_POLL_CHKPT_ERR_LOG;
		}
	}
	if (cr_reap_checkpoint(handle) < 0)
		return CR_POLL_CHKPT_ERR_POST;
	return 1;
}

int cr_poll_checkpoint(cr_checkpoint_handle_t *handle, struct timeval *tv)
{
	return cr_poll_checkpoint_msg(handle, tv, NULL);
}

/* request_self checkpoints this process to fd and waits for the end. */
static void request_self(int fd)
{
	cr_checkpoint_args_t a;
	cr_checkpoint_handle_t h;
	if (cr_initialize_checkpoint_args_t(&a) < 0)
		return;
	a.cr_fd = fd;
	if (cr_request_checkpoint(&a, &h) < 0)
		return;
	int rc = cr_poll_checkpoint(&h, NULL);
	if (rc > 0)
		errno = 0;
}

void cr_request(void) { request_self(CR_DEST_CWD); }

void cr_request_fd(int fd) { request_self(fd); }

void cr_request_file(const char *filename)
{
	if (!filename) {
		errno = EINVAL;
		return;
	}
	int fd = open(filename, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	request_self(fd);
	int e = errno;
	close(fd);
	errno = e;
}
