#!/usr/bin/env bash
# demo.sh: checkpoint a running program, kill it, restart it from the image,
# and show that it carries on counting where it stopped, with the same pid.
#
#   make demo            (builds bin/ first)
#   bash scripts/demo.sh (uses $STASIS_BIN, default bin/)
#
# Needs gcc and, for restoring the original pid, root.
set -euo pipefail

# Close what whatever started us left open (a CI runner's pipe on fd 251):
# the counter would inherit it, and such a descriptor cannot be saved.
for fd in /proc/$$/fd/*; do
	fd=${fd##*/}
	if ((fd > 2 && fd != 255)); then eval "exec $fd>&-"; fi
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${STASIS_BIN:-$root/bin}
for cmd in cr_checkpoint cr_restart; do
	if [[ ! -x $bin/$cmd ]]; then
		echo "demo: $bin/$cmd not found: run 'make build' first" >&2
		exit 1
	fi
done
command -v gcc >/dev/null || { echo "demo: gcc is needed to build the demo program" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/stasis-demo.XXXXXX")
pid= rpid=
cleanup() {
	local p
	for p in $pid $rpid; do
		kill -9 "$p" 2>/dev/null || true
	done
	{ wait; } 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { echo "demo: FAILED: $*" >&2; exit 1; }
last_tick() { tail -n 1 "$tmp/counter.log" | awk '$1 == "tick" { print $2 }'; }

step "1. Build the demo program: test/progs/counter.c prints \"tick N\" every 50 ms"
gcc -O2 -o "$tmp/counter" "$root/test/progs/counter.c"

step "2. Start it in the background, its output going to $tmp/counter.log"
"$tmp/counter" >"$tmp/counter.log" 2>&1 &
pid=$!
echo "counter is running as pid $pid"
sleep 1
tail -n 3 "$tmp/counter.log"
[[ -e /proc/$pid ]] || fail "the counter is not running"

step "3. Checkpoint it into $tmp/counter.ctx and kill it"
echo "\$ cr_checkpoint --kill -f $tmp/counter.ctx $pid"
# (The shell's own "Killed" notice for its background job is silenced.)
exec 3>&2 2>/dev/null
status=0
"$bin/cr_checkpoint" --kill -f "$tmp/counter.ctx" "$pid" 2>&3 || status=$?
if ((status != 0)); then
	kill -9 "$pid" 2>/dev/null || true # stop the counter: never wait on it
fi
wait "$pid" || true # reap it, so that its pid is free again
exec 2>&3 3>&-
((status == 0)) || fail "cr_checkpoint exited with status $status"
ls -l "$tmp/counter.ctx"
if [[ -e /proc/$pid ]]; then fail "pid $pid still exists after cr_checkpoint --kill"; fi
echo "pid $pid is gone"
before=$(last_tick)
[[ -n $before ]] || fail "no tick in the log before the checkpoint"
echo "the log stops at tick $before"

step "4. Restart it from the image, in the background"
echo "\$ cr_restart $tmp/counter.ctx &"
"$bin/cr_restart" "$tmp/counter.ctx" &
rpid=$!
sleep 1
[[ -e /proc/$pid ]] || fail "no process with the original pid $pid after the restart"
ppid=$(awk '{ sub(/^.*\) /, ""); print $2 }' "/proc/$pid/stat")
echo "pid $pid is back, a child of cr_restart (pid $rpid): parent is $ppid"
[[ $ppid == "$rpid" ]] || fail "pid $pid's parent is $ppid, not cr_restart ($rpid)"
tail -n 3 "$tmp/counter.log"
after=$(last_tick)
((after > before)) || fail "the count did not continue: tick $before before, ${after:-nothing} after"
# Every line must be "tick N" on line N: nothing lost, nothing repeated.
awk '$0 != "tick " NR { printf "line %d is \"%s\"\n", NR, $0; bad = 1; exit } END { exit bad }' \
	"$tmp/counter.log" || fail "the log is not one unbroken count"
echo "the count went on from tick $before to tick $after, with no gap and no repeat"

step "5. Stop the restored counter"
kill -9 "$pid"
{ wait "$rpid"; } 2>/dev/null || true
pid= rpid=
echo "demo: OK"
