// Nothing a command started outlives its attempt or its worker (DESIGN §3.3, §7; issue 12): a
// real fanout-worker against the fake coordinator runs commands that leave processes behind in
// every way a shell can (a plain background job, a setsid() daemon, a double fork), and the
// test looks for them in /proc by a marker in their environment (the execution id) or argv.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/value.h"
#include "common/wire.h"
#include "tests/integration/harness_fake_coordinator.h"
#include "tests/integration/process_scan.h"

namespace fanout::testing {
namespace {

class WorkerProcessTreeTest : public FakeCoordinatorTest {
 protected:
  WorkerProcessTreeTest() : FakeCoordinatorTest("fanout-worker-tree-test-") {
    std::random_device rd;
    marker_ = "tree" + std::to_string(getpid()) + "x" + std::to_string(rd());
  }

  void TearDown() override {
    KillMarked(marker_);  // whatever a failed test left
    FakeCoordinatorTest::TearDown();
  }

  // sh -c SCRIPT READY: the script starts a background job, a setsid() daemon and a
  // double-forked orphan, each a `sleep` that would run for 17 minutes, then touches
  // READY.INDEX and runs `tail`.
  wire::TaskDesc TreeCommand(const std::string& tail, int64_t timeout_ms = 0) {
    std::string script =
        "sleep 1000 & setsid sleep 1000 & (sleep 1000 &); touch \"$0.$FANOUT_INDEX\"; " + tail;
    return Command({"sh", "-c", script, Ready()}, {}, {}, timeout_ms);
  }
  std::string Ready() const { return (scratch_ / ("ready-" + marker_)).string(); }
  bool IsReady(uint32_t index) const {
    return std::filesystem::exists(Ready() + "." + std::to_string(index));
  }

  // Sends WORK for `n` items of `task` in an execution named after the marker and waits until
  // each has started its processes.
  void StartTrees(const wire::TaskDesc& task, uint32_t n) {
    std::vector<wire::WorkItem> items;
    for (uint32_t i = 0; i < n; ++i) items.push_back(Item(i, 0, Args({})));
    SendWork(task, items, marker_);
    ASSERT_TRUE(PumpUntil(
        [&] {
          for (uint32_t i = 0; i < n; ++i) {
            if (!IsReady(i)) return false;
          }
          return true;
        },
        milliseconds(20000)))
        << "the commands did not start";
    // Per item: the shim, sh and four sleeps (the test would prove nothing without them).
    EXPECT_GE(ProcessesWithMarker(marker_).size(), 5u * n) << Describe(ProcessesWithMarker(marker_));
  }

  // Waits (deadline 5 s) until no process carries the marker; true when none does.
  bool AllGone() {
    return ::fanout::testing::WaitFor([&] { return ProcessesWithMarker(marker_).empty(); }, milliseconds(5000));
  }

  std::string marker_;
};

TEST_F(WorkerProcessTreeTest, KilledWorkerTakesEveryProcessOfItsCommandsWithIt) {
  Handshake();
  StartTrees(TreeCommand("sleep 1000"), 2);
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  EXPECT_TRUE(AllGone()) << "still running after the worker was killed:\n"
                         << Describe(ProcessesWithMarker(marker_));
}

TEST_F(WorkerProcessTreeTest, AbortEndsTheWholeTreeBeforeTheResultIsReported) {
  Handshake();
  StartTrees(TreeCommand("trap '' TERM; sleep 1000"), 1);  // ignores SIGTERM: SIGKILL after grace
  Send(wire::Kind::kAbort, wire::EncodeBody(wire::AckBatch{{wire::SubtaskKey{marker_, "n1", 0, 0}}}));
  auto results = CollectResults(1, milliseconds(10000));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, static_cast<uint8_t>(wire::Outcome::kAborted));
  EXPECT_EQ(ProcessesWithMarker(marker_).size(), 0u) << Describe(ProcessesWithMarker(marker_));
}

TEST_F(WorkerProcessTreeTest, TimeoutEndsTheWholeTreeBeforeTheResultIsReported) {
  Handshake();
  StartTrees(TreeCommand("sleep 1000", /*timeout_ms=*/10000), 1);
  // The timeout is long enough for the tree to start; SIGTERM ends every sleep at once.
  auto results = CollectResults(1, milliseconds(60000));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, static_cast<uint8_t>(wire::Outcome::kUserError));
  EXPECT_EQ(results[0].error, "timed out after 10s");
  EXPECT_EQ(ProcessesWithMarker(marker_).size(), 0u) << Describe(ProcessesWithMarker(marker_));
}

TEST_F(WorkerProcessTreeTest, WhatACommandLeftRunningEndsWithIt) {
  Handshake();
  wire::TaskDesc t = TreeCommand("echo 5");
  t.outputs = {{"o0", "int"}};
  SendWork(t, {Item(0, 0, Args({}))}, marker_);
  auto results = CollectResults(1, milliseconds(10000));
  ASSERT_EQ(results.size(), 1u);
  ASSERT_EQ(results[0].outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << results[0].error;
  EXPECT_EQ(Outputs(results[0]), List{Value(int64_t{5})});
  EXPECT_TRUE(IsReady(0));
  EXPECT_EQ(ProcessesWithMarker(marker_).size(), 0u) << Describe(ProcessesWithMarker(marker_));
}

TEST_F(WorkerProcessTreeTest, ACommandKilledByASignalIsReportedAsKilledByIt) {
  Handshake();
  auto r = RunOne(Command({"sh", "-c", "kill -KILL $$"}, {}, {}), {});
  EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kUserError));
  EXPECT_EQ(r.error, "killed by signal 9");
}

TEST_F(WorkerProcessTreeTest, SecondSignalEndsTheTreesAndTheWorkerExits) {
  Handshake();
  StartTrees(TreeCommand("sleep 1000"), 2);
  kill(pid_, SIGTERM);
  ASSERT_TRUE(WaitHeartbeat(milliseconds(3000), [](const wire::Heartbeat& h) { return h.draining; }));
  kill(pid_, SIGTERM);
  auto results = CollectResults(2, milliseconds(10000));
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kSystemError));
    EXPECT_EQ(r.error, "worker shut down");
  }
  EXPECT_TRUE(WaitExit(milliseconds(10000)).has_value());
  EXPECT_TRUE(AllGone()) << Describe(ProcessesWithMarker(marker_));
}

}  // namespace
}  // namespace fanout::testing
