#!/bin/bash
# An example Slurm job script for stasis: the job survives preemption and
# its time limit. Submit it with: sbatch scripts/slurm-job.sh
#
#   --signal=B:USR1@120  warn the batch shell (cr_job, by the exec below)
#                        two minutes before the time limit; cr_job then
#                        checkpoints the job and requeues it
#   --requeue            let the job be run again
#   --open-mode=append   the output file goes on, not starts over, on a rerun
#
# Images go to stasis.$SLURM_JOB_ID in the submit directory, or under
# $STASIS_CKPT_DIR if set (a directory every node sees). Preempt by hand:
#   scancel --signal=USR1 --batch JOBID
#SBATCH --job-name=solver
#SBATCH --time=04:00:00 --signal=B:USR1@120 --requeue --open-mode=append
#SBATCH --output=solver.%j.out

# A checkpoint every hour as well, against a node that fails without warning.
exec cr_job --interval 1h ./solver input.dat
