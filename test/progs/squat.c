/*
 * squat: takes every agent socket name another user can predict, as an
 * attacker would, then waits to be killed.
 *
 *   squat STALE AHEAD
 *
 * First STALE times: a child listens on "@stasis-agent-CHILDPID-0...0",
 * hands the socket to us and exits, so that its pid is free again while
 * SO_PEERCRED on that socket still names it (an agent that later gets the
 * pid would look like the listener). Then, for each of the AHEAD pids after
 * the last one the kernel gave, listens on "@stasis-agent-PID" (the old,
 * plain name), "@stasis-agent-PID-0...0" (the known prefix) and
 * "@stasis-agent-was-PID-0...0" (an agent answering for PID). Prints
 * "ready FIRST LAST" (the pids of the first and last child) on stdout.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int listen_on(const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0 || n + 1 > sizeof a.sun_path)
		return -1;
	memcpy(a.sun_path + 1, name, n); /* abstract: a leading 0 byte */
	if (bind(fd, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + n) < 0 ||
	    listen(fd, 1) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static const char zeros[] = "00000000000000000000000000000000";

/* stale makes one socket that names a pid which is then free again, and
 * returns that pid. */
static int stale(void)
{
	int sp[2];
	char name[64], c = 0;

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sp) < 0) {
		perror("squat: socketpair");
		exit(1);
	}
	pid_t pid = fork();
	if (pid == 0) {
		snprintf(name, sizeof name, "stasis-agent-%d-%s", getpid(), zeros);
		int fd = listen_on(name);
		char cm[CMSG_SPACE(sizeof fd)] = { 0 };
		struct iovec iov = { &c, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm, .msg_controllen = sizeof cm };
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof fd);
		memcpy(CMSG_DATA(h), &fd, sizeof fd);
		_exit(fd < 0 || sendmsg(sp[1], &m, 0) != 1);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || st != 0) {
		fprintf(stderr, "squat: child %d could not listen\n", pid);
		exit(1);
	}
	/* The socket stays in flight in sp[0]'s queue, which we hold open. */
	close(sp[1]);
	return pid;
}

int main(int argc, char **argv)
{
	int nstale = argc > 1 ? atoi(argv[1]) : 0, ahead = argc > 2 ? atoi(argv[2]) : 0;
	int first = 0, last = 0, held = 0;
	char name[64];

	for (int i = 0; i < nstale; i++) {
		last = stale();
		if (i == 0)
			first = last;
	}
	int from = last ? last : getpid();
	for (int pid = from + 1; pid <= from + ahead; pid++) {
		snprintf(name, sizeof name, "stasis-agent-%d", pid);
		held += listen_on(name) >= 0;
		snprintf(name, sizeof name, "stasis-agent-%d-%s", pid, zeros);
		held += listen_on(name) >= 0;
		snprintf(name, sizeof name, "stasis-agent-was-%d-%s", pid, zeros);
		held += listen_on(name) >= 0;
	}
	printf("ready %d %d %d\n", first, last, held);
	fflush(stdout);
	pause();
	return 0;
}
