/*
 * round.c: callbacks, and the round in which they answer one checkpoint.
 *
 * A round runs in a thread of the library's: it waits for the critical
 * sections to end, then runs the thread-context callbacks, most recent
 * first, each one's cr_checkpoint(READY) running the next. Past the last,
 * it signals every thread with signal-context callbacks; each runs its
 * own, most recent first, in the handler, and waits there. When all have
 * answered, the round answers the agent (the worst answer wins:
 * permanent failure, temporary failure, omit, ready), and for "ready"
 * waits for the checkpoint to end. The outcome (0 continued, 1 restarted,
 * or -error) then unwinds every chain: each cr_checkpoint returns it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

struct cb {
	cr_callback_t fn;
	void *arg;
	int flags;
	pid_t tid; /* CR_SIGNAL_CONTEXT: the thread that registered it */
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cb *cbs;
static int ncbs, capcbs;
static cr_hook_fn_t hooks[CR_NUM_HOOKS];

/* A group of callbacks answering together: the thread-context ones, or
 * one thread's signal-context ones. */
struct group {
	pid_t tid; /* 0: the thread-context group */
	int n;
	struct cb *list; /* most recent first */
};

struct round {
	uint64_t id;
	struct cr_checkpoint_info info;
	char dest[CRI_MAX_TEXT];
	struct cr_restart_info rinfo;
	char src[CRI_MAX_TEXT];
	struct group threads;
	struct group *sig;
	int nsig;
	/* The signal phase: arrivals, the worst answer, then the outcome. */
	int arrived;
	int answer; /* CR_CHECKPOINT_* flags with the code above bit 16 */
	int gen;
	int outcome;
	int waiting; /* signal handlers that have yet to read outcome */
};

/* A frame is one callback running. */
struct frame {
	struct round *r;
	struct group *g;
	int depth;
	int answered;
	int rc;
};

static __thread struct frame *cur;
static struct round *volatile active; /* the round of the signal phase */

int cri_in_callback(void) { return cur != NULL; }

static cr_scope_t scope_of(const char *s)
{
	if (!strcmp(s, "group"))
		return CR_SCOPE_PGRP;
	if (!strcmp(s, "session"))
		return CR_SCOPE_SESS;
	if (!strcmp(s, "tree"))
		return CR_SCOPE_TREE;
	return CR_SCOPE_PROC;
}

static int worse(int a, int b)
{
	static const int rank[] = {0, 2, 3, 0, 1}; /* ready, temp, perm, -, omit */
	return rank[(b & 0xffff) & 7] > rank[(a & 0xffff) & 7] ? b : a;
}

static int signal_phase(struct round *r);
static int arrive(struct round *r, struct frame *f, int flags);

/* run runs the callbacks of g from depth on, and returns the outcome. */
static int run(struct round *r, struct group *g, int depth)
{
	if (depth == g->n)
		return g->tid ? arrive(r, NULL, CR_CHECKPOINT_READY) : signal_phase(r);
	struct frame f = {r, g, depth, 0, 0};
	struct frame *prev = cur;
	cur = &f;
	int ret = 0;
	if (g->list[depth].fn)
		ret = g->list[depth].fn(g->list[depth].arg);
	if (!f.answered) /* it said nothing: as if it had said ready, or failed */
		cr_checkpoint(ret ? CR_CHECKPOINT_TEMP_FAILURE : CR_CHECKPOINT_READY);
	cur = prev;
	return f.rc;
}

static int code_of(int flags)
{
	int code = (flags >> 16) & 0xffff;
	switch (flags & 0xffff) {
	case CR_CHECKPOINT_TEMP_FAILURE:
		return -(code ? code : CR_ETEMPFAIL);
	case CR_CHECKPOINT_PERM_FAILURE:
		return -(code ? code : CR_EPERMFAIL);
	case CR_CHECKPOINT_OMIT:
		return -CR_EOMITTED;
	}
	return 0;
}

