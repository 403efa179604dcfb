/*
 * watch: an inotify watcher, or a holder of a fanotify instance.
 *
 *   watch DIR1 SCRATCH DIR2 [DIR...]
 *   watch fanotify
 *
 * It watches DIR1 for files created or moved in, then SCRATCH, which it
 * stops watching, twice, then DIR2 and the others for files created or
 * deleted: so DIR1 has watch descriptor 1, and DIR2 4 (the kernel hands
 * out descriptors in increasing order). It prints "wd N DIR" for each
 * directory it keeps watching, then "event WD MASK NAME" (MASK in hex)
 * for each event it reads, and "tick N" every 50 ms. With "fanotify" it
 * makes a fanotify instance (FAN_REPORT_FID, which needs no privilege)
 * and prints "ready" and ticks.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <fcntl.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void ticks(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (long n = 1;; n++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (fd >= 0 && poll(&p, 1, 50) > 0) {
			ssize_t len = read(fd, buf, sizeof buf);
			if (len < 0)
				die("watch: read");
			for (char *at = buf; at < buf + len;) {
				struct inotify_event *ev = (struct inotify_event *)at;
				printf("event %d %x %s\n", ev->wd, ev->mask, ev->len ? ev->name : "");
				at += sizeof *ev + ev->len;
			}
		} else if (fd < 0) {
			usleep(50 * 1000);
		}
		printf("tick %ld\n", n);
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "fanotify") == 0) {
		int fan = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_FID, O_RDONLY);
		if (fan < 0)
			die("watch: fanotify_init");
		printf("ready\n");
		ticks(-1);
	}
	if (argc < 4) {
		fprintf(stderr, "usage: watch DIR1 SCRATCH DIR2 [DIR...] | watch fanotify\n");
		return 2;
	}
	int fd = inotify_init1(IN_CLOEXEC);
	if (fd < 0)
		die("watch: inotify_init1");
	int wd = inotify_add_watch(fd, argv[1], IN_CREATE | IN_MOVED_TO);
	if (wd < 0)
		die("watch: inotify_add_watch");
	printf("wd %d %s\n", wd, argv[1]);
	for (int i = 0; i < 2; i++) {
		int s = inotify_add_watch(fd, argv[2], IN_CREATE);
		if (s < 0 || inotify_rm_watch(fd, s) < 0)
			die("watch: scratch watch");
	}
	for (int i = 3; i < argc; i++) {
		if ((wd = inotify_add_watch(fd, argv[i], IN_CREATE | IN_DELETE)) < 0)
			die("watch: inotify_add_watch");
		printf("wd %d %s\n", wd, argv[i]);
	}
	fflush(stdout);
	ticks(fd);
}
