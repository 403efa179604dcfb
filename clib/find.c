/*
 * find.c: finding the process's agent, as the Go side does it
 * (internal/control/find.go; docs/agent.md): from our parent up through
 * the parents, the listening sockets named @stasis-agent-PID-*, only those
 * that process holds, and only one whose SO_PEERCRED shows that process
 * with the uid it runs as, which must be ours or root's (unless we are
 * root). The kernel's socket table is read from /proc/net/unix, which
 * lists the same sockets as NETLINK_SOCK_DIAG.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

#define MAX_CANDS 16

struct cand {
	char name[108]; /* without the leading @ */
	unsigned long ino;
};

/* listening lists the listening abstract sockets whose names start with
 * prefix. */
static int listening(const char *prefix, struct cand *out, int max)
{
	FILE *f = fopen("/proc/net/unix", "re");
	char line[512];
	int n = 0;
	if (!f)
		return -1;
	if (!fgets(line, sizeof line, f)) { /* the header */
		fclose(f);
		return 0;
	}
	while (n < max && fgets(line, sizeof line, f)) {
		unsigned flags, type, st;
		unsigned long ino;
		char path[256];
		if (sscanf(line, "%*s %*s %*s %x %x %x %lu %255s", &flags, &type, &st, &ino, path) != 5)
			continue;
		if (!(flags & 0x10000) || type != SOCK_STREAM || path[0] != '@') /* __SO_ACCEPTCON */
			continue;
		if (strncmp(path + 1, prefix, strlen(prefix)) || strlen(path + 1) >= sizeof out[n].name)
			continue;
		strcpy(out[n].name, path + 1);
		out[n].ino = ino;
		n++;
	}
	fclose(f);
	return n;
}

/* holds says whether pid holds socket ino: 1 yes, 0 no, -1 we may not look. */
static int holds(pid_t pid, unsigned long ino)
{
	char dir[64], link[64], want[64];
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
	snprintf(want, sizeof want, "socket:[%lu]", ino);
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int fd = dirfd(d), found = 0, denied = 0;
	struct dirent *e;
	while ((e = readdir(d)) && !found) {
		if (e->d_name[0] == '.')
			continue;
		ssize_t k = readlinkat(fd, e->d_name, link, sizeof link - 1);
		if (k < 0) {
			if (errno == EACCES || errno == EPERM)
				denied = 1;
			continue;
		}
		link[k] = 0;
		found = !strcmp(link, want);
	}
	closedir(d);
	return found ? 1 : denied ? -1 : 0;
}

/* status_uid reads the effective uid process pid runs as; -1: gone. */
static long status_uid(pid_t pid)
{
	char path[64], line[256];
	long ruid, euid = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Uid: %ld %ld", &ruid, &euid) == 2)
			break;
	fclose(f);
	return euid;
}

/* parent reads the parent pid of pid; -1: gone. */
static pid_t parent(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the name may hold anything */
	int ppid;
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

/* dial connects to c and checks the listener is agent pid agent. */
static int dial(const struct cand *c, pid_t agent)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(c->name);
	memcpy(sa.sun_path + 1, c->name, len); /* abstract: a leading NUL */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int r;
	do
		r = connect(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len));
	while (r < 0 && errno == EINTR);
	struct ucred cr;
	socklen_t cl = sizeof cr;
	if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0) {
		close(fd);
		return -1;
	}
	long uid = status_uid(agent);
	uid_t me = getuid();
	if (cr.pid != agent || uid < 0 || (uid_t)uid != cr.uid || (me != 0 && cr.uid != me && cr.uid != 0)) {
		close(fd); /* a squatter, or not ours to talk to */
		return -1;
	}
	return fd;
}

/* try connects to the agent pid agent through a socket named prefix*. */
static int try(const char *prefix, pid_t agent)
{
	struct cand c[MAX_CANDS];
	int n = listening(prefix, c, MAX_CANDS);
	for (int i = 0; i < n; i++) {
		if (holds(agent, c[i].ino) == 0)
			continue; /* not the agent's: never even connect */
		int fd = dial(&c[i], agent);
		if (fd >= 0)
			return fd;
	}
	return -1;
}

int cri_find_agent(pid_t *agent)
{
	char prefix[128];
	pid_t p = getppid();
	while (p > 1) {
		snprintf(prefix, sizeof prefix, "stasis-agent-%d-", (int)p);
		int fd = try(prefix, p);
		if (fd >= 0) {
			*agent = p;
			return fd;
		}
		p = parent(p);
	}
	if (p == 1) {
		/* pid 1 of a pid namespace that cr_restart made for its job */
		char ns[64];
		ssize_t k = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
		unsigned long ino;
		if (k > 0) {
			ns[k] = 0;
			if (sscanf(ns, "pid:[%lu]", &ino) == 1) {
				snprintf(prefix, sizeof prefix, "stasis-agent-1-ns%lu-", ino);
				int fd = try(prefix, 1);
				if (fd >= 0) {
					*agent = 1;
					return fd;
				}
			}
		}
	}
	errno = CR_ENOSUPPORT;
	return -1;
}
