// Checkpoints through a real fanout-worker (DESIGN §3.3, §4), against a ZeroMQ ROUTER played by
// the test: a command resumes from $FANOUT_PREV_CHECKPOINT_DIR, $FANOUT_CHECKPOINT_DIR is saved
// at the end of every attempt and every checkpoint_interval_ms (CHECKPOINT messages), a plugin
// function resumes from ctx.previous_checkpoint(), and the size cap fails the attempt.
// Self-contained like worker_process_test.cc: it spawns the worker and needs no Redis.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/codec.h"
#include "common/value.h"
#include "common/wire.h"
#include "tests/integration/harness_fake_coordinator.h"
#include "worker/checkpoint.h"

namespace fanout::testing {
namespace {

class WorkerCheckpointTest : public FakeCoordinatorTest {
 protected:
  WorkerCheckpointTest() : FakeCoordinatorTest("fanout-worker-ckpt-test-") {}
};

std::string Plugin() { return BinDir() + "/libfanout_examples.so"; }

// The files of an encoded checkpoint directory.
std::map<std::string, std::string> Files(const std::string& encoded) {
  std::map<std::string, std::string> out;
  auto oh = msgpack::unpack(encoded.data(), encoded.size());
  oh.get().convert(out);
  return out;
}

// Counts to 5 from $FANOUT_PREV_CHECKPOINT_DIR/count (or 0), saving the count after each step
// (written atomically); attempt 0 fails at step 3. Prints where it started.
const char* kCounter = R"(
start=0
if [ -n "$FANOUT_PREV_CHECKPOINT_DIR" ] && [ -f "$FANOUT_PREV_CHECKPOINT_DIR/count" ]; then
  start=$(cat "$FANOUT_PREV_CHECKPOINT_DIR/count")
fi
i=$start
while [ "$i" -lt 5 ]; do
  i=$((i + 1))
  echo "$i" > "$FANOUT_CHECKPOINT_DIR/count.tmp"
  mv "$FANOUT_CHECKPOINT_DIR/count.tmp" "$FANOUT_CHECKPOINT_DIR/count"
  if [ "$FANOUT_ATTEMPT" = 0 ] && [ "$i" -eq 3 ]; then echo "failing at step 3" >&2; exit 1; fi
done
printf '{"started_at": %s, "count": %s}' "$start" "$i"
)";

Value StartedAtCount(int64_t started_at, int64_t count) {
  return Value(Map{{"started_at", Value(started_at)}, {"count", Value(count)}});
}

TEST_F(WorkerCheckpointTest, CommandResumesFromTheCheckpointOfTheFailedAttempt) {
  Handshake();
  auto t = Command({"sh", "-c", kCounter}, {}, {{"o0", "json"}});

  // Attempt 0 fails at step 3; its result carries the directory with count=3.
  auto r0 = RunOne(t, {}, /*index=*/4, /*attempt=*/0);
  ASSERT_EQ(r0.outcome, static_cast<uint8_t>(wire::Outcome::kUserError));
  EXPECT_EQ(r0.error, "exit code 1: failing at step 3");
  ASSERT_TRUE(r0.has_checkpoint);
  EXPECT_EQ(Files(r0.checkpoint), (std::map<std::string, std::string>{{"count", "3\n"}}));

  // Attempt 1 gets it back and starts at 3.
  wire::WorkItem item = Item(4, 1, Args({}));
  item.has_checkpoint = true;
  item.checkpoint = r0.checkpoint;
  SendWork(t, {item});
  auto results = CollectResults(1, milliseconds(10000));
  ASSERT_EQ(results.size(), 1u);
  const auto& r1 = results[0];
  ASSERT_EQ(r1.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << r1.error;
  EXPECT_EQ(r1.key.attempt, 1u);
  EXPECT_EQ(Outputs(r1), List{StartedAtCount(3, 5)});
  ASSERT_TRUE(r1.has_checkpoint);
  EXPECT_EQ(Files(r1.checkpoint), (std::map<std::string, std::string>{{"count", "5\n"}}));

  // Without a checkpoint the command starts from 0 (attempt 2 does not fail).
  auto r2 = RunOne(t, {}, 4, 2);
  ASSERT_EQ(r2.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << r2.error;
  EXPECT_EQ(Outputs(r2), List{StartedAtCount(0, 5)});
}

TEST_F(WorkerCheckpointTest, NoCheckpointMeansNoPrevDirAndAnEmptyDirSavesNothing) {
  Handshake();
  auto t = Command({"sh", "-c",
                    "ls -A \"$FANOUT_CHECKPOINT_DIR\" >&2; "
                    "printf '\"%s|%s\"' \"${FANOUT_PREV_CHECKPOINT_DIR-unset}\" "
                    "\"$(ls -A \"$FANOUT_CHECKPOINT_DIR\")\""},
                   {}, {{"o0", "str"}});
  auto r = RunOne(t, {});
  ASSERT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << r.error;
  EXPECT_EQ(Outputs(r), List{Value("unset|")});  // unset, and the checkpoint dir starts empty
  EXPECT_FALSE(r.has_checkpoint);

  // Only empty subdirectories: nothing either.
  auto t2 = Command({"sh", "-c", "mkdir -p \"$FANOUT_CHECKPOINT_DIR/a/b\""}, {}, {});
  auto r2 = RunOne(t2, {}, 1);
  ASSERT_EQ(r2.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << r2.error;
  EXPECT_FALSE(r2.has_checkpoint);
}

TEST_F(WorkerCheckpointTest, NestedPreviousCheckpointIsRestoredAsFiles) {
  Handshake();
  auto t = Command({"sh", "-c", "cat \"$FANOUT_PREV_CHECKPOINT_DIR/state/deep/x\""}, {},
                   {{"o0", "int"}});
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(1);
  pk.pack(std::string("state/deep/x"));
  pk.pack_bin(2);
  pk.pack_bin_body("42", 2);
  wire::WorkItem item = Item(0, 3, Args({}));
  item.has_checkpoint = true;
  item.checkpoint.assign(buf.data(), buf.size());
  SendWork(t, {item});
  auto results = CollectResults(1, milliseconds(10000));
  ASSERT_EQ(results.size(), 1u);
  ASSERT_EQ(results[0].outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded))
      << results[0].error;
  EXPECT_EQ(Outputs(results[0]), List{Value(int64_t{42})});
  // The previous checkpoint is not the new one: this attempt saved nothing.
  EXPECT_FALSE(results[0].has_checkpoint);

  // A checkpoint that would escape its directory is refused; the command never runs.
  msgpack::sbuffer evil;
  msgpack::packer<msgpack::sbuffer> pe(evil);
  pe.pack_map(1);
  pe.pack(std::string("../escaped"));
  pe.pack_bin(1);
  pe.pack_bin_body("x", 1);
  wire::WorkItem bad = Item(1, 1, Args({}));
  bad.has_checkpoint = true;
  bad.checkpoint.assign(evil.data(), evil.size());
  SendWork(t, {bad});
  auto refused = CollectResults(1, milliseconds(10000));
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].outcome, static_cast<uint8_t>(wire::Outcome::kUserError));
  EXPECT_NE(refused[0].error.find("cannot restore the previous checkpoint"), std::string::npos)
      << refused[0].error;
}

TEST_F(WorkerCheckpointTest, IntervalSavesArriveAsCheckpointMessagesBeforeTheResult) {
  Handshake();
  // Saves 1, sleeps, saves 2, sleeps: two changes, so two CHECKPOINTs however many ticks.
  auto t = Command({"sh", "-c",
                    "d=\"$FANOUT_CHECKPOINT_DIR\"; echo 1 > \"$d/t\"; mv \"$d/t\" \"$d/step\"; "
                    "sleep 0.8; echo 2 > \"$d/t\"; mv \"$d/t\" \"$d/step\"; sleep 0.8"},
                   {}, {});
  t.checkpoint_interval_ms = 200;
  SendWork(t, {Item(2, 0, Args({}))});
  std::vector<std::string> saves;
  std::optional<wire::ResultItem> result;
  auto deadline = Clock::now() + milliseconds(10000);
  while (!result && Clock::now() < deadline) {
    auto m = Recv(milliseconds(100));
    if (!m) continue;
    if (m->kind == wire::Kind::kCheckpoint) {
      auto c = wire::DecodeBody<wire::CheckpointSave>(m->body);
      ASSERT_TRUE(c.has_value());
      EXPECT_EQ(c->key, (wire::SubtaskKey{"e1", "n1", 2, 0}));
      auto files = Files(c->checkpoint);
      saves.push_back(files["step"]);
    } else if (m->kind == wire::Kind::kResult) {
      auto b = wire::DecodeBody<wire::ResultBatch>(m->body);
      ASSERT_TRUE(b.has_value());
      ASSERT_EQ(b->results.size(), 1u);
      result = b->results[0];
    }
  }
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(saves, (std::vector<std::string>{"1\n", "2\n"}));
  ASSERT_EQ(result->outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << result->error;
  ASSERT_TRUE(result->has_checkpoint);
  EXPECT_EQ(Files(result->checkpoint)["step"], "2\n");
}

TEST_F(WorkerCheckpointTest, AbortedAndTimedOutCommandsStillSaveTheirCheckpoint) {
  Handshake();
  auto t = Command({"sh", "-c", "echo 7 > \"$FANOUT_CHECKPOINT_DIR/n\"; sleep 30"}, {}, {});
  SendWork(t, {Item(0, 0, Args({}))});
  ASSERT_TRUE(WaitHeartbeat(milliseconds(5000), [](const wire::Heartbeat& h) { return h.running == 1; }));
  // Abort only once the command has written its checkpoint file (in its attempt's scratch dir).
  auto written = [&] {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(scratch_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      if (it->path().filename() == "n" && ReadFile(it->path().string()) == "7\n") return true;
    return false;
  };
  ASSERT_TRUE(PumpUntil(written, milliseconds(5000))) << "the command never wrote its checkpoint";
  Send(wire::Kind::kAbort, wire::EncodeBody(wire::AckBatch{{wire::SubtaskKey{"e1", "n1", 0, 0}}}));
  auto aborted = CollectResults(1, milliseconds(5000));
  ASSERT_EQ(aborted.size(), 1u);
  EXPECT_EQ(aborted[0].outcome, static_cast<uint8_t>(wire::Outcome::kAborted));
  ASSERT_TRUE(aborted[0].has_checkpoint);
  EXPECT_EQ(Files(aborted[0].checkpoint)["n"], "7\n");

  auto timed =
      Command({"sh", "-c", "echo 8 > \"$FANOUT_CHECKPOINT_DIR/n\"; sleep 30"}, {}, {}, 500);
  auto r = RunOne(timed, {}, 1);
  EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kUserError));
  EXPECT_EQ(r.error, "timed out after 0.5s");
  ASSERT_TRUE(r.has_checkpoint);
  EXPECT_EQ(Files(r.checkpoint)["n"], "8\n");
}

TEST_F(WorkerCheckpointTest, PluginFunctionResumesFromItsPreviousCheckpoint) {
  if (!std::filesystem::exists(Plugin())) GTEST_SKIP() << Plugin() << " is not built";
  wire::Hello h = Handshake({"--plugin", Plugin()});
  ASSERT_NE(std::find(h.functions.begin(), h.functions.end(), "count_with_checkpoint"),
            h.functions.end());
  wire::TaskDesc t = Builtin("count_with_checkpoint",
                             {{"target", "int"}, {"fail_at", "int"}, {"step_ms", "int"}},
                             {{"o0", "map<int>"}});
  List args = {Value(int64_t{5}), Value(int64_t{3}), Value(int64_t{100})};

  // Attempt 0: saves 1, 2, 3 (sent as they happen), then throws.
  SendWork(t, {Item(0, 0, Args(args))});
  std::vector<std::string> saves;
  std::optional<wire::ResultItem> r0;
  auto deadline = Clock::now() + milliseconds(10000);
  while (!r0 && Clock::now() < deadline) {
    auto m = Recv(milliseconds(100));
    if (!m) continue;
    if (m->kind == wire::Kind::kCheckpoint) {
      auto c = wire::DecodeBody<wire::CheckpointSave>(m->body);
      ASSERT_TRUE(c.has_value());
      saves.push_back(c->checkpoint);
    } else if (m->kind == wire::Kind::kResult) {
      auto b = wire::DecodeBody<wire::ResultBatch>(m->body);
      ASSERT_TRUE(b.has_value());
      r0 = b->results.at(0);
    }
  }
  ASSERT_TRUE(r0.has_value());
  EXPECT_EQ(r0->outcome, static_cast<uint8_t>(wire::Outcome::kUserError));
  EXPECT_EQ(r0->error, "failing on purpose at step 3");
  ASSERT_TRUE(r0->has_checkpoint);
  EXPECT_EQ(r0->checkpoint, "3");
  ASSERT_FALSE(saves.empty());  // sent before the result, in order
  EXPECT_TRUE(std::is_sorted(saves.begin(), saves.end())) << saves.size();
  EXPECT_LE(saves.back(), "3");

  // Attempt 1 with those bytes resumes at 3.
  wire::WorkItem item = Item(0, 1, Args(args));
  item.has_checkpoint = true;
  item.checkpoint = r0->checkpoint;
  SendWork(t, {item});
  auto results = CollectResults(1, milliseconds(10000));
  ASSERT_EQ(results.size(), 1u);
  ASSERT_EQ(results[0].outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded))
      << results[0].error;
  EXPECT_EQ(Outputs(results[0]), List{StartedAtCount(3, 5)});
  EXPECT_TRUE(results[0].has_checkpoint);
  EXPECT_EQ(results[0].checkpoint, "5");
}

