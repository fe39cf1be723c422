// The task plugin of Flyte's "Map tasks" example (examples/map_tasks.yaml): detect_anomalies
// flags data points above the threshold. Load with `fanout-worker --plugin
// build/bin/libfanout_examples.so`.
#include <fanout/task.h>

#include <cstdint>

namespace {

bool detect_anomalies(int64_t data_point) { return data_point > 11; }

}  // namespace

FANOUT_TASK(detect_anomalies, detect_anomalies);
