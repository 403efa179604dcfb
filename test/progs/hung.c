/*
 * hung: a process whose threads are each blocked in a known function with
 * known local values, for the cores of cr_info --core.
 *
 *   hung
 *
 * answer_global is 4242 and heap_string points to "needle in the heap";
 * one thread waits in wait_in_reader (local_reader 777) reading a pipe
 * nobody writes, one in wait_in_sleeper (local_sleeper 888) in pause(),
 * and main in pthread_join. It prints "ready" once all are started.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

long answer_global = 4242;
char *heap_string;

static void __attribute__((noinline)) wait_in_reader(int fd)
{
	volatile int local_reader = 777;
	char c;
	(void)local_reader;
	if (read(fd, &c, 1) < 0)
		perror("hung: read");
}

static void *reader(void *arg)
{
	int p[2];
	if (pipe(p) != 0) {
		perror("hung: pipe");
		exit(1);
	}
	wait_in_reader(p[0]);
	return arg;
}

static void __attribute__((noinline)) wait_in_sleeper(void)
{
	volatile int local_sleeper = 888;
	(void)local_sleeper;
	for (;;)
		pause();
}

static void *sleeper(void *arg)
{
	wait_in_sleeper();
	return arg;
}

int main(void)
{
	heap_string = strdup("needle in the heap");
	pthread_t t1, t2;
	if (pthread_create(&t1, NULL, reader, NULL) != 0 || pthread_create(&t2, NULL, sleeper, NULL) != 0) {
		perror("hung: pthread_create");
		return 1;
	}
	sleep(1); /* let both threads reach their waits */
	printf("ready\n");
	fflush(stdout);
	pthread_join(t1, NULL);
	return 0;
}
