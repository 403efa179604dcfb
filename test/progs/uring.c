/*
 * uring: creates an io_uring instance (io_uring_setup, the raw system call)
 * and keeps its fd, then counts like counter.c:
 *
 *   uring: fd 3          the instance exists
 *   uring: ENOSYS        the call was refused (cr_run --deny-uncheckpointable)
 *   uring: error E       any other failure
 *   tick N               every 50 ms, N from 1
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	unsigned char params[120];	/* struct io_uring_params */

	memset(params, 0, sizeof params);
	long fd = syscall(SYS_io_uring_setup, 4, params);
	if (fd >= 0)
		printf("uring: fd %ld\n", fd);
	else if (errno == ENOSYS)
		printf("uring: ENOSYS\n");
	else
		printf("uring: error %d\n", errno);
	fflush(stdout);
	for (long n = 1;; n++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		printf("tick %ld\n", n);
		fflush(stdout);
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
}
