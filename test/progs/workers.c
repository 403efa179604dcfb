/*
 * workers: a parent and three forked workers that share an anonymous
 * shared region (MAP_SHARED|MAP_ANONYMOUS) and a pipe back to the parent.
 *
 *   workers [ROUNDS [sysv]]
 *
 * With "sysv" the region is a System V shared memory segment (shmget,
 * shmat, then IPC_RMID at once, as programs do) instead.
 *
 * Worker i does its rounds (worker 0 a tenth of ROUNDS, the others ROUNDS;
 * default 200): each adds 1 to its own slot and to the shared total, then
 * sleeps 10 ms. Done, it writes "i COUNT" to the pipe and exits with
 * status 10+i. The parent prints "tick N" every 50 ms and reaps nobody
 * until every worker has reported, so worker 0 stays a zombie for a long
 * while. Then it checks the reports, the slots, the total and the exit
 * statuses, writes "result ok TOTAL" (or "result BAD ...") to
 * ./workers.result and exits 0 (or 1).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NW 3

struct shared {
	long total;
	long slot[NW];
};

static void nap(long ms)
{
	struct timespec ts = { 0, ms * 1000 * 1000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int finish(const char *verdict)
{
	FILE *f = fopen("workers.result", "w");
	if (f == NULL)
		return 1;
	fprintf(f, "%s\n", verdict);
	fclose(f);
	return strncmp(verdict, "result ok", 9) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 200;
	long want[NW];
	struct shared *sh;
	if (argc > 2 && strcmp(argv[2], "sysv") == 0) {
		int id = shmget(IPC_PRIVATE, sizeof *sh, IPC_CREAT | 0600);
		sh = id < 0 ? MAP_FAILED : shmat(id, NULL, 0);
		if (sh == (void *)-1)
			sh = MAP_FAILED;
		if (id >= 0)
			shmctl(id, IPC_RMID, NULL);
	} else {
		sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	}
	int p[2];
	pid_t pids[NW];

	if (sh == MAP_FAILED || pipe(p) != 0) {
		perror("workers");
		return 1;
	}
	for (int i = 0; i < NW; i++) {
		want[i] = i == 0 ? rounds / 10 : rounds;
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("fork");
			return 1;
		}
		if (pids[i] == 0) {
			close(p[0]);
			for (long r = 0; r < want[i]; r++) {
				__atomic_add_fetch(&sh->slot[i], 1, __ATOMIC_SEQ_CST);
				__atomic_add_fetch(&sh->total, 1, __ATOMIC_SEQ_CST);
				nap(10);
			}
			dprintf(p[1], "%d %ld\n", i, sh->slot[i]);
			_exit(10 + i);
		}
	}
	close(p[1]);
	char buf[4096];
	size_t have = 0;
	long tick = 0;
	for (;;) {
		struct pollfd pf = { p[0], POLLIN, 0 };
		int n = poll(&pf, 1, 50);
		if (n == 0 || (n < 0 && errno == EINTR)) {
			printf("tick %ld\n", ++tick);
			fflush(stdout);
			continue;
		}
		ssize_t got = read(p[0], buf + have, sizeof buf - 1 - have);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;	/* every worker has closed its end */
		have += got;
	}
	buf[have] = 0;
	char verdict[512];
	long reported[NW] = { 0 }, sum = 0;
	int seen = 0;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		int i;
		long c;
		if (sscanf(line, "%d %ld", &i, &c) == 2 && i >= 0 && i < NW) {
			reported[i] = c;
			seen++;
		}
	}
	for (int i = 0; i < NW; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 10 + i) {
			snprintf(verdict, sizeof verdict, "result BAD worker %d status %#x", i, st);
			return finish(verdict);
		}
		if (reported[i] != want[i] || sh->slot[i] != want[i]) {
			snprintf(verdict, sizeof verdict, "result BAD worker %d reported %ld slot %ld want %ld",
				 i, reported[i], sh->slot[i], want[i]);
			return finish(verdict);
		}
		sum += want[i];
	}
	if (seen != NW || sh->total != sum) {
		snprintf(verdict, sizeof verdict, "result BAD reports %d total %ld want %ld", seen, sh->total, sum);
		return finish(verdict);
	}
	snprintf(verdict, sizeof verdict, "result ok %ld", sum);
	return finish(verdict);
}
