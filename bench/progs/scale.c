/*
 * scale: one process holding many of one kind of thing, to checkpoint.
 *
 *   scale threads|maps|fds N
 *
 * threads: N threads in all (the main one and N-1 more); maps: N private
 * anonymous mappings of one page, alternately read-only and written (so
 * that no two merge); fds: N descriptors open on /dev/null (the soft
 * limit raised to the hard one). Then it prints "ready" and every thread
 * sleeps in pause() until killed. Exit status 1 with a message on stderr
 * on error.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static int fail(const char *what)
{
	perror(what);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return fail("usage: scale threads|maps|fds N");
	long n = atol(argv[2]);
	if (strcmp(argv[1], "threads") == 0) {
		for (long i = 1; i < n; i++) {
			pthread_t t;
			pthread_attr_t a;
			pthread_attr_init(&a);
			pthread_attr_setstacksize(&a, 64 << 10);
			if (pthread_create(&t, &a, sleeper, NULL) != 0)
				return fail("pthread_create");
		}
	} else if (strcmp(argv[1], "maps") == 0) {
		for (long i = 0; i < n; i++) {
			int prot = i % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
			char *p = mmap(NULL, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED)
				return fail("mmap");
			if (i % 2 == 0)
				p[0] = (char)i;
		}
	} else if (strcmp(argv[1], "fds") == 0) {
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
			return fail("getrlimit");
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			return fail("setrlimit");
		for (long i = 0; i < n; i++)
			if (open("/dev/null", O_RDONLY) < 0)
				return fail("open /dev/null");
	} else {
		return fail("scale: threads, maps or fds");
	}
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
