#!/usr/bin/env bash
# Runs the chaos suite through ctest and prints one table row per scenario run.
#   ./tests/chaos/run_chaos.sh [BUILD_DIR]          short forms (label chaos-short)
#   FANOUT_CHAOS_LONG=1 ./tests/chaos/run_chaos.sh  long forms (label chaos), as `make chaos`
# Extra ctest arguments can be given in CHAOS_CTEST_ARGS (e.g. -R Fence).
# Exits non-zero when a scenario failed.
set -euo pipefail

BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
if [[ "${FANOUT_CHAOS_LONG:-0}" == 1 ]]; then
  label='^chaos$'
  form=long
else
  label='^chaos-short$'
  form=short
fi
report=$(mktemp "${TMPDIR:-/tmp}/fanout-chaos-XXXXXX.jsonl")
trap 'rm -f "$report"' EXIT
export FANOUT_CHAOS_REPORT=$report

echo "chaos: $form forms from $BUILD (one at a time)"
rc=0
# shellcheck disable=SC2086
(cd "$BUILD" && ctest --output-on-failure -L "$label" ${CHAOS_CTEST_ARGS:-}) || rc=$?

python3 - "$report" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
head = ["scenario", "form", "N", "kills", "re-executions", "duplicates", "missing", "wall s", "result"]
table = [[r["scenario"], r["form"], str(r["n"]), str(r["kills"]), str(r["reexecutions"]),
          str(r["duplicates"]), str(r["missing"]), "%.1f" % r["wall_s"],
          "PASS" if r["pass"] else "FAIL"] for r in rows]
widths = [max(len(c) for c in col) for col in zip(head, *table)]
line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))
print()
print(line(head))
print(line(["-" * w for w in widths]))
for t in table:
    print(line(t))
if not rows:
    print("(no scenario reported: were the chaos tests built?)")
PY
if [[ ! -s "$report" ]]; then rc=1; fi
exit "$rc"
