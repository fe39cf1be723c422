#!/usr/bin/env bash
# End-to-end benchmark: map builtin.noop over BENCH_SIZES elements on a local cluster
# (redis-server with AOF everysec, one coordinator, 2 workers) for every combination of
# BENCH_SLOTS (worker --slots) and BENCH_MAX_BATCH (coordinator --max-batch).
# Usage: bench/run.sh BUILD_DIR      (make bench runs ./bench/run.sh build)
# Env: BENCH_SIZES="100000 1000000" BENCH_SLOTS="default 64 256 1024"
#      BENCH_MAX_BATCH="default 64 1024" BENCH_WORKERS=2 BENCH_TIMEOUT=600 BENCH_POLL_MS=200
# Prints a Markdown table; appends JSON lines to bench/results/latest.jsonl when every run
# succeeded and checked OK.
set -euo pipefail

BUILD_DIR=${1:-build}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=$(cd "$BUILD_DIR" && pwd)/bin

command -v redis-server >/dev/null || { echo "bench: redis-server not found (make deps)" >&2; exit 2; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || { echo "bench: python3 not found" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fanout-bench.XXXXXX")
PIDS="$TMP/pids"   # bench.py appends the PID of every process it starts
: >"$PIDS"
DRIVER=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$DRIVER" ] && kill "$DRIVER" 2>/dev/null && wait "$DRIVER" 2>/dev/null || true
  # anything the driver started and did not stop (e.g. it was killed): by PID only
  while read -r pid; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done <"$PIDS"
  sleep 0.2
  while read -r pid; do
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  done <"$PIDS"
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Snapshot the binaries: a rebuild during the run (other work on a shared tree) must not
# change what is measured half-way through, nor make the executables briefly unreadable.
mkdir -p "$TMP/bin"
for b in fanout fanout-coordinator fanout-worker; do
  [ -x "$BIN/$b" ] || { echo "bench: $BIN/$b missing; run make build first" >&2; exit 2; }
  cp "$BIN/$b" "$TMP/bin/$b"
done

"$PY" "$HERE/bench.py" "$TMP/bin" "$TMP" "$PIDS" &
DRIVER=$!
set +e
wait "$DRIVER"
rc=$?
set -e
DRIVER=""
exit "$rc"
