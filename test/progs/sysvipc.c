/*
 * sysvipc: a counter kept in a System V semaphore, passed through a
 * System V message queue, or both.
 *
 *   sysvipc sem|msg|both
 *
 * It makes a private semaphore set of one and/or a private message queue
 * and prints "ids SEM MSG" (-1 for the one it does not make). Every 50 ms
 * it adds one to the semaphore (semop) and/or sends the count through the
 * queue and receives it back, and prints "tick N" with N the count read
 * back from the kernel objects: the count lives in them, not in memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <time.h>

struct msg {
	long type;
	long n;
};

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "both";
	int use_sem = strcmp(what, "msg") != 0, use_msg = strcmp(what, "sem") != 0;
	int sem = -1, q = -1;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	if (use_sem && (sem = semget(IPC_PRIVATE, 1, 0600)) < 0) {
		perror("sysvipc: semget");
		return 1;
	}
	if (use_msg && (q = msgget(IPC_PRIVATE, 0600)) < 0) {
		perror("sysvipc: msgget");
		return 1;
	}
	fprintf(stderr, "ids %d %d\n", sem, q);
	if (use_msg) {
		struct msg m = { 1, 0 };
		if (msgsnd(q, &m, sizeof m.n, 0) < 0) {
			perror("sysvipc: msgsnd");
			return 1;
		}
	}
	for (long n = 0;;) {
		if (use_sem) {
			struct sembuf op = { 0, 1, 0 };
			if (semop(sem, &op, 1) < 0) {
				perror("sysvipc: semop");
				return 1;
			}
			int v = semctl(sem, 0, GETVAL);
			if (v < 0) {
				perror("sysvipc: semctl");
				return 1;
			}
			n = v;
		}
		if (use_msg) {
			struct msg m;
			if (msgrcv(q, &m, sizeof m.n, 0, 0) < 0) {
				perror("sysvipc: msgrcv");
				return 1;
			}
			m.n = use_sem ? n : m.n + 1;
			if (msgsnd(q, &m, sizeof m.n, 0) < 0) {
				perror("sysvipc: msgsnd");
				return 1;
			}
			n = m.n;
		}
		printf("tick %ld\n", n);
		fflush(stdout);
		nanosleep(&ts, NULL);
	}
}
