/*
 * manyfds: a process holding thousands of descriptors, and a child
 * sharing them, that checks after a restart that each is what it was.
 *
 *   manyfds DIR N
 *
 * The parent writes DIR/data (64 KiB, byte k = k*7 mod 251) and opens N
 * fds, in rounds of four: an fd of its own on DIR/data at an offset of
 * its own; a dup of it (one open file description, one offset); a second
 * fd opened on DIR/data at the same offset as the first, which is a
 * description of its own (only kcmp tells it from a dup); and /dev/null,
 * write-only, every other one close-on-exec. Every 16th first fd is also
 * read by the child after the restart. Each eighth round's fds are opened
 * read-write on DIR/scratch instead, and the check writes through the
 * first and reads the dup's offset. Then it forks a child, which holds
 * all of them too (the same descriptions), and prints "ready".
 *
 * Both wait for DIR/go to exist. The child then checks its fds, reads a
 * byte through every 16th first fd and exits 0, or 1 after printing what
 * differed. The parent waits for it, checks every fd (the offset, the
 * file, the flags, close-on-exec; that reading or writing through the
 * first of a round moves the dup's offset and not the other fd's; that
 * the child's reads moved its offsets), prints "result ok N" or
 * "result BAD ..." and exits 0 or 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SIZE (64 << 10)
#define MAXN 40000

enum { FIRST, DUP, OTHER, NUL };

static int kind[MAXN];		/* by index: FIRST, DUP, OTHER, NUL */
static int fdof[MAXN];		/* by index: its fd */
static off_t off[MAXN];		/* by index: its offset expected */
static int cloexec[MAXN];
static int rw[MAXN];		/* on DIR/scratch, read-write */
static int n;
static char dir[4096];
static ino_t dataIno, scratchIno;
static int bad;

static unsigned char byteAt(off_t k) { return (unsigned char)(k * 7 % 251); }

static void fail(const char *what)
{
	perror(what);
	exit(1);
}

static void complain(const char *who, int i, const char *what, long got, long want)
{
	if (bad++ < 10)
		printf("result BAD %s fd %d (index %d, kind %d): %s %ld, want %ld\n", who, fdof[i], i, kind[i], what, got, want);
}

static void path(char *buf, const char *name) { snprintf(buf, 4200, "%s/%s", dir, name); }

/* check compares fd i's offset, file, access mode and close-on-exec with
 * what they were. */
static void check(const char *who, int i)
{
	int fd = fdof[i];
	struct stat st;
	if (fstat(fd, &st) != 0) {
		complain(who, i, "fstat errno", errno, 0);
		return;
	}
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
	if (kind[i] == NUL) {
		if (!S_ISCHR(st.st_mode) || (fl & O_ACCMODE) != O_WRONLY)
			complain(who, i, "not /dev/null write-only: mode", st.st_mode, S_IFCHR);
	} else {
		ino_t want = rw[i] ? scratchIno : dataIno;
		if (st.st_ino != want)
			complain(who, i, "inode", (long)st.st_ino, (long)want);
		if ((fl & O_ACCMODE) != (rw[i] ? O_RDWR : O_RDONLY))
			complain(who, i, "access mode", fl & O_ACCMODE, rw[i] ? O_RDWR : O_RDONLY);
		off_t at = lseek(fd, 0, SEEK_CUR);
		if (at != off[i])
			complain(who, i, "offset", (long)at, (long)off[i]);
	}
	if (!!(fdfl & FD_CLOEXEC) != cloexec[i])
		complain(who, i, "close-on-exec", fdfl & FD_CLOEXEC, cloexec[i]);
}

/* readOne reads a byte through fd i and checks it; its description's
 * offset moves by one. */
static void readOne(const char *who, int i)
{
	unsigned char c;
	if (read(fdof[i], &c, 1) != 1) {
		complain(who, i, "read errno", errno, 0);
		return;
	}
	if (!rw[i] && c != byteAt(off[i]))
		complain(who, i, "byte read", c, byteAt(off[i]));
}

