/* mpiring STEPS: an MPI job of any size whose ranks, at each step, pass
 * a hash around the ring (MPI_Sendrecv), mix in what they got and the
 * step, and sum the hashes (MPI_Allreduce), sleeping 1 ms a step. Rank 0
 * prints "step N" every 100 steps and "result SUM" at the end: the sum
 * of the last step, which test/mpi_test.go computes as well. Built with
 * mpicc by the test, not by the harness.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	long steps = argc > 1 ? atol(argv[1]) : 1000;
	uint64_t h = (uint64_t)rank + 1, sum = 0;
	for (long step = 1; step <= steps; step++) {
		uint64_t got;
		MPI_Sendrecv(&h, 1, MPI_UINT64_T, (rank + 1) % size, 0,
			     &got, 1, MPI_UINT64_T, (rank + size - 1) % size, 0,
			     MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		h = h * 6364136223846793005ULL + got + (uint64_t)step;
		MPI_Allreduce(&h, &sum, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
		h ^= sum >> 17;
		if (rank == 0 && step % 100 == 0) {
			printf("step %ld\n", step);
			fflush(stdout);
		}
		usleep(1000);
	}
	if (rank == 0) {
		printf("result %llu\n", (unsigned long long)sum);
		fflush(stdout);
	}
	MPI_Finalize();
	return 0;
}
