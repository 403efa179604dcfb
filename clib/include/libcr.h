/*
 * libcr.h: BLCR 0.8's checkpoint library interface, as stasis provides it.
 *
 * A program that calls cr_init() takes part in its own checkpoints: before
 * a checkpoint its callbacks run (in a thread of the library's, or in a
 * signal handler in the thread that registered them), critical sections
 * hold a checkpoint back, and a program may ask for a checkpoint of
 * itself. Build with `cc prog.c -lcr` (or `pkg-config --cflags --libs
 * libcr`); see libcr(3) for what each call means under stasis.
 */
#ifndef _CRLIB_H
#define _CRLIB_H 1

#include <features.h>
#include <sys/select.h>
#include <errno.h>
#include <blcr_common.h>

__BEGIN_DECLS

typedef int cr_version_t;
#define CR_CHECKPOINT_ARGS_VERSION 1
#define CR_RESTART_ARGS_VERSION 1

#define CR_MAX_CALLBACKS 0x1FFFFFF

/* A callback: called with the argument it was registered with. */
typedef int (*cr_callback_t)(void *);

typedef int cr_client_id_t;   /* from cr_init(), per thread */
typedef int cr_callback_id_t; /* from cr_register_callback() */
typedef unsigned int cr_spinlock_t;

/* What cr_get_checkpoint_info() reports inside a callback. */
struct cr_checkpoint_info {
	int signal;       /* sent to the processes once the image is taken (0: none) */
	const char *dest; /* the image's path */
	pid_t requester;  /* who asked (0: the agent itself, on a signal or timer) */
	pid_t target;     /* the pid, pgid or sid asked for */
	cr_scope_t scope;
};

/* What cr_get_restart_info() reports after cr_checkpoint() returned > 0. */
struct cr_restart_info {
	pid_t requester; /* the cr_restart that restarted us */
	const char *src; /* the image */
};

/* cr_status() values. */
enum {
	CR_STATE_IDLE,
	CR_STATE_PENDING, /* a checkpoint waits for critical sections to end */
	CR_STATE_ACTIVE   /* callbacks run, or the image is being taken */
};

/* A checkpoint request; fill it with cr_initialize_checkpoint_args_t first. */
typedef struct cr_checkpoint_args {
	cr_version_t cr_version;
	cr_scope_t cr_scope;
	pid_t cr_target;         /* 0: the caller (its group, its session) */
	int cr_fd;               /* where the image goes, or CR_DEST_CWD */
	int cr_signal;           /* sent once the image is taken (0: none) */
	unsigned int cr_timeout; /* seconds for callbacks and the image (0: no limit) */
	unsigned int cr_flags;   /* CR_CHKPT_* */
} cr_checkpoint_args_t;

typedef struct cr_restart_args {
	cr_version_t cr_version;
	int cr_fd;
	int cr_signal;
	unsigned int cr_flags;
	struct cr_rstrt_relocate *cr_relocate;
} cr_restart_args_t;

typedef unsigned long cr_checkpoint_handle_t;
typedef unsigned long cr_restart_handle_t;

/* Where a callback runs (cr_register_callback's flags). */
#define CR_THREAD_CONTEXT 0x4000000
#define CR_SIGNAL_CONTEXT 0x2000000

/* The client id to pass to cr_enter_cs() and friends inside a callback. */
#define CR_ID_CALLBACK ((cr_client_id_t)(-1))

#define CR_SPINLOCK_INITIALIZER 0U

/* Events for cr_register_hook(). */
typedef enum {
	CR_HOOK_CONT_SIGNAL_CONTEXT = 0, /* continuing, in a thread with signal-context callbacks */
	CR_HOOK_CONT_THREAD_CONTEXT,     /* continuing, in the library's callback thread */
	CR_HOOK_CONT_NO_CALLBACKS,       /* continuing, in a thread with no callbacks */
	CR_HOOK_RSTRT_SIGNAL_CONTEXT,    /* restarted, ... */
	CR_HOOK_RSTRT_THREAD_CONTEXT,
	CR_HOOK_RSTRT_NO_CALLBACKS,
	CR_NUM_HOOKS
} cr_hook_event_t;
typedef void (*cr_hook_fn_t)(cr_hook_event_t);
#define CR_HOOK_FN_ERROR ((cr_hook_fn_t)(~0UL))

