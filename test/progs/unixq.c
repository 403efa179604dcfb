/*
 * unixq: a parent (the receiver) and its forked child (the sender) share
 * a pipe, whose read end the parent holds and whose write end the child
 * holds; a stream socket pair, one end each; and an eventfd and a memfd,
 * which both hold (one open file description each). Over a seqpacket
 * socket pair ("unixq dgram": a datagram one, whose receiving end the
 * kernel binds to an abstract name when it sends) whose receiving end
 * has SO_PASSCRED, the child sends numbered messages, each carrying its
 * own getpid(), geteuid() and getegid() and passing (SCM_RIGHTS) its pipe
 * write end, its socket end, the eventfd and the memfd, all of which it
 * keeps. It stays two messages ahead of the parent, which reads one
 * every 100 ms, so messages, with files in flight, always wait in the
 * queue. For message N the parent writes "pipe N" through the pipe end
 * it was passed and reads it back from its own read end, writes "sock N"
 * through the passed socket end and reads it from its own end, adds N to
 * the passed eventfd and reads N from its own, appends "memfd N" through
 * the passed memfd and finds its own offset moved past it (one
 * description) and the line there; it checks that the credentials the
 * kernel gave it (SCM_CREDENTIALS) are the child's pid as fork returned
 * it, and the pid, uid and gid the message says, and prints "tick N ok
 * pid=P uid=U gid=G"; its own end keeps the name the kernel bound it to
 * on its first send; anything else ends it with "BAD ..." and status 1.
 *
 * "unixq orphan": the child passes its pipe write end and closes it, so
 * that no process holds what is in flight; the parent prints "orphan
 * pid=P fd=F", its pid and the fd the message waits on, and waits.
 * "unixq gone": the child sends a message passing nothing and exits; the
 * parent, which keeps every end, reaps it and prints "gone pid=P fd=F
 * sender=C", C being the child's pid, and waits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NFD 4

struct msg {
	int64_t n;
	int32_t pid, uid, gid;
};

static void nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void bad(const char *what, int64_t n)
{
	printf("BAD %s at message %lld (errno %d)\n", what, (long long)n, errno);
	fflush(stdout);
	exit(1);
}

/* send message n passing the nfd fds */
static int send_msg(int s, int64_t n, const int *fds, int nfd)
{
	struct msg m = { n, getpid(), geteuid(), getegid() };
	struct iovec iov = { &m, sizeof m };
	union {
		char buf[CMSG_SPACE(NFD * sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = nfd ? u.buf : NULL,
			    .msg_controllen = nfd ? CMSG_SPACE(nfd * sizeof(int)) : 0 };
	if (nfd) {
		struct cmsghdr *c = CMSG_FIRSTHDR(&h);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfd * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfd * sizeof(int));
	}
	ssize_t r;
	while ((r = sendmsg(s, &h, 0)) < 0 && errno == EINTR)
		;
	return r == sizeof m ? 0 : -1;
}

static ssize_t retry_read(int fd, void *b, size_t n)
{
	ssize_t r;
	while ((r = read(fd, b, n)) < 0 && errno == EINTR)
		;
	return r;
}

static void child(int t, const int *fds)
{
	int64_t next = 1;
	for (; next <= 2; next++)
		if (send_msg(t, next, fds, NFD))
			_exit(2);
	for (;;) {
		int64_t ack;
		if (retry_read(t, &ack, sizeof ack) != sizeof ack)
			_exit(0);
		if (send_msg(t, next++, fds, NFD))
			_exit(3);
	}
}

static void echo(int through, int from, const char *kind, int64_t n)
{
	char want[64], got[64];
	int len = snprintf(want, sizeof want, "%s %lld", kind, (long long)n);
	if (write(through, want, len) != len)
		bad(kind, n);
	ssize_t r = retry_read(from, got, sizeof got);
	if (r != len || memcmp(got, want, len))
		bad(kind, n);
}

/* the eventfd: n added through the passed one is read from our own */
static void count(int through, int own, int64_t n)
{
	uint64_t v = n;
	if (write(through, &v, 8) != 8 || retry_read(own, &v, 8) != 8 || v != (uint64_t)n)
		bad("eventfd", n);
}

/* the memfd: a line appended through the passed one moves our own offset */
static void append(int through, int own, int64_t n)
{
	char want[64], got[64];
	off_t at = lseek(own, 0, SEEK_CUR);
	int len = snprintf(want, sizeof want, "memfd %lld\n", (long long)n);
	if (at < 0 || write(through, want, len) != len)
		bad("memfd write", n);
	if (lseek(own, 0, SEEK_CUR) != at + len)
		bad("memfd offset not shared", n);
	if (pread(own, got, len, at) != len || memcmp(got, want, len))
		bad("memfd contents", n);
}

int main(int argc, char **argv)
{
	int orphan = argc > 1 && !strcmp(argv[1], "orphan");
	int gone = argc > 1 && !strcmp(argv[1], "gone");
	int type = argc > 1 && !strcmp(argv[1], "dgram") ? SOCK_DGRAM : SOCK_SEQPACKET;
	int p[2], sp[2], t[2], on = 1;
	int efd = eventfd(0, 0), mfd = memfd_create("unixq", 0);
	if (pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) || socketpair(AF_UNIX, type, 0, t) || efd < 0 || mfd < 0) {
		perror("unixq: setup");
		return 1;
	}
	if (setsockopt(t[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on)) {
		perror("unixq: SO_PASSCRED");
		return 1;
	}
	pid_t kid = fork();
	if (kid < 0) {
		perror("unixq: fork");
		return 1;
	}
	if (kid == 0) {
		close(p[0]);
		close(sp[1]);
		close(t[0]);
		if (orphan) {
			if (send_msg(t[1], 1, &p[1], 1))
				_exit(2);
			close(p[1]);
			for (;;)
				pause();
		}
		if (gone)
			_exit(send_msg(t[1], 1, NULL, 0) ? 2 : 0);
		int fds[NFD] = { p[1], sp[0], efd, mfd };
		child(t[1], fds);
	}
	if (gone) {
		/* keeping every end, so that all stays inside the checkpoint */
		int st;
		if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st) || WEXITSTATUS(st)) {
			printf("BAD the child did not send its message\n");
			return 1;
		}
		printf("gone pid=%d fd=%d sender=%d\n", getpid(), t[0], kid);
		fflush(stdout);
		for (;;)
			pause();
	}
	close(p[1]);
	close(sp[0]);
	close(t[1]);
	if (orphan) {
		nap(200);
		printf("orphan pid=%d fd=%d\n", getpid(), t[0]);
		fflush(stdout);
		for (;;)
			pause();
	}
	struct sockaddr_un name;
	socklen_t name_len = 0;
	for (int64_t want = 1;; want++) {
		nap(100);
		struct msg m;
		struct iovec iov = { &m, sizeof m };
		union {
			char buf[CMSG_SPACE(NFD * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
			struct cmsghdr align;
		} u;
		struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
		ssize_t r;
		while ((r = recvmsg(t[0], &h, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
			;
		if (r != sizeof m || (h.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
			bad("recvmsg", want);
		if (m.n != want)
			bad("number", want);
		int fds[NFD], nfd = 0;
		struct ucred cr = { 0, -1, -1 };
		int got_cr = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				if (nfd > NFD)
					bad("too many fds", want);
				memcpy(fds, CMSG_DATA(c), nfd * sizeof(int));
			} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
				memcpy(&cr, CMSG_DATA(c), sizeof cr);
				got_cr = 1;
			}
		}
		if (nfd != NFD)
			bad("fds missing", want);
		if (!got_cr || cr.pid != kid || cr.pid != m.pid || cr.uid != (uid_t)m.uid || cr.gid != (gid_t)m.gid) {
			printf("BAD credentials at message %lld: pid %d uid %d gid %d, the child is pid %d and says pid %d uid %d gid %d\n",
			       (long long)want, cr.pid, (int)cr.uid, (int)cr.gid, kid, m.pid, m.uid, m.gid);
			fflush(stdout);
			return 1;
		}
		echo(fds[0], p[0], "pipe", want);
		echo(fds[1], sp[1], "sock", want);
		count(fds[2], efd, want);
		append(fds[3], mfd, want);
		for (int i = 0; i < NFD; i++)
			close(fds[i]);
		printf("tick %lld ok pid=%d uid=%d gid=%d\n", (long long)want, cr.pid, (int)cr.uid, (int)cr.gid);
		fflush(stdout);
		if (send(t[0], &want, sizeof want, 0) != sizeof want)
			bad("ack", want);
		/* sending with SO_PASSCRED bound it to an abstract name: kept */
		struct sockaddr_un sa;
		socklen_t len = sizeof sa;
		if (getsockname(t[0], (struct sockaddr *)&sa, &len) || len <= sizeof(sa_family_t))
			bad("getsockname", want);
		if (!name_len) {
			memcpy(&name, &sa, len);
			name_len = len;
		} else if (len != name_len || memcmp(&sa, &name, len))
			bad("its name changed", want);
	}
}
