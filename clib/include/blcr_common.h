/*
 * blcr_common.h: types and constants of BLCR 0.8's interface, as stasis's
 * libcr provides them (see libcr(3)).
 */
#ifndef _BLCR_COMMON_H
#define _BLCR_COMMON_H 1

#include <features.h>
#include <sys/ioctl.h>
#include <sys/types.h>

__BEGIN_DECLS

#if defined(__GNUC__)
#define _CR_DEPRECATED __attribute__((__deprecated__))
#else
#define _CR_DEPRECATED
#endif

/* The signal that runs CR_SIGNAL_CONTEXT callbacks (SIGRTMAX on glibc). */
#define CR_SIGNUM 64

/* The BLCR release whose interface this is, and stasis's library version. */
#define CR_RELEASE_MAJOR 0
#define CR_RELEASE_MINOR 8
#define CR_RELEASE_PATCH 2
#define CR_RELEASE_VERSION "0.8.2"
#define LIBCR_MAJOR 0
#define LIBCR_MINOR 5
#define LIBCR_PATCH 2
#define LIBCR_VERSION "0.5.2"

/* Error codes: CR_ETEMPFAIL = 2354 and on, in blcr_errcodes.h's order. */
#define CR_ERROR_DEF(name, text) name,
enum {
	CR_MIN_ERRCODE = 2353,
#include "blcr_errcodes.h"
	CR_MAX_ERRCODE
};
#undef CR_ERROR_DEF

typedef long cr_bool_t;

typedef enum {
	cr_format_vmadump = 0
} cr_format_t;

/* What a checkpoint request names (cr_checkpoint -p, -g, -s, -T). */
typedef enum {
	CR_SCOPE_PROC, /* one process, all its threads */
	CR_SCOPE_PGRP, /* a process group */
	CR_SCOPE_SESS, /* a session */
	CR_SCOPE_TREE  /* a process and its descendants */
} cr_scope_t;

/* The answers a callback gives cr_checkpoint(). */
enum {
	CR_CHECKPOINT_READY = 0,        /* take the checkpoint */
	CR_CHECKPOINT_TEMP_FAILURE = 1, /* cancel it; everyone runs on */
	CR_CHECKPOINT_PERM_FAILURE = 2, /* cancel it and kill its processes */
	CR_CHECKPOINT_OMIT = 4,         /* take it without this process */
	_CR_CHECKPOINT_STUB = 0x4000
};
/* A failure with one's own error code (1..65535) instead of CR_ETEMPFAIL
 * or CR_EPERMFAIL. */
#define CR_CHECKPOINT_TEMP_FAILURE_CODE(_v) (CR_CHECKPOINT_TEMP_FAILURE | ((_v) << 16))
#define CR_CHECKPOINT_PERM_FAILURE_CODE(_v) (CR_CHECKPOINT_PERM_FAILURE | ((_v) << 16))
#define CR_CHECKPOINT_ABORT_MASK (CR_CHECKPOINT_TEMP_FAILURE | CR_CHECKPOINT_PERM_FAILURE | CR_CHECKPOINT_OMIT)

/* cr_fd value: the image goes to context.PID in the requester's directory. */
#define CR_DEST_CWD (-4096)

/* cr_flags of a checkpoint request. */
#define CR_CHKPT_PROHIBIT_SELF 0x00000001 /* fail with EDEADLK if it would include the caller */
#define CR_CHKPT_PTRACED_ALLOW 0x00000002 /* save traced processes too */
#define CR_CHKPT_PTRACED_SKIP 0x00000004  /* leave traced processes out */
#define CR_CHKPT_PTRACER_SKIP 0x00000008  /* leave tracing processes out */
#define CR_CHKPT_ASYNC_ERR 0x00000010     /* report request errors at reap time */
#define CR_CHKPT_DUMP_EXEC 0x0200         /* save the executable */
#define CR_CHKPT_DUMP_PRIVATE 0x0400      /* save privately mapped files */
#define CR_CHKPT_DUMP_SHARED 0x0800       /* save shared mapped files */
#define CR_CHKPT_DUMP_ALL (CR_CHKPT_DUMP_EXEC | CR_CHKPT_DUMP_PRIVATE | CR_CHKPT_DUMP_SHARED)

/* Restart-time path relocation (cr_restart --relocate). */
struct cr_rstrt_relocate_pair {
	const char *oldpath;
	const char *newpath;
};
struct cr_rstrt_relocate {
	unsigned int count;
	struct cr_rstrt_relocate_pair path[0];
};
#define CR_RSTRT_RELOCATE_SIZE(_cnt) (sizeof(struct cr_rstrt_relocate) + \
	(_cnt) * sizeof(struct cr_rstrt_relocate_pair))
#define CR_MAX_RSTRT_RELOC 16

#define CR_RSTRT_ASYNC_ERR 0x00000001
#define CR_RSTRT_RESTORE_PID 0x00000002
#define CR_RSTRT_RESTORE_PGID 0x00000004
#define CR_RSTRT_RESTORE_SID 0x00000008

/* cr_hold_ctrl() flags. */
#define CR_HOLD_READ -1
#define CR_HOLD_NONE 0
#define CR_HOLD_CONT 1
#define CR_HOLD_RSTRT 2
#define CR_HOLD_BOTH (CR_HOLD_CONT | CR_HOLD_RSTRT)
#define CR_HOLD_DFLT 4

__END_DECLS

#endif
