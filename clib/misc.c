/*
 * misc.c: error texts, and BLCR's calls that mean little or nothing under
 * stasis, each saying so with BLCR's own error rather than doing nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "internal.h"

static const char *texts[] = {
#define CR_ERROR_DEF(name, text) text,
#include "blcr_errcodes.h"
#undef CR_ERROR_DEF
};

const char *cr_strerror(int errnum)
{
	if (errnum > CR_MIN_ERRCODE && errnum < CR_MAX_ERRCODE)
		return texts[errnum - CR_MIN_ERRCODE - 1];
	return strerror(errnum);
}

int cr_forward_checkpoint(cr_scope_t scope, pid_t target)
{
	(void)scope, (void)target;
	/* The agent decides a checkpoint's processes before the callbacks
	 * run; it cannot grow while they do. */
	errno = cri_in_callback() ? CR_ENOSUPPORT : CR_ENOTCB;
	return -1;
}

int cr_hold_ctrl(int scope, int flags)
{
	if (!cri_thread_inited()) {
		errno = CR_ENOINIT;
		return -1;
	}
	if (scope < CR_HOLD_SCOPE_THREAD || scope > CR_HOLD_SCOPE_UNINIT ||
	    (flags == CR_HOLD_DFLT && scope != CR_HOLD_SCOPE_THREAD) ||
	    (flags != CR_HOLD_READ && flags != CR_HOLD_DFLT && (flags & ~CR_HOLD_BOTH))) {
		errno = EINVAL;
		return -1;
	}
	/* stasis stops every thread only while the image is taken, never at a
	 * barrier around the callbacks: nothing is held, and that is all one
	 * may ask for. */
	if (flags == CR_HOLD_READ || flags == CR_HOLD_NONE || flags == CR_HOLD_DFLT)
		return CR_HOLD_NONE;
	errno = CR_ENOSUPPORT;
	return -1;
}

static __thread int persist;

int cr_inc_persist(void)
{
	if (!cri_thread_inited()) {
		errno = CR_ENOINIT;
		return -1;
	}
	if (persist == __INT_MAX__) {
		errno = ERANGE;
		return -1;
	}
	return persist++;
}

int cr_dec_persist(void)
{
	if (!cri_thread_inited()) {
		errno = CR_ENOINIT;
		return -1;
	}
	if (persist == 0) {
		errno = ERANGE;
		return -1;
	}
	return persist--;
}

/* In-process restart: under stasis cr_restart restarts, as a process of
 * its own that becomes the agent of what it restored. */
int cri_init_restart_args_t(cr_version_t v, cr_restart_args_t *a)
{
	(void)v, (void)a;
	errno = CR_ENOSUPPORT;
	return -1;
}

int cr_request_restart(cr_restart_args_t *a, cr_restart_handle_t *h)
{
	(void)a, (void)h;
	errno = CR_ENOSUPPORT;
	return -1;
}

int cr_wait_restart(cr_restart_handle_t *h, struct timeval *tv)
{
	(void)h, (void)tv;
	errno = CR_ENOSUPPORT;
	return -1;
}

int cr_log_restart(cr_restart_handle_t *h, unsigned int len, char *msg)
{
	(void)h, (void)len, (void)msg;
	errno = CR_ENOSUPPORT;
	return -1;
}

int cr_reap_restart(cr_restart_handle_t *h)
{
	(void)h;
	errno = CR_ENOSUPPORT;
	return -1;
}

int cr_poll_restart_msg(cr_restart_handle_t *h, struct timeval *tv, char **msg_p)
{
	(void)h, (void)tv;
	if (msg_p)
		*msg_p = NULL;
	errno = CR_ENOSUPPORT;
	return CR_POLL_RSTRT_ERR_PRE;
}

int cr_poll_restart(cr_restart_handle_t *h, struct timeval *tv) { return cr_poll_restart_msg(h, tv, NULL); }
