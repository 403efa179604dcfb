/*
 * forkfds: a parent, its child and its grandchild that share some
 * descriptors by fork and not others, and check all the time that each
 * holds exactly its own fds, with their close-on-exec flags, their
 * offsets, and shared with its parent what it shared before (kcmp).
 *
 *   forkfds FILE
 *
 * Before the fork the parent opens FILE read-write at fd 3, a pipe to the
 * child at 4/5, one from it at 6/7, an eventfd at 8 and /dev/null at 9
 * (close-on-exec). The child closes 5 and 6, clears close-on-exec on 9,
 * dups 3 to 10 and 8 to 11, and opens FILE again at 12 at offset 200; it
 * forks the grandchild, which closes 4 and opens FILE again at 12 at
 * offset 300. The parent closes 4 and 7 and opens FILE again at 12 at
 * offset 100 and /dev/zero at 13.
 *
 * Each round the parent checks itself and wakes the child by the pipe;
 * the child checks itself, moves the shared offset of fd 3 on by 8, adds
 * 1 to the eventfd (by fd 8 or 11 in turn) and answers 'k'; the parent
 * then finds fd 3's offset 8 further and reads 1 from the eventfd, and
 * prints "tick N". The grandchild checks itself every 10 ms and answers
 * 'B' (once) on the child's pipe if something is wrong. Whoever finds a
 * difference prints "BAD ..." on stderr; the parent then prints "BAD"
 * and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define KCMP_FILE 0
#define MAXFD 20

static const char *who = "parent";

static void sleep_ms(int ms)
{
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
}

static int same(pid_t a, int fa, pid_t b, int fb)
{
	return syscall(SYS_kcmp, a, b, KCMP_FILE, fa, fb) == 0;
}

/*
 * check compares the fds 0..MAXFD-1 with want (the fd numbers open,
 * ending in -1), fd 9's close-on-exec with cloexec9, fd 12's offset with
 * off12, and the fds in pairs (own fd, parent's fd, ending in -1) with the
 * parent's: shared or, where the parent's is negated, not shared. It
 * returns 0, or -1 having said what differs.
 */
static int check(const int *want, int cloexec9, off_t off12, const int *pairs)
{
	char open_[MAXFD] = {0};
	for (const int *w = want; *w >= 0; w++)
		open_[*w] = 1;
	for (int fd = 0; fd < MAXFD; fd++) {
		int is = fcntl(fd, F_GETFD) >= 0;
		if (is != open_[fd]) {
			fprintf(stderr, "BAD %s: fd %d is %s\n", who, fd, is ? "open" : "closed");
			return -1;
		}
	}
	if (((fcntl(9, F_GETFD) & FD_CLOEXEC) != 0) != cloexec9) {
		fprintf(stderr, "BAD %s: fd 9 close-on-exec is not %d\n", who, cloexec9);
		return -1;
	}
	off_t off = lseek(12, 0, SEEK_CUR);
	if (off != off12) {
		fprintf(stderr, "BAD %s: fd 12 at offset %lld, not %lld\n", who, (long long)off, (long long)off12);
		return -1;
	}
	for (const int *p = pairs; p[0] >= 0; p += 2) {
		int theirs = p[1] < 0 ? -p[1] : p[1];
		if (same(getpid(), p[0], getppid(), theirs) != (p[1] >= 0)) {
			fprintf(stderr, "BAD %s: fd %d %s its parent's fd %d\n", who, p[0],
				p[1] >= 0 ? "does not share the description of" : "shares the description of", theirs);
			return -1;
		}
	}
	return 0;
}

static int reopen(const char *path, int fd, off_t off)
{
	int f = open(path, O_RDWR);
	if (f < 0 || dup2(f, fd) != fd || (f != fd && close(f) != 0) || lseek(fd, off, SEEK_SET) != off) {
		perror("forkfds: reopen");
		return -1;
	}
	return 0;
}