static void hook(cr_hook_event_t e)
{
	cr_hook_fn_t h = __atomic_load_n(&hooks[e], __ATOMIC_ACQUIRE);
	if (h)
		h(e);
}

int cr_checkpoint(int flags)
{
	struct frame *f = cur;
	if (!f)
		return -CR_ENOTCB;
	if (f->answered)
		return f->rc; /* a second call: the same answer */
	int kind = flags & 0xffff;
	if (kind != CR_CHECKPOINT_READY && kind != CR_CHECKPOINT_TEMP_FAILURE &&
	    kind != CR_CHECKPOINT_PERM_FAILURE && kind != CR_CHECKPOINT_OMIT)
		return -EINVAL;
	f->answered = 1;
	if (kind == CR_CHECKPOINT_READY)
		f->rc = run(f->r, f->g, f->depth + 1);
	else if (f->g->tid)
		f->rc = arrive(f->r, f, flags); /* the rest of this thread's group is skipped */
	else {
		f->r->answer = flags; /* the signal phase is skipped */
		f->rc = signal_phase(f->r);
	}
	cur = f;
	return f->rc;
}

/* answer sends the round's answer and, for ready, waits for the end of
 * the checkpoint. */
static int answer(struct round *r)
{
	char line[CRI_MAX_TEXT + 128], msg[CRI_MAX_TEXT];
	int kind = r->answer & 0xffff;
	static const char *ops[] = {"ready", "tempfail", "permfail", "", "omit"};
	pthread_mutex_lock(&cri.mu);
	int over = cri.round_over;
	pthread_mutex_unlock(&cri.mu);
	if (over)
		goto ended; /* the agent gave up before we answered */
	if (kind == CR_CHECKPOINT_TEMP_FAILURE || kind == CR_CHECKPOINT_PERM_FAILURE) {
		int code = (r->answer >> 16) & 0xffff;
		snprintf(msg, sizeof msg, "cr_checkpoint(%s)%s%s", kind == 1 ? "CR_CHECKPOINT_TEMP_FAILURE" : "CR_CHECKPOINT_PERM_FAILURE",
			 code ? ": " : "", code ? cr_strerror(code) : "");
		char q[CRI_MAX_TEXT + 8];
		cri_quote(q, sizeof q, msg);
		snprintf(line, sizeof line, "{\"op\":\"%s\",\"id\":%llu,\"msg\":%s,\"code\":%d}\n", ops[kind], (unsigned long long)r->id, q, code);
	} else
		snprintf(line, sizeof line, "{\"op\":\"%s\",\"id\":%llu}\n", ops[kind], (unsigned long long)r->id);
	if (cri_send(line) < 0)
		return -EIO;
	if (kind != CR_CHECKPOINT_READY)
		return code_of(r->answer);
ended:
	pthread_mutex_lock(&cri.mu);
	while (!cri.round_over)
		pthread_cond_wait(&cri.cv, &cri.mu);
	int rc;
	if (cri.round_restarted) {
		rc = 1;
		snprintf(r->src, sizeof r->src, "%s", cri.restart_path);
		r->rinfo.requester = cri.restart_requester;
	} else if (cri.round_status == 0)
		rc = 0;
	else if (cri.round_code > 0)
		rc = -cri.round_code; /* a callback's own code, as BLCR passes it on */
	else if (cri.round_status == 50)
		rc = -CR_ETEMPFAIL;
	else if (cri.round_status == 51)
		rc = -CR_EPERMFAIL;
	else if (cri.round_status == 110)
		rc = -ETIMEDOUT;
	else
		rc = -EIO;
	pthread_mutex_unlock(&cri.mu);
	return rc;
}

/* signal_phase runs in the round's thread once the thread-context
 * callbacks said ready (or one failed: then only the answer is sent). */
