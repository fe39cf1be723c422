#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer targets with clang-16 in BUILD_DIR and runs each for
# FUZZ_SECONDS, keeping what it finds in the repository:
#   fuzz/seeds/TARGET/    valid inputs written by fuzz_make_seeds (regenerated each run)
#   fuzz/corpus/TARGET/   inputs that reached new coverage (merged to a minimal set after the run)
#   fuzz/crashes/TARGET/  crash-*, timeout-*, oom-* inputs; `make test` replays every one
# Prints executions, corpus size and findings per target; exits 1 when anything was found.
#
# Usage: fuzz/run.sh BUILD_DIR SECONDS TARGET...
set -euo pipefail

build=${1:?build dir}
seconds=${2:?seconds per target}
shift 2
targets=("$@")
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

./deploy/install-deps.sh
./deploy/install-deps.sh --fuzz

cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++-16 -DFANOUT_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target fuzz_make_seeds \
  $(printf 'fuzz_%s ' "${targets[@]}")
"$build/bin/fuzz_make_seeds" "$root"

# Inputs larger than this are not tried: every decoder refuses big inputs early by size, and
# short inputs keep the search on structure.
declare -A max_len=([wire]=4096 [codec]=4096 [json]=4096 [spec]=8192)
summary=()
found=0
for t in "${targets[@]}"; do
  corpus=fuzz/corpus/$t
  crashes=fuzz/crashes/$t
  mkdir -p "$corpus" "$crashes"
  log=$build/fuzz-$t.log
  echo "fuzz: $t for ${seconds}s (log: $log)"
  status=0
  nice -n 10 "$build/bin/fuzz_$t" -max_total_time="$seconds" -max_len="${max_len[$t]:-4096}" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" \
    "$corpus" "fuzz/seeds/$t" >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  # Keep the corpus small: only inputs that add coverage, minimized by libFuzzer's merge.
  merged=$(mktemp -d)
  nice -n 10 "$build/bin/fuzz_$t" -merge=1 -max_len="${max_len[$t]:-4096}" -timeout=10 \
    -rss_limit_mb=2048 "$merged" "$corpus" >>"$log" 2>&1 || true
  if [ -n "$(ls -A "$merged")" ]; then
    find "$corpus" -type f -delete
    cp "$merged"/* "$corpus"/
  fi
  rm -rf "$merged"
  findings=$(find "$crashes" -type f ! -name '.*' | wc -l)
  if [ "$status" -ne 0 ]; then
    found=1
    echo "fuzz: $t stopped with status $status; see $log and $crashes/" >&2
    grep -m1 -E "ERROR: (libFuzzer|AddressSanitizer|UndefinedBehavior)|FUZZ_CHECK failed|runtime error" "$log" >&2 || true
  fi
  summary+=("$(printf '%-6s %12s execs  corpus %5d  crash files %d%s' "$t" "${execs:-?}" \
    "$(find "$corpus" -type f | wc -l)" "$findings" "$([ "$status" -ne 0 ] && echo '  NEW FINDING')")")
done
echo "fuzz: ${seconds}s per target"
printf '  %s\n' "${summary[@]}"
exit "$found"
