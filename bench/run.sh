#!/usr/bin/env bash
# fanout's benchmark harness: the cases of issue 11's targets table (defaults and best flags)
# and the peers of ../shared/peers, in one invocation; one Markdown table on stdout and in
# bench/results/latest.md. `make bench` builds a Release tree (build-release) and runs this.
#
# Usage: bench/run.sh BUILD_DIR
#   BENCH_QUICK=1        small sizes, finishes in a few minutes
#   PROFILE=1            only the noop case, under perf record (coordinator, a worker, redis)
#   BENCH_CASES=noop,sleep   a subset; sizes and other knobs: see the docstring of bench/bench.py
#   BENCH_INSTALL=0      do not apt-get install missing peers / perf
#
# Every process the harness starts is recorded in a pid file (a PID, or -PGID for a process
# group of a session it created); the EXIT trap stops them all, also on Ctrl-C or SIGTERM.
set -euo pipefail

BUILD_DIR=${1:-build-release}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
BIN=$BUILD_DIR/bin

command -v redis-server >/dev/null || { echo "bench: redis-server not found (make deps)" >&2; exit 2; }
PY=/usr/bin/python3   # Debian's: the peers' packages are installed for it
[ -x "$PY" ] || { echo "bench: /usr/bin/python3 not found" >&2; exit 2; }

# The peers (Debian packages) and perf, installed when missing and apt can get them; a peer
# that stays missing is skipped with a note in the table.
install_missing() {
  [ "${BENCH_INSTALL:-1}" = 0 ] && return 0
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null && sudo -n true 2>/dev/null && sudo="sudo -n" || {
      echo "bench: not root: not installing ${missing[*]}" >&2; return 0; }
  fi
  echo "bench: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    $sudo apt-get update -qq >&2 || true
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
      echo "bench: could not install ${missing[*]}; the table says what was skipped" >&2
  fi
}
if [ "${PROFILE:-0}" != 0 ] || [ "${BENCH_PROFILE:-0}" != 0 ]; then
  install_missing linux-perf
elif [[ ",${BENCH_CASES:-peers}," == *,peers,* ]]; then
  install_missing python3-distributed python3-dask python3-celery python3-rq python3-redis \
    python3-hiredis python3-zmq python3-msgpack
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fanout-bench.XXXXXX")
PIDS="$TMP/pids"   # bench.py appends every PID / -PGID it starts
: >"$PIDS"
DRIVER=""

alive() {  # any of the recorded processes still there?
  local id
  while read -r id; do
    [ -n "$id" ] && kill -0 -- "$id" 2>/dev/null && return 0
  done <"$PIDS"
  return 1
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$DRIVER" ]; then  # it stops the cluster of the case it was running
    kill "$DRIVER" 2>/dev/null || true
    wait "$DRIVER" 2>/dev/null || true
  fi
  # Whatever the driver started and did not stop (it was interrupted): by PID or group id.
  local id i
  while read -r id; do
    [ -n "$id" ] && kill -TERM -- "$id" 2>/dev/null || true
  done <"$PIDS"
  for i in $(seq 50); do alive || break; sleep 0.1; done
  while read -r id; do
    [ -n "$id" ] && kill -KILL -- "$id" 2>/dev/null || true
  done <"$PIDS"
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Snapshot the binaries: a rebuild during the run must not change what is measured half-way.
mkdir -p "$TMP/bin"
# fanout-task-shim too: without it beside fanout-worker, the worker supervises every command
# with a copy of itself (three times the CPU per command).
for b in fanout fanout-coordinator fanout-worker fanout-task-shim; do
  [ -x "$BIN/$b" ] || { echo "bench: $BIN/$b missing; build it first (make bench does)" >&2; exit 2; }
  cp "$BIN/$b" "$TMP/bin/$b"
done

BENCH_BUILD_DIR=$BUILD_DIR "$PY" "$HERE/bench.py" "$TMP/bin" "$TMP" "$PIDS" &
DRIVER=$!
set +e
wait "$DRIVER"
rc=$?
set -e
DRIVER=""
exit "$rc"
