/*
 * blcr_errcodes.h: BLCR's own error codes, for stasis's libcr.
 *
 * Each line is CR_ERROR_DEF(name, text). blcr_common.h includes this file to
 * number the codes from CR_MIN_ERRCODE + 1 on, in this order (BLCR's numbers:
 * CR_ETEMPFAIL is 2354); the library includes it again for cr_strerror().
 * Nothing but CR_ERROR_DEF lines belongs here, and the order never changes.
 */
CR_ERROR_DEF(CR_ETEMPFAIL, "Temporary failure: the checkpoint was cancelled, try again later")
CR_ERROR_DEF(CR_EPERMFAIL, "Permanent failure: the checkpoint was cancelled and its processes killed")
CR_ERROR_DEF(CR_ENOSUPPORT, "Not supported: no checkpoint agent, or not meaningful under stasis")
CR_ERROR_DEF(CR_EVERSION, "Interface version not supported")
CR_ERROR_DEF(CR_EOMITTED, "Process left out of the checkpoint at a callback's request")
CR_ERROR_DEF(CR_EBADARCH, "Image is for another architecture")
CR_ERROR_DEF(CR_EPTRACED, "A process of the checkpoint is being traced")
CR_ERROR_DEF(CR_EPTRACER, "A process of the checkpoint is tracing others")
CR_ERROR_DEF(CR_ERSTRTABRT, "Restart aborted and its processes killed")
CR_ERROR_DEF(CR_ERESTARTED, "The request ended in a restart from its image")
CR_ERROR_DEF(CR_ENOTCB, "Only valid inside a checkpoint callback")
CR_ERROR_DEF(CR_ENOINIT, "This thread has not called cr_init()")