static int signal_phase(struct round *r)
{
	int sent = 0;
	pthread_mutex_lock(&cri.mu);
	int gone = cri.round_over; /* given up on us already: no need to ask */
	pthread_mutex_unlock(&cri.mu);
	if ((r->answer & 0xffff) == CR_CHECKPOINT_READY && !gone) {
		__atomic_store_n(&r->arrived, 0, __ATOMIC_RELEASE);
		active = r;
		for (int i = 0; i < r->nsig; i++)
			if (syscall(SYS_tgkill, getpid(), r->sig[i].tid, CR_SIGNUM) == 0)
				sent++;
		/* Wait for every thread's answer, for at most the 60 s the agent
		 * waits when no --time is given: a thread that never takes the
		 * signal makes the round fail instead of hanging. */
		for (int waited = 0; waited < 600; waited++) {
			int a = __atomic_load_n(&r->arrived, __ATOMIC_ACQUIRE);
			if (a >= sent)
				break;
			struct timespec ts = {0, 100 * 1000000};
			syscall(SYS_futex, &r->arrived, 128 /* FUTEX_WAIT_PRIVATE */, a, &ts, NULL, 0);
			pthread_mutex_lock(&cri.mu);
			int over = cri.round_over;
			pthread_mutex_unlock(&cri.mu);
			if (over)
				break;
		}
		if (__atomic_load_n(&r->arrived, __ATOMIC_ACQUIRE) < sent)
			r->answer = worse(r->answer, CR_CHECKPOINT_TEMP_FAILURE);
	}
	int rc = answer(r);
	__atomic_store_n(&r->outcome, rc, __ATOMIC_RELEASE);
	__atomic_add_fetch(&r->gen, 1, __ATOMIC_ACQ_REL);
	cri_futex_wake(&r->gen);
	if (rc >= 0)
		hook(rc > 0 ? CR_HOOK_RSTRT_THREAD_CONTEXT : CR_HOOK_CONT_THREAD_CONTEXT);
	return rc;
}

/* arrive: one thread's signal-context group answered (f: the callback
 * that failed, NULL: all said ready). A failure returns at once; ready
 * waits in the handler for the outcome. */
static int arrive(struct round *r, struct frame *f, int flags)
{
	int g = __atomic_load_n(&r->gen, __ATOMIC_ACQUIRE);
	if (f) {
		int a = __atomic_load_n(&r->answer, __ATOMIC_ACQUIRE);
		while (!__atomic_compare_exchange_n(&r->answer, &a, worse(a, flags), 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			;
	}
	if (!f)
		__atomic_add_fetch(&r->waiting, 1, __ATOMIC_ACQ_REL);
	__atomic_add_fetch(&r->arrived, 1, __ATOMIC_ACQ_REL);
	cri_futex_wake(&r->arrived);
	if (f)
		return code_of(flags);
	while (__atomic_load_n(&r->gen, __ATOMIC_ACQUIRE) == g)
		cri_futex_wait(&r->gen, g);
	int rc = __atomic_load_n(&r->outcome, __ATOMIC_ACQUIRE);
	__atomic_sub_fetch(&r->waiting, 1, __ATOMIC_ACQ_REL); /* r may be freed from here on */
	cri_futex_wake(&r->waiting);
	if (rc >= 0)
		hook(rc > 0 ? CR_HOOK_RSTRT_SIGNAL_CONTEXT : CR_HOOK_CONT_SIGNAL_CONTEXT);
	return rc;
}

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)si, (void)uc;
	int e = errno;
	struct round *r = active;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	if (r && !cur) {
		for (int i = 0; i < r->nsig; i++)
			if (r->sig[i].tid == tid)
				run(r, &r->sig[i], 0);
	}
	errno = e;
}

static pthread_mutex_t round_mu = PTHREAD_MUTEX_INITIALIZER; /* one round at a time */