static void waitGo(void)
{
	char go[4200];
	path(go, "go");
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	while (access(go, F_OK) != 0)
		nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		fail("usage: manyfds DIR N");
	snprintf(dir, sizeof dir, "%s", argv[1]);
	n = atoi(argv[2]) / 4 * 4;
	if (n <= 0 || n > MAXN)
		fail("manyfds: N out of range");
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		fail("getrlimit");
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		fail("setrlimit");

	char data[4200], scratch[4200];
	path(data, "data");
	path(scratch, "scratch");
	static unsigned char buf[SIZE];
	for (off_t k = 0; k < SIZE; k++)
		buf[k] = byteAt(k);
	int w = open(data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (w < 0 || write(w, buf, SIZE) != SIZE || close(w) != 0)
		fail("write data");
	w = open(scratch, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (w < 0 || write(w, buf, SIZE) != SIZE || close(w) != 0)
		fail("write scratch");
	struct stat st;
	if (stat(data, &st) != 0)
		fail("stat data");
	dataIno = st.st_ino;
	if (stat(scratch, &st) != 0)
		fail("stat scratch");
	scratchIno = st.st_ino;

	for (int i = 0; i < n; i += 4) {
		int round = i / 4;
		int onScratch = round % 8 == 7;
		const char *file = onScratch ? scratch : data;
		int mode = onScratch ? O_RDWR : O_RDONLY;
		off_t at = (off_t)(round * 37) % (SIZE - 4096);
		int ce = round % 2 ? O_CLOEXEC : 0;
		int a = open(file, mode | ce), o = open(file, mode);
		int d = fcntl(a, round % 3 ? F_DUPFD : F_DUPFD_CLOEXEC, 0);
		int z = open("/dev/null", O_WRONLY | (round % 2 ? 0 : O_CLOEXEC));
		if (a < 0 || o < 0 || d < 0 || z < 0)
			fail("open");
		if (lseek(a, at, SEEK_SET) != at || lseek(o, at, SEEK_SET) != at)
			fail("lseek");
		int fds[4] = { a, d, o, z };
		int ces[4] = { !!ce, !(round % 3), 0, !(round % 2) };
		for (int k = 0; k < 4; k++) {
			kind[i + k] = k;
			fdof[i + k] = fds[k];
			off[i + k] = k == NUL ? 0 : at;
			cloexec[i + k] = ces[k];
			rw[i + k] = k != NUL && onScratch;
		}
	}

	int ready[2];
	if (pipe(ready) != 0)
		fail("pipe");
	pid_t child = fork();
	if (child < 0)
		fail("fork");
	if (child == 0) {
		close(ready[0]);
		close(ready[1]);
		waitGo();
		for (int i = 0; i < n; i++)
			check("child", i);
		for (int i = 0; i < n; i += 64)
			readOne("child", i);
		fflush(stdout);
		_exit(bad ? 1 : 0);
	}
	close(ready[1]);
	close(ready[0]);
	printf("ready %d\n", n);
	fflush(stdout);

	waitGo();
	int status;
	if (waitpid(child, &status, 0) != child)
		fail("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("result BAD child: status %#x\n", status);
		return 1;
	}
	/* The child read through every 16th round's first fd: its dup's
	 * offset moved with it. */
	for (int i = 0; i < n; i += 64)
		off[i]++, off[i + 1]++;
	for (int i = 0; i < n; i++)
		check("parent", i);
	/* Through the first of each round: the dup's offset moves, the other
	 * fd's not. */
	for (int i = 0; i < n; i += 4) {
		if (rw[i]) {
			unsigned char c = 'x';
			if (write(fdof[i], &c, 1) != 1)
				complain("parent", i, "write errno", errno, 0);
		} else {
			readOne("parent", i);
		}
		off[i]++, off[i + 1]++;
		check("parent", i + 1);
		check("parent", i + 2);
	}
	if (bad) {
		printf("result BAD: %d differences\n", bad);
		return 1;
	}
	printf("result ok %d\n", n);
	return 0;
}
