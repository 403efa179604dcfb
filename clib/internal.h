/*
 * internal.h: what the library's files share. Nothing here is API.
 *
 * The library keeps one connection to the process's agent (conn.c), read
 * by one thread of its own that hands each message on: a checkpoint about
 * to be taken starts a round (round.c) in a callback thread; the end of a
 * checkpoint, a restart and the replies to our own requests (request.c)
 * wake whoever waits for them. docs/libcr-protocol.md is the protocol.
 */
#ifndef CRI_INTERNAL_H
#define CRI_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "libcr.h"

#define CRI_HIDDEN __attribute__((visibility("hidden")))

/* Bounds of what we read and keep. */
#define CRI_MAX_LINE (64 * 1024)
#define CRI_MAX_TEXT 4096

/* A decoded message from the agent: an Event, or a bare Reply (an agent
 * that turns us away says why in one). */
struct cri_reply {
	int present;
	uint64_t id;
	int ok, status, code, want_fd, restarted;
	char error[CRI_MAX_TEXT];
	char path[CRI_MAX_TEXT];
};

struct cri_event {
	char ev[16];
	uint64_t id;
	int requester, target, signal, status, code;
	char scope[16];
	char path[CRI_MAX_TEXT];
	char error[CRI_MAX_TEXT];
	struct cri_reply reply;
	struct cri_reply bare; /* the line was a Reply, not an Event */
};

/* msg.c */
CRI_HIDDEN int cri_decode(const char *line, struct cri_event *ev);
CRI_HIDDEN int cri_quote(char *out, size_t n, const char *s);

/* find.c: connect to the agent of this process; fd or -1 with errno
 * (CR_ENOSUPPORT: there is none). */
CRI_HIDDEN int cri_find_agent(pid_t *agent);

/* conn.c: the process's state. Everything is guarded by mu, except where
 * said; cv is broadcast whenever any of it changes. */
struct cri_state {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_mutex_t send_mu; /* one message (or message + fd) at a time */
	int fd;                  /* the connection; -1: none */
	pid_t agent;
	pid_t pid; /* whose connection it is (a forked child has none) */
	int lost;  /* the connection broke: every wait fails */
	int direct; /* fd is a cr_checkpoint's, not an agent's (no agent) */
	uint64_t restarts; /* how many times we were restarted */
	char restart_path[CRI_MAX_TEXT];
	pid_t restart_requester;
	/* The round waiting for the end of checkpoint round_id. */
	uint64_t round_id;
	int round_over, round_restarted, round_status, round_code;
	char round_error[CRI_MAX_TEXT];
};
CRI_HIDDEN extern struct cri_state cri;

/* An application thread never holds a library lock where CR_SIGNUM can
 * be taken: its signal-context callbacks would wait in the handler for
 * the round, which may need that lock. cri_lock masks CR_SIGNUM, then
 * locks; cri_unlock unlocks, then puts the mask back. Waits for the agent
 * hold no lock (cri_wait_change), so the handler can run meanwhile. */
#include <signal.h>
CRI_HIDDEN void cri_lock(pthread_mutex_t *m, sigset_t *old);
CRI_HIDDEN void cri_unlock(pthread_mutex_t *m, const sigset_t *old);
/* cri_changed says that the state changed (with mu held); cri_wait_change
 * waits, holding nothing, until it changes from generation gen (or ms
 * milliseconds pass, if ms >= 0). */
CRI_HIDDEN extern int cri_gen;
CRI_HIDDEN void cri_changed(void);
CRI_HIDDEN void cri_wait_change(int gen, long ms);

CRI_HIDDEN int cri_connected(void); /* 0, or -1 with errno */
CRI_HIDDEN int cri_agent(void);     /* 0 if an agent takes requests, or -1 with errno */
CRI_HIDDEN int cri_send(const char *line);
CRI_HIDDEN int cri_send_locked(const char *line); /* with send_mu held */
CRI_HIDDEN int cri_thread_inited(void);
CRI_HIDDEN int cri_spawn(void *(*fn)(void *), void *arg);
CRI_HIDDEN void cri_restarted_requests(void); /* request.c: with mu held */
CRI_HIDDEN void cri_reply_arrived(const struct cri_event *ev); /* request.c: with mu held */
CRI_HIDDEN void cri_lost_requests(void); /* request.c: with mu held */

/* round.c */
CRI_HIDDEN void cri_prepare(const struct cri_event *ev);
CRI_HIDDEN int cri_in_callback(void);

/* cs.c: the checkpoint side of critical sections. */
CRI_HIDDEN int cri_cs_wait(const volatile int *over);
CRI_HIDDEN void cri_cs_end(void);

/* futex helpers (cs.c) */
CRI_HIDDEN void cri_futex_wait(int *addr, int val);
CRI_HIDDEN void cri_futex_wake(int *addr);

#endif
