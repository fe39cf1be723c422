// Intra-task checkpoints end to end (DESIGN §3.3, §4; issue 5): the latest checkpoint of a
// subtask survives attempts, worker loss and is handed to the next attempt, beyond Flyte
// (which hands attempt k only attempt k-1's).
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

namespace fs = std::filesystem;

int ReadInt(const std::string& path) {
  std::string s = ReadFile(path);
  try {
    return std::stoi(s);
  } catch (...) {
    return -1;
  }
}

TEST(CheckpointTest, CommandResumesFromItsCheckpointAfterItsWorkerIsKilled) {
  ClusterOptions o;
  o.workers = 2;
  o.slots = 1;
  Cluster cluster(o);
  std::string dir = cluster.dir().Path("progress");
  fs::create_directories(dir);
  // Counts to 100, checkpointing after each step (saved by the worker every 100 ms); prints
  // where this attempt started. Records its worker (parent) and its progress for the test.
  std::string spec = cluster.dir().WriteFile("count.yaml", R"(version: 1
tasks:
  count:
    command: [/bin/sh, -c, 'cut -d" " -f4 /proc/$PPID/stat > "{{inputs.dir}}/worker.$FANOUT_ATTEMPT"; start=0; if [ -n "$FANOUT_PREV_CHECKPOINT_DIR" ]; then start=$(cat "$FANOUT_PREV_CHECKPOINT_DIR/n"); fi; i=$start; while [ $i -lt 100 ]; do i=$((i+1)); echo $i > "$FANOUT_CHECKPOINT_DIR/n.tmp"; mv "$FANOUT_CHECKPOINT_DIR/n.tmp" "$FANOUT_CHECKPOINT_DIR/n"; echo $i > "{{inputs.dir}}/progress"; sleep 0.03; done; echo $start']
    inputs: {dir: str}
    outputs: {o0: int}
    checkpoint_interval: 100ms
workflows:
  w:
    nodes:
      - {id: c, task: count, inputs: {dir: ")" + dir + R"("}}
    outputs: {o0: $c.o0}
)");
  std::string exec = cluster.Submit({spec});
  ASSERT_FALSE(exec.empty());
  ASSERT_TRUE(WaitFor([&] { return ReadInt(dir + "/progress") >= 40; }, std::chrono::milliseconds(30000)));
  int worker_pid = ReadInt(dir + "/worker.0");
  size_t victim = cluster.worker(0).Pid() == worker_pid ? 0 : 1;
  ASSERT_EQ(cluster.worker(victim).Pid(), worker_pid);
  cluster.KillWorker(victim, SIGKILL);
  int at_kill = ReadInt(dir + "/progress");

  RunResult watch = cluster.Fanout("watch", exec, "-o", "json");
  ASSERT_EQ(watch.exit_code, 0) << watch;
  int started_at = nlohmann::json::parse(watch.out)["outputs"]["o0"];
  EXPECT_GT(started_at, 30) << "attempt 1 did not resume from the checkpoint";
  EXPECT_LE(started_at, at_kill + 1);
  EXPECT_TRUE(fs::exists(dir + "/worker.1"));
}

TEST(CheckpointTest, CheckpointOfAttemptZeroIsSeenByAttemptTwoWhenAttemptOneSavedNothing) {
  Cluster cluster;
  std::string spec = cluster.dir().WriteFile("skip.yaml", R"(version: 1
tasks:
  t:
    command: [/bin/sh, -c, 'case $FANOUT_ATTEMPT in 0) echo 10 > "$FANOUT_CHECKPOINT_DIR/n"; exit 1;; 1) exit 1;; *) cat "$FANOUT_PREV_CHECKPOINT_DIR/n";; esac']
    outputs: {o0: int}
    retries: 2
workflows:
  w:
    nodes: [{id: t, task: t}]
    outputs: {o0: $t.o0}
)");
  RunResult r = cluster.Fanout("run", spec, "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["outputs"]["o0"], 10);
  // Checkpoints are deleted when their execution ends.
  std::string exec = doc["execution"];
  EXPECT_TRUE(WaitFor([&] {
    return cluster.redis().Command({"KEYS", "fo:{" + exec + "}:n:*:ckpt:*"}).empty();
  }, std::chrono::milliseconds(5000)));
}

TEST(CheckpointTest, CppFunctionResumesThroughItsContext) {
  Cluster cluster;
  std::string spec = cluster.dir().WriteFile("cpp.yaml", R"(version: 1
tasks:
  count:
    function: count_with_checkpoint
    inputs: {target: int, fail_at: int, step_ms: int}
    outputs: {o0: "map<int>"}
    retries: 1
workflows:
  w:
    nodes:
      - {id: c, map: count, inputs: {target: [50, 60]}, bind: {fail_at: 20, step_ms: 1}}
    outputs: {o0: $c.o0}
)");
  RunResult r = cluster.Fanout("run", spec, "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  auto out = nlohmann::json::parse(r.out)["outputs"]["o0"];
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["started_at"], 20);
  EXPECT_EQ(out[0]["count"], 50);
  EXPECT_EQ(out[1]["started_at"], 20);
  EXPECT_EQ(out[1]["count"], 60);
}

}  // namespace
}  // namespace fanout::testing