/* snapshot copies the registered callbacks into r's groups. */
static int snapshot(struct round *r)
{
	pthread_mutex_lock(&reg_mu);
	r->threads.list = calloc((size_t)ncbs + 1, sizeof(struct cb));
	r->sig = calloc((size_t)ncbs + 1, sizeof(struct group));
	if (!r->threads.list || !r->sig) {
		pthread_mutex_unlock(&reg_mu);
		return -1;
	}
	for (int i = ncbs - 1; i >= 0; i--) {
		if (cbs[i].flags & CR_THREAD_CONTEXT) {
			r->threads.list[r->threads.n++] = cbs[i];
			continue;
		}
		int j;
		for (j = 0; j < r->nsig && r->sig[j].tid != cbs[i].tid; j++)
			;
		if (j == r->nsig) {
			r->sig[j].tid = cbs[i].tid;
			r->sig[j].list = calloc((size_t)ncbs, sizeof(struct cb));
			if (!r->sig[j].list) {
				pthread_mutex_unlock(&reg_mu);
				return -1;
			}
			r->nsig++;
		}
		r->sig[j].list[r->sig[j].n++] = cbs[i];
	}
	pthread_mutex_unlock(&reg_mu);
	return 0;
}

/* refuse answers checkpoint id at once with a temporary failure. */
static void refuse(uint64_t id, const char *why)
{
	char line[512], q[256];
	cri_quote(q, sizeof q, why);
	snprintf(line, sizeof line, "{\"op\":\"tempfail\",\"id\":%llu,\"msg\":%s}\n", (unsigned long long)id, q);
	cri_send(line);
}

static void *round_main(void *arg)
{
	struct round *r = arg;
	if (pthread_mutex_trylock(&round_mu) != 0) {
		pthread_mutex_lock(&cri.mu);
		int stuck = cri.round_id && cri.round_over;
		pthread_mutex_unlock(&cri.mu);
		if (stuck) {
			/* An earlier checkpoint was given up while a callback of ours
			 * still ran, and it has not returned: say so now rather than
			 * have this one wait for it until --time runs out. */
			refuse(r->id, "a libcr callback of an earlier, abandoned checkpoint has not returned");
			free(r);
			return NULL;
		}
		pthread_mutex_lock(&round_mu);
	}
	pthread_mutex_lock(&cri.mu);
	cri.round_id = r->id;
	cri.round_over = cri.round_restarted = cri.round_status = cri.round_code = 0;
	cri.round_error[0] = 0;
	pthread_mutex_unlock(&cri.mu);
	if (snapshot(r) < 0) {
		r->answer = CR_CHECKPOINT_TEMP_FAILURE;
		answer(r);
	} else if (cri_cs_wait(&cri.round_over) == 0) {
		run(r, &r->threads, 0);
		cri_cs_end();
	}
	pthread_mutex_lock(&cri.mu);
	cri.round_id = 0;
	pthread_mutex_unlock(&cri.mu);
	active = NULL;
	/* The handlers still read the outcome from r. */
	for (int w; (w = __atomic_load_n(&r->waiting, __ATOMIC_ACQUIRE)) > 0;)
		cri_futex_wait(&r->waiting, w);
	pthread_mutex_unlock(&round_mu);
	for (int i = 0; i < r->nsig; i++)
		free(r->sig[i].list);
	free(r->sig);
	free(r->threads.list);
	free(r);
	return NULL;
}

void cri_prepare(const struct cri_event *ev)
{
	struct round *r = calloc(1, sizeof *r);
	if (!r)
		return; /* the agent times out on us: a temporary failure */
	r->id = ev->id;
	snprintf(r->dest, sizeof r->dest, "%s", ev->path);
	r->info.dest = r->dest;
	r->info.requester = ev->requester;
	r->info.target = ev->target;
	r->info.signal = ev->signal;
	r->info.scope = scope_of(ev->scope);
	r->rinfo.src = r->src;
	if (cri_spawn(round_main, r) < 0)
		free(r);
}

const struct cr_checkpoint_info *cr_get_checkpoint_info(void)
{
	return cur ? &cur->r->info : NULL;
}