TEST_F(WorkerCheckpointTest, CheckpointOverTheCapFailsTheAttempt) {
  bool plugin = std::filesystem::exists(Plugin());
  std::vector<std::string> flags = {"--max-checkpoint-bytes", "500"};
  if (plugin) flags.insert(flags.end(), {"--plugin", Plugin()});
  Handshake(flags);

  // A command that succeeds but leaves 2000 bytes with a task cap of 1000:
  // 1 (map) + 1 + 4 ("blob") + 3 (bin16) + 2000 = 2009 bytes.
  auto t = Command({"sh", "-c", "head -c 2000 /dev/zero > \"$FANOUT_CHECKPOINT_DIR/blob\""}, {},
                   {});
  t.max_checkpoint_bytes = 1000;
  auto r = RunOne(t, {});
  EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kUserError));
  EXPECT_EQ(r.error, "checkpoint of 2009 bytes exceeds the cap of 1000 bytes");
  EXPECT_FALSE(r.has_checkpoint);

  // No task cap: the worker's --max-checkpoint-bytes (500). 1+1+4+3+600 = 609.
  auto t2 = Command({"sh", "-c", "head -c 600 /dev/zero > \"$FANOUT_CHECKPOINT_DIR/blob\""}, {},
                    {});
  auto r2 = RunOne(t2, {}, 1);
  EXPECT_EQ(r2.error, "checkpoint of 609 bytes exceeds the cap of 500 bytes");

  // Over the cap at an interval save: the running command is stopped at once.
  auto t3 = Command(
      {"sh", "-c", "head -c 2000 /dev/zero > \"$FANOUT_CHECKPOINT_DIR/blob\"; sleep 30"}, {}, {});
  t3.checkpoint_interval_ms = 100;
  auto start = Clock::now();
  auto r3 = RunOne(t3, {}, 2);
  EXPECT_EQ(r3.outcome, static_cast<uint8_t>(wire::Outcome::kUserError));
  EXPECT_EQ(r3.error, "checkpoint of 2009 bytes exceeds the cap of 500 bytes");
  EXPECT_LT(Clock::now() - start, milliseconds(5000));

  if (!plugin) GTEST_SKIP() << Plugin() << " is not built";
  // A plugin function's ctx.checkpoint() over the cap.
  wire::TaskDesc f = Builtin("checkpoint_of_size", {{"bytes", "int"}});
  f.max_checkpoint_bytes = 1000;
  auto r4 = RunOne(f, {Value(int64_t{2000})}, 3);
  EXPECT_EQ(r4.outcome, static_cast<uint8_t>(wire::Outcome::kUserError));
  EXPECT_EQ(r4.error, "checkpoint of 2000 bytes exceeds the cap of 1000 bytes");
  EXPECT_FALSE(r4.has_checkpoint);
  auto r5 = RunOne(f, {Value(int64_t{1000})}, 4);  // at the cap: fine
  EXPECT_EQ(r5.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << r5.error;
  EXPECT_EQ(r5.checkpoint.size(), 1000u);
}

}  // namespace
}  // namespace fanout::testing
