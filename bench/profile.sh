#!/usr/bin/env bash
# Profile of the 1M-element builtin.noop map at defaults (`fanout local`): perf record on the
# coordinator, one worker and redis-server; prints each one's top DSOs and symbols (self time)
# and writes them to bench/results/profile.md. Same as `make bench PROFILE=1`.
# Usage: bench/profile.sh [BUILD_DIR]     (BENCH_N=100000 for a shorter run)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROFILE=1 exec "$HERE/run.sh" "${1:-build-release}"
