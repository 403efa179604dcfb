#!/bin/bash
# bgjob.sh COUNTER: a bash script with a background job. The job (the
# counter) writes "tick N" to bg.txt; the script itself writes "tick N" to
# its stdout every 50 ms, starting a sleep each time, so it forks all the
# while. It waits for the job at the end (never, here).
"$1" > bg.txt &
for ((i = 1; i <= 100000; i++)); do
	echo "tick $i"
	sleep 0.05
done
wait