static void grandchild(const char *path)
{
	who = "grandchild";
	close(4);
	if (reopen(path, 12, 300) != 0)
		_exit(1);
	static const int want[] = {0, 1, 2, 3, 7, 8, 9, 10, 11, 12, -1};
	static const int pairs[] = {0, 0, 1, 1, 2, 2, 3, 3, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, -12, -1};
	for (;;) {
		if (check(want, 0, 300, pairs) != 0) {
			write(7, "B", 1);
			for (;;)
				pause();
		}
		sleep_ms(10);
	}
}

static void child(const char *path)
{
	who = "child";
	close(5);
	close(6);
	if (fcntl(9, F_SETFD, 0) != 0 || dup2(3, 10) != 10 || dup2(8, 11) != 11 || reopen(path, 12, 200) != 0)
		_exit(1);
	pid_t g = fork();
	if (g < 0)
		_exit(1);
	if (g == 0)
		grandchild(path);
	static const int want[] = {0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 12, -1};
	static const int pairs[] = {0, 0, 1, 1, 2, 2, 3, 3, 8, 8, 9, 9, 10, 3, 11, 8, 12, -12, -1};
	for (long round = 0;; round++) {
		char c;
		if (read(4, &c, 1) != 1)
			_exit(1);
		char answer = 'k';
		uint64_t one = 1;
		if (check(want, 0, 200, pairs) != 0 || lseek(3, 8, SEEK_CUR) < 0 ||
		    write(round % 2 ? 11 : 8, &one, 8) != 8)
			answer = 'B';
		if (write(7, &answer, 1) != 1)
			_exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: forkfds FILE\n");
		return 1;
	}
	const char *path = argv[1];
	syscall(SYS_close_range, 3, ~0U, 0); /* what the caller leaked */
	int p2c[2], c2p[2];
	if (reopen(path, 3, 0) != 0 || pipe(p2c) != 0 || pipe(c2p) != 0 ||
	    dup2(p2c[0], 4) != 4 || dup2(p2c[1], 5) != 5 || dup2(c2p[0], 6) != 6 || dup2(c2p[1], 7) != 7) {
		perror("forkfds: setup");
		return 1;
	}
	for (int *e = (int[]){p2c[0], p2c[1], c2p[0], c2p[1]}, i = 0; i < 4; i++)
		if (e[i] < 4 || e[i] > 7)
			close(e[i]);
	int ev = eventfd(0, EFD_NONBLOCK);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (ev < 0 || null < 0 || dup2(ev, 8) != 8 || (null != 9 && dup3(null, 9, O_CLOEXEC) != 9)) {
		perror("forkfds: setup");
		return 1;
	}
	if (ev != 8)
		close(ev);
	if (null != 9)
		close(null);
	pid_t c = fork();
	if (c < 0) {
		perror("forkfds: fork");
		return 1;
	}
	if (c == 0)
		child(path);
	close(4);
	close(7);
	int zero = open("/dev/zero", O_RDONLY);
	if (reopen(path, 12, 100) != 0 || zero < 0 || dup2(zero, 13) != 13) {
		perror("forkfds: setup");
		return 1;
	}
	if (zero != 13)
		close(zero);
	static const int want[] = {0, 1, 2, 3, 5, 6, 8, 9, 12, 13, -1};
	for (long tick = 1;; tick++) {
		static const int none[] = {-1};
		off_t before = lseek(3, 0, SEEK_CUR);
		char answer;
		uint64_t n = 0;
		if (check(want, 1, 100, none) != 0 || write(5, "r", 1) != 1 || read(6, &answer, 1) != 1) {
			printf("BAD\n");
			return 1;
		}
		if (answer != 'k') {
			fprintf(stderr, "BAD parent: the %s answered %c\n", answer == 'B' ? "child or grandchild" : "child", answer);
			printf("BAD\n");
			return 1;
		}
		off_t after = lseek(3, 0, SEEK_CUR);
		if (after != before + 8 || read(8, &n, 8) != 8 || n != 1) {
			fprintf(stderr, "BAD parent: fd 3 went from %lld to %lld, the eventfd read %llu (%s)\n",
				(long long)before, (long long)after, (unsigned long long)n, strerror(errno));
			printf("BAD\n");
			return 1;
		}
		printf("tick %ld\n", tick);
		fflush(stdout);
		sleep_ms(20);
	}
}
