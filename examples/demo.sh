#!/usr/bin/env bash
# make demo: runs every example workflow of examples/map_tasks.yaml on an embedded local
# cluster (redis-server + coordinator + workers, started for the run and stopped after).
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
FANOUT="$BUILD/bin/fanout"
PLUGIN="$BUILD/bin/libfanout_examples.so"
export FANOUT_HOME=${FANOUT_HOME:-$HOME/.fanout}

run() {
  echo
  echo "\$ fanout run examples/map_tasks.yaml $1"
  "$FANOUT" run examples/map_tasks.yaml "$1" --plugin "$PLUGIN"
}

echo "fanout demo: the workflows of Flyte's map-task page, on a local cluster in $FANOUT_HOME"
for wf in map_workflow map_workflow_with_resource_overrides map_workflow_with_metadata \
          map_workflow_with_additional_params multiple_inputs_map_workflow \
          map_workflow_partial_with_task_output map_workflow_with_lists \
          map_over_launch_plan map_over_workflow_of_maps; do
  run "$wf"
done
echo
echo "Caching: map_workflow_with_metadata again; its subtasks now come from the cache (cached 10):"
run map_workflow_with_metadata