/* cr_hold_ctrl() scopes. */
enum {
	CR_HOLD_SCOPE_THREAD,
	CR_HOLD_SCOPE_INIT,
	CR_HOLD_SCOPE_UNINIT
};

/* Set up the library for the calling thread; the first call connects the
 * process to its checkpoint agent (cr_run, cr_restart), or with none
 * listens for cr_checkpoint. Returns an id >= 0, or -1 with errno. */
extern cr_client_id_t cr_init(void);

/* Fill *args with the defaults (the caller's own process, image to
 * context.PID in the working directory). Returns 0, or -1. */
#define cr_initialize_checkpoint_args_t(_cr_args) \
	cri_init_checkpoint_args_t(CR_CHECKPOINT_ARGS_VERSION, (_cr_args))
extern int cri_init_checkpoint_args_t(cr_version_t, cr_checkpoint_args_t *);

/* Ask the agent for a checkpoint; follow it with cr_poll_checkpoint() (or
 * cr_wait_checkpoint() then cr_reap_checkpoint()). Returns 0, or -1 with
 * errno (CR_ENOSUPPORT: no agent, the process runs outside cr_run and
 * cr_restart). */
extern int cr_request_checkpoint(cr_checkpoint_args_t *args, cr_checkpoint_handle_t *handle);

/* Inside a callback: add processes to the checkpoint being taken. Not
 * available under stasis: -1 with errno CR_ENOSUPPORT (CR_ENOTCB outside a
 * callback). */
extern int cr_forward_checkpoint(cr_scope_t scope, pid_t target);

/* Wait for a request to end, for at most *timeout (NULL: for ever; the
 * time left is written back). > 0: over; 0: timed out; -1: errno. */
extern int cr_wait_checkpoint(cr_checkpoint_handle_t *handle, struct timeval *timeout);

/* Copy the request's messages (the reason it failed) into msg, at most
 * len bytes with the final NUL. Returns the length they need with the
 * NUL (0: none), or -1. */
extern int cr_log_checkpoint(cr_checkpoint_handle_t *handle, unsigned int len, char *msg);

/* Collect a finished request and free its handle. > 0: the image was
 * taken and we run on; -1 with errno: CR_ERESTARTED in a copy restarted
 * from it (not an error), EAGAIN not over yet, else why it failed
 * (CR_ETEMPFAIL, CR_EPERMFAIL, ESRCH, ETIMEDOUT, EIO, ...). */
extern int cr_reap_checkpoint(cr_checkpoint_handle_t *handle);

/* cr_wait_checkpoint, then (msg_p not NULL) the messages into a
 * malloc'ed *msg_p, then cr_reap_checkpoint. > 0: done; 0: timed out;
 * CR_POLL_CHKPT_ERR_PRE, _LOG or _POST with errno saying which step
 * failed (_POST with CR_ERESTARTED: this is the restarted copy). */
#define CR_POLL_CHKPT_ERR_PRE -1
#define CR_POLL_CHKPT_ERR_POST -2
#define CR_POLL_CHKPT_ERR_LOG -3
extern int cr_poll_checkpoint_msg(cr_checkpoint_handle_t *handle, struct timeval *timeout, char **msg_p);
extern int cr_poll_checkpoint(cr_checkpoint_handle_t *handle, struct timeval *timeout);

/* BLCR's experimental in-process restart: restarting is cr_restart's job
 * under stasis; these fail with CR_ENOSUPPORT. */
#define cr_initialize_restart_args_t(_cr_args) \
	cri_init_restart_args_t(CR_RESTART_ARGS_VERSION, (_cr_args))
extern int cri_init_restart_args_t(cr_version_t, cr_restart_args_t *);
extern int cr_request_restart(cr_restart_args_t *args, cr_restart_handle_t *handle);
extern int cr_wait_restart(cr_restart_handle_t *handle, struct timeval *timeout);
extern int cr_log_restart(cr_restart_handle_t *handle, unsigned int len, char *msg);
extern int cr_reap_restart(cr_restart_handle_t *handle);
#define CR_POLL_RSTRT_ERR_PRE -1
#define CR_POLL_RSTRT_ERR_POST -2
#define CR_POLL_RSTRT_ERR_LOG -3
extern int cr_poll_restart_msg(cr_restart_handle_t *handle, struct timeval *timeout, char **msg_p);
extern int cr_poll_restart(cr_restart_handle_t *handle, struct timeval *timeout);

