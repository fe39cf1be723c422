#!/usr/bin/env bash
# Fails when a process started by a test run is still alive after it (issue 12: "the suite
# leaves no process behind").
#
# How: `make test` exports FANOUT_TEST_RUN=<random marker> before ctest, so every process the
# run starts inherits it (tests, daemons, the CLI, redis-server; workers pass it on to their
# commands, FANOUT_TASK_ENV). After ctest this script scans /proc/*/environ for exactly
# FANOUT_TEST_RUN=<marker>, leaving out itself and its ancestors (make and the recipe's shell
# carry it too; this script re-executes itself without it, so what it starts does not). Processes still ending
# get GRACE seconds to go; whatever remains is printed (pid, parent, command line), killed by
# pid (so it does not run on) and the script exits 1.
#
# Usage: tests/check_leftovers.sh MARKER [GRACE_SECONDS]   (default 10)
set -u
if [ $# -lt 1 ] || [ -z "$1" ]; then
  echo "usage: $0 MARKER [GRACE_SECONDS]" >&2
  exit 2
fi
# Run without the marker: /proc/PID/environ shows the environment a process was exec'd with,
# which `unset` does not change, and the subshells of this script would show it too.
if [ -n "${FANOUT_TEST_RUN:-}" ]; then exec env -u FANOUT_TEST_RUN "$0" "$@"; fi
marker=$1
grace=${2:-10}

# "pid (comm) state ppid ...": the parent of a process (comm may hold spaces and parentheses).
parent_of() {
  local line
  read -r line 2>/dev/null <"/proc/$1/stat" || return 1
  line=${line##*) }
  set -- $line
  echo "$2"
}

declare -A ancestors
p=$$
while [ -n "$p" ] && [ "$p" -gt 1 ]; do
  ancestors[$p]=1
  p=$(parent_of "$p") || break
done

# Prints the pids of the run's processes that are alive (zombies have no environment).
scan() {
  local d pid kv
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [ -n "${ancestors[$pid]:-}" ] && continue
    [ -r "$d/environ" ] || continue
    while IFS= read -r -d '' kv; do
      if [ "$kv" = "FANOUT_TEST_RUN=$marker" ]; then
        echo "$pid"
        break
      fi
    done 2>/dev/null <"$d/environ"
  done
}

deadline=$((SECONDS + grace))
while :; do
  left=$(scan)
  [ -z "$left" ] && { echo "check_leftovers: no process of this test run is left"; exit 0; }
  [ "$SECONDS" -ge "$deadline" ] && break
  sleep 0.5
done

echo "check_leftovers: processes started by this test run are still alive after ${grace}s:" >&2
for pid in $left; do
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || cmd="(gone)"
  echo "  pid $pid (parent $(parent_of "$pid" || echo '?')): $cmd" >&2
done
for pid in $left; do kill -KILL "$pid" 2>/dev/null; done
echo "check_leftovers: killed them; the test that started them leaks processes" >&2
exit 1
