/*
 * sysloop: many small system calls and little else, to measure what a
 * supervisor (and, later, its seccomp filter) adds to each one.
 *
 *   sysloop [N]
 *
 * Each of N iterations (default 1000000) makes three real system calls:
 * getpid, a 1-byte read from /dev/zero and clock_gettime. getpid and
 * clock_gettime go through syscall(2): libc answers clock_gettime from the
 * vDSO without entering the kernel, and some libcs cache getpid. It checks
 * every answer and prints "sysloop N" when it is done, so a caller can tell
 * that the loop really ran. Exit status 0, or 1 with a message on stderr.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror("sysloop: open /dev/zero");
		return 1;
	}
	long pid = syscall(SYS_getpid);
	struct timespec ts, last = { 0, 0 };

	for (long i = 0; i < n; i++) {
		char c = 1;
		if (syscall(SYS_getpid) != pid) {
			fprintf(stderr, "sysloop: getpid changed\n");
			return 1;
		}
		if (read(fd, &c, 1) != 1 || c != 0) {
			perror("sysloop: read /dev/zero");
			return 1;
		}
		if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0) {
			perror("sysloop: clock_gettime");
			return 1;
		}
		if (ts.tv_sec < last.tv_sec ||
		    (ts.tv_sec == last.tv_sec && ts.tv_nsec < last.tv_nsec)) {
			fprintf(stderr, "sysloop: the monotonic clock went back\n");
			return 1;
		}
		last = ts;
	}
	printf("sysloop %ld\n", n);
	return fflush(stdout) == 0 ? 0 : 1;
}
