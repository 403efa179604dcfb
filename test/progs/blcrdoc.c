/*
 * blcrdoc: a program written for BLCR from BLCR's documentation alone
 * (the comments of its libcr.h and its user's guide), not from stasis's
 * header: it must compile unchanged against stasis's (TestLibcrLanguages).
 *
 * It registers a callback, and after 20 iterations checkpoints itself to
 * blcrdoc.ctx in the manner the documentation shows: request, then poll
 * until done, retrying on EINTR and taking CR_ERESTARTED as "restarting".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/types.h>
#include <sys/stat.h>

#include "libcr.h"

#ifndef O_LARGEFILE
#define O_LARGEFILE 0
#endif

static cr_client_id_t my_id;

static int my_callback(void *arg)
{
	int rc;

	/* checkpoint work */
	fprintf(stdout, "callback: checkpoint requested (%s)\n", (char *)arg);
	fflush(stdout);

	rc = cr_checkpoint(0);
	if (rc < 0) {
		fprintf(stdout, "callback: checkpoint failed: %s\n", cr_strerror(-rc));
	} else if (rc) {
		fprintf(stdout, "callback: restart\n");
	} else {
		fprintf(stdout, "callback: continue\n");
	}
	fflush(stdout);
	return 0;
}

static int checkpoint_self(const char *filename)
{
	cr_checkpoint_args_t my_args;
	cr_checkpoint_handle_t my_handle;
	int ret, fd;

	(void)unlink(filename);
	fd = open(filename, O_WRONLY | O_CREAT | O_TRUNC | O_LARGEFILE, 0600);
	if (fd < 0) {
		perror("open");
		return -1;
	}

	cr_initialize_checkpoint_args_t(&my_args);
	my_args.cr_fd = fd;
	my_args.cr_scope = CR_SCOPE_PROC;

	ret = cr_request_checkpoint(&my_args, &my_handle);
	if (ret < 0) {
		fprintf(stdout, "cr_request_checkpoint: %s\n", cr_strerror(errno));
		close(fd);
		return -1;
	}

	do {
		ret = cr_poll_checkpoint(&my_handle, NULL);
		if (ret < 0) {
			if ((ret == CR_POLL_CHKPT_ERR_POST) && (errno == CR_ERESTARTED)) {
				ret = 1; /* restarting: not an error */
				break;
			} else if (errno == EINTR) {
				continue; /* interrupted by a signal: retry */
			}
			fprintf(stdout, "cr_poll_checkpoint: %s\n", cr_strerror(errno));
			close(fd);
			return -1;
		} else if (ret == 0) {
			fprintf(stdout, "cr_poll_checkpoint returned unexpected 0\n");
			close(fd);
			return -1;
		}
		ret = 0; /* the original, continuing */
	} while (0);

	close(fd);
	return ret;
}

int main(int argc, char *argv[])
{
	int i, rc;
	cr_callback_id_t cb_id;

	(void)argc;
	my_id = cr_init();
	if (my_id < 0) {
		fprintf(stdout, "cr_init failed: %s\n", cr_strerror(errno));
		return 1;
	}
	cb_id = cr_register_callback(my_callback, argv[0], CR_THREAD_CONTEXT);
	if (cb_id < 0) {
		fprintf(stdout, "cr_register_callback failed: %s\n", cr_strerror(errno));
		return 1;
	}

	for (i = 1;; i++) {
		if (cr_enter_cs(my_id) < 0)
			return 1;
		fprintf(stdout, "iteration %d\n", i);
		fflush(stdout);
		(void)cr_leave_cs(my_id);

		if (i == 20) {
			rc = checkpoint_self("blcrdoc.ctx");
			if (rc < 0)
				return 1;
			fprintf(stdout, "checkpoint done: %s\n", rc ? "restarting" : "continuing");
			fflush(stdout);
		}
		usleep(50000);
	}
	return 0;
}