/* Register func(arg) to run before every checkpoint of the process, with
 * flags CR_THREAD_CONTEXT (in the library's callback thread; every such
 * callback, most recent first) or CR_SIGNAL_CONTEXT (in a signal handler
 * in this thread, after the thread-context ones, most recent first).
 * Each calls cr_checkpoint() once. Returns an id, or -1 with errno. */
extern cr_callback_id_t cr_register_callback(cr_callback_t func, void *arg, int flags);

/* Replace callback id's function and argument (func NULL: disable it);
 * flags must name the same context. Returns 0, or -1 with errno. */
extern int cr_replace_callback(cr_callback_id_t id, cr_callback_t func, void *arg, int flags);

/* Critical sections: a checkpoint waits until every one entered is left.
 * id is cr_init()'s (CR_ID_CALLBACK inside a callback, where they return
 * at once). cr_enter_cs waits while a checkpoint is active; cr_tryenter_cs
 * returns > 0 instead of waiting, and also while one is pending. Signal
 * safe. */
extern int cr_enter_cs(cr_client_id_t id);
extern int cr_tryenter_cs(cr_client_id_t id);
extern int cr_leave_cs(cr_client_id_t id);

/* CR_STATE_IDLE, _PENDING or _ACTIVE; -1 with errno CR_ENOINIT. */
extern int cr_status(void);

/* Inside a callback: answer the checkpoint (CR_CHECKPOINT_READY, _OMIT,
 * _TEMP_FAILURE[_CODE(v)], _PERM_FAILURE[_CODE(v)]). Returns 0 in the
 * original once the image is taken, > 0 in a copy restarted from it, or
 * -(error code): -CR_ETEMPFAIL (or the code), -CR_EPERMFAIL, -CR_EOMITTED,
 * -CR_ENOTCB outside a callback. */
extern int cr_checkpoint(int flags);

/* Not available under stasis (CR_ENOSUPPORT; CR_ENOTCB outside a callback). */
extern int cr_replace_self(cr_callback_t func, void *arg, int flags);

/* Inside a callback: the checkpoint being taken, or (after cr_checkpoint
 * returned > 0) the restart. NULL outside a callback. */
extern const struct cr_checkpoint_info *cr_get_checkpoint_info(void);
extern const struct cr_restart_info *cr_get_restart_info(void);

/* Signal-safe spinlocks. */
extern void cr_spinlock_init(cr_spinlock_t *);
extern void cr_spinlock_lock(cr_spinlock_t *);
extern void cr_spinlock_unlock(cr_spinlock_t *);
extern int cr_spinlock_trylock(cr_spinlock_t *);

/* The text for errno value errnum, BLCR's codes included. */
extern const char *cr_strerror(int errnum);

/* Run hook_fn(event) when event happens (NULL: nothing); returns the
 * previous hook, or CR_HOOK_FN_ERROR with errno. The *_NO_CALLBACKS
 * events are not available under stasis (CR_ENOSUPPORT). */
extern cr_hook_fn_t cr_register_hook(cr_hook_event_t event, cr_hook_fn_t hook_fn);

/* Whether threads are held until every callback has run. Under stasis no
 * thread is ever held: CR_HOLD_READ and CR_HOLD_NONE (and CR_HOLD_DFLT for
 * a thread) succeed and return CR_HOLD_NONE; holding fails with
 * CR_ENOSUPPORT. */
extern int cr_hold_ctrl(int scope, int flags);

/* Count uses of the thread's library state (it is never freed under
 * stasis); return the previous count, or -1 with ERANGE. */
extern int cr_inc_persist(void);
extern int cr_dec_persist(void);

/* Deprecated: checkpoint this process (to context.PID, to filename, to
 * fd) and wait until that is over; errno says why it failed. */
extern void cr_request(void) _CR_DEPRECATED;
extern void cr_request_file(const char *filename) _CR_DEPRECATED;
extern void cr_request_fd(int fd) _CR_DEPRECATED;

__END_DECLS

#endif
