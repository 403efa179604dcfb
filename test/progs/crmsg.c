/*
 * crmsg: reads lines on stdin and prints what libcr's message decoder
 * (clib/msg.c) makes of each, or "bad" (TestLibcrMessages).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int main(void)
{
	static struct cri_event ev;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = 0;
		if (n > CRI_MAX_LINE || cri_decode(line, &ev) < 0) { /* too long: a protocol error */
			puts("bad");
			continue;
		}
		printf("ev=%s id=%llu requester=%d target=%d signal=%d status=%d code=%d scope=%s path=%s error=%s reply=%d/%d/%d/%d/%s\n",
		       ev.ev, (unsigned long long)ev.id, ev.requester, ev.target, ev.signal, ev.status, ev.code, ev.scope,
		       ev.path, ev.error, ev.reply.present, ev.reply.ok, ev.reply.want_fd, ev.reply.status, ev.reply.path);
	}
	free(line);
	return 0;
}