const struct cr_restart_info *cr_get_restart_info(void)
{
	return cur && cur->answered && cur->rc > 0 ? &cur->r->rinfo : NULL;
}

static int install_handler(void)
{
	static int done;
	struct sigaction sa;
	if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
		return 0;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask);
	if (sigaction(CR_SIGNUM, &sa, NULL) < 0)
		return -1;
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	return 0;
}

/* check_flags checks a registration: from an initialised thread, outside
 * a callback, naming exactly one context. */
static int check_flags(int flags)
{
	int ctx = flags & (CR_THREAD_CONTEXT | CR_SIGNAL_CONTEXT);
	if (!cri_thread_inited())
		errno = CR_ENOINIT;
	else if (cur)
		errno = EBUSY;
	else if (ctx != CR_THREAD_CONTEXT && ctx != CR_SIGNAL_CONTEXT)
		errno = EINVAL;
	else
		return 0;
	return -1;
}

cr_callback_id_t cr_register_callback(cr_callback_t func, void *arg, int flags)
{
	if (check_flags(flags) < 0)
		return -1;
	if ((flags & CR_SIGNAL_CONTEXT) && install_handler() < 0)
		return -1;
	pthread_mutex_lock(&reg_mu);
	if (ncbs >= CR_MAX_CALLBACKS) {
		pthread_mutex_unlock(&reg_mu);
		errno = ENOSPC;
		return -1;
	}
	if (ncbs == capcbs) {
		int cap = capcbs ? 2 * capcbs : 8;
		struct cb *n = realloc(cbs, (size_t)cap * sizeof *n);
		if (!n) {
			pthread_mutex_unlock(&reg_mu);
			errno = ENOMEM;
			return -1;
		}
		cbs = n, capcbs = cap;
	}
	cbs[ncbs] = (struct cb){func, arg, flags, (flags & CR_SIGNAL_CONTEXT) ? (pid_t)syscall(SYS_gettid) : 0};
	int id = ncbs++;
	pthread_mutex_unlock(&reg_mu);
	return id;
}

int cr_replace_callback(cr_callback_id_t id, cr_callback_t func, void *arg, int flags)
{
	if (check_flags(flags) < 0)
		return -1;
	pthread_mutex_lock(&reg_mu);
	if (id < 0 || id >= ncbs || (cbs[id].flags & (CR_THREAD_CONTEXT | CR_SIGNAL_CONTEXT)) != (flags & (CR_THREAD_CONTEXT | CR_SIGNAL_CONTEXT))) {
		pthread_mutex_unlock(&reg_mu);
		errno = EINVAL;
		return -1;
	}
	cbs[id].fn = func, cbs[id].arg = arg, cbs[id].flags = flags;
	pthread_mutex_unlock(&reg_mu);
	return 0;
}

int cr_replace_self(cr_callback_t func, void *arg, int flags)
{
	(void)func, (void)arg, (void)flags;
	errno = cur ? CR_ENOSUPPORT : CR_ENOTCB;
	return -1;
}

cr_hook_fn_t cr_register_hook(cr_hook_event_t event, cr_hook_fn_t hook_fn)
{
	if (!cri_thread_inited()) {
		errno = CR_ENOINIT;
		return CR_HOOK_FN_ERROR;
	}
	if ((int)event < 0 || event >= CR_NUM_HOOKS || hook_fn == CR_HOOK_FN_ERROR) {
		errno = EINVAL;
		return CR_HOOK_FN_ERROR;
	}
	if (event == CR_HOOK_CONT_NO_CALLBACKS || event == CR_HOOK_RSTRT_NO_CALLBACKS) {
		errno = CR_ENOSUPPORT; /* threads without callbacks are never stopped for us */
		return CR_HOOK_FN_ERROR;
	}
	return __atomic_exchange_n(&hooks[event], hook_fn, __ATOMIC_ACQ_REL);
}
