// The Store contract (coordinator/store.h), one suite run against both implementations:
// RedisStore on a real redis-server, and the FakeStore the unit tests use. If the fake drifts
// from the real store, a test here fails for one of them.
#include <gtest/gtest.h>

#include <cstring>
#include <uv.h>

// g++ 12 reports -Wmaybe-uninitialized inside std::vector when a Result<std::vector<...>> held
// in a std::optional is moved out (a known false positive of std::expected at -O2).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "common/clock.h"
#include "common/phases.h"
#include "coordinator/fake_store.h"
#include "coordinator/redis_store.h"
#include "tests/integration/harness.h"

namespace fanout {
namespace {

using testing::RedisServer;

uint16_t Rec(SubtaskPhase p, uint8_t attempt) { return PackRecord({static_cast<uint8_t>(p), attempt, 0, false}); }

// One implementation under test: its store, a second store on the same data (another
// coordinator), and a way to wait for replies.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual Store& store() = 0;
  virtual Store& second() = 0;  // started, epoch not taken
  // Runs until done() or 10 s pass.
  virtual void Wait(const std::function<bool()>& done) = 0;
  // SCAN commands the server ran (nullopt: not a Redis server).
  virtual std::optional<int64_t> ScanCalls() { return std::nullopt; }
};

class RedisBackend : public Backend {
 public:
  RedisBackend() {
    uv_loop_init(&loop_);
    first_ = std::make_unique<RedisStore>(&loop_, "127.0.0.1", server_.Port(), "");
    second_ = std::make_unique<RedisStore>(&loop_, "127.0.0.1", server_.Port(), "");
    int up = 0;
    first_->Start([&up](bool c) { up += c; });
    second_->Start([&up](bool c) { up += c; });
    Wait([&] { return up == 2; });
  }
  ~RedisBackend() override {
    first_->Shutdown();
    second_->Shutdown();
    first_.reset();
    second_.reset();
    uv_run(&loop_, UV_RUN_NOWAIT);
    uv_loop_close(&loop_);
  }
  Store& store() override { return *first_; }
  Store& second() override { return *second_; }
  std::optional<int64_t> ScanCalls() override {
    std::string stats = server_.Command({"INFO", "commandstats"});
    auto at = stats.find("cmdstat_scan:calls=");
    return at == std::string::npos ? 0 : std::atoll(stats.c_str() + at + std::strlen("cmdstat_scan:calls="));
  }
  void Wait(const std::function<bool()>& done) override {
    // Bounded by time, not by iterations: a fast machine spins through any count first.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

 private:
  RedisServer server_;
  uv_loop_t loop_;
  std::unique_ptr<RedisStore> first_, second_;
};

class FakeBackend : public Backend {
 public:
  FakeBackend() : first_(clock_), second_(clock_, std::shared_ptr<FakeStoreState>(&first_.state(), [](auto*) {})) {
    first_.Start([](bool) {});
    second_.Start([](bool) {});
    Wait([] { return false; });
  }
  Store& store() override { return first_; }
  Store& second() override { return second_; }
  void Wait(const std::function<bool()>& done) override {
    for (int i = 0; i < 100 && !done(); ++i) {
      first_.RunPending();
      second_.RunPending();
    }
  }

 private:
  FakeClock clock_;
  FakeStore first_, second_;
};

class StoreContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") b_ = std::make_unique<RedisBackend>();
    else b_ = std::make_unique<FakeBackend>();
    TakeEpoch(b_->store());
  }
  Store& s() { return b_->store(); }

  // Calls `call` with a callback, waits for it, and returns what it got. The result is shared,
  // so that a reply arriving after a failed assertion writes nowhere dangerous.
  template <typename T>
  Result<T> Get(const std::function<void(Store::Callback<T>)>& call) {
    auto out = std::make_shared<std::optional<Result<T>>>();
    call([out](Result<T> r) { *out = std::move(r); });
    b_->Wait([&] { return out->has_value(); });
    if (!out->has_value()) return Err(Internal("no reply within 10 s"));
    return std::move(**out);
  }
  Status Done(const std::function<void(Store::Done)>& call) {
    auto out = std::make_shared<std::optional<Status>>();
    call([out](Status st) { *out = st; });
    b_->Wait([&] { return out->has_value(); });
    return out->value_or(Internal("no reply within 10 s"));
  }
  int64_t TakeEpoch(Store& store) {
    return Get<int64_t>([&](auto cb) { store.TakeEpoch(cb); }).value_or(-1);
  }
  Result<std::vector<CommitResult>> Commit(Store& store, std::vector<CommitOp> ops, const std::string& exec = "e1") {
    return Get<std::vector<CommitResult>>([&](auto cb) { store.Commit(exec, "n", ops, cb); });
  }
  SubtaskRecord Record(uint32_t i, const std::string& exec = "e1") {
    return Get<SubtaskRecord>([&](auto cb) { s().LoadRecord(exec, "n", i, cb); }).value_or(SubtaskRecord{15, 0, 0, false});
  }
  std::map<uint32_t, std::string> Outputs(uint32_t n, const std::string& exec = "e1") {
    auto out = std::make_shared<std::map<uint32_t, std::string>>();
    Status st = Done([&](Store::Done done) {
      s().LoadOutputs(exec, "n", n, [out](uint32_t i, std::optional<std::string_view> v) {
        if (v) (*out)[i] = std::string(*v);
      }, done);
    });
    EXPECT_TRUE(st.ok()) << st.message();
    return *out;
  }

  static CommitOp Dispatch(uint32_t i, uint8_t attempt) {
    return {CommitOp::kRecord, i, attempt, Rec(SubtaskPhase::kRunning, attempt), ""};
  }
  static CommitOp Output(uint32_t i, uint8_t attempt, std::string out) {
    return {CommitOp::kOutput, i, attempt, Rec(SubtaskPhase::kSucceeded, attempt), std::move(out)};
  }
  static CommitOp Error(uint32_t i, uint8_t attempt, SubtaskPhase to, uint8_t to_attempt, std::string why) {
    return {CommitOp::kError, i, attempt, Rec(to, to_attempt), std::move(why)};
  }

  std::unique_ptr<Backend> b_;
};

using R = std::vector<CommitResult>;
constexpr CommitResult kApplied = CommitResult::kApplied;
constexpr CommitResult kRefused = CommitResult::kRefused;
constexpr CommitResult kAlready = CommitResult::kAlreadyApplied;

TEST_P(StoreContractTest, OutputOfTheCurrentAttemptIsCommittedWithItsRecord) {
  auto r = Commit(s(), {Dispatch(3, 0), Output(3, 0, "A")});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, (R{kApplied, kApplied}));
  EXPECT_EQ(Outputs(4), (std::map<uint32_t, std::string>{{3, "A"}}));
  EXPECT_EQ(PackRecord(Record(3)), Rec(SubtaskPhase::kSucceeded, 0));
}

TEST_P(StoreContractTest, AResultCommittedTwiceIsAlreadyAppliedAndTheFirstOutputStays) {
  ASSERT_TRUE(Commit(s(), {Dispatch(1, 0), Output(1, 0, "first")}));
  EXPECT_EQ(*Commit(s(), {Output(1, 0, "first")}), (R{kAlready}));
  EXPECT_EQ(*Commit(s(), {Output(1, 0, "second")}), (R{kAlready}));
  EXPECT_EQ(Outputs(2).at(1), "first");
}

TEST_P(StoreContractTest, AFailureCommittedTwiceIsAlreadyApplied) {
  ASSERT_TRUE(Commit(s(), {Dispatch(4, 0)}));
  auto retry = Error(4, 0, SubtaskPhase::kRetrying, 1, "exit code 1");
  EXPECT_EQ(*Commit(s(), {retry}), (R{kApplied}));
  EXPECT_EQ(*Commit(s(), {retry}), (R{kAlready}));
}

TEST_P(StoreContractTest, ResultOfAStaleAttemptIsRefused) {
  ASSERT_TRUE(Commit(s(), {Dispatch(2, 0), Dispatch(2, 1)}));  // attempt 0 superseded
  EXPECT_EQ(*Commit(s(), {Output(2, 0, "late")}), (R{kRefused}));
  EXPECT_TRUE(Outputs(3).empty());
  EXPECT_EQ(*Commit(s(), {Output(2, 1, "current")}), (R{kApplied}));
}

TEST_P(StoreContractTest, ResultForATerminalSubtaskIsRefusedAndItsRecordKept) {
  ASSERT_TRUE(Commit(s(), {Dispatch(5, 0), Error(5, 0, SubtaskPhase::kFailed, 0, "exit code 1")}));
  EXPECT_EQ(*Commit(s(), {Output(5, 0, "x")}), (R{kRefused}));
  // A dispatch record does not overwrite a terminal one either.
  EXPECT_EQ(*Commit(s(), {Dispatch(5, 1)}), (R{kRefused}));
  EXPECT_EQ(PackRecord(Record(5)), Rec(SubtaskPhase::kFailed, 0));
  EXPECT_TRUE(Outputs(6).empty());
}

TEST_P(StoreContractTest, ACoordinatorWithAStaleEpochCannotWrite) {
  int64_t newer = TakeEpoch(b_->second());
  ASSERT_GT(newer, s().epoch());
  auto r = Commit(s(), {Dispatch(7, 0), Output(7, 0, "stale")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Outputs(8).empty());
  EXPECT_EQ(*Commit(b_->second(), {Dispatch(7, 0), Output(7, 0, "fresh")}), (R{kApplied, kApplied}));
}

TEST_P(StoreContractTest, OpsOnOneSubtaskInOneBatchSeeTheEarlierOnes) {
  // Dispatch, a retryable failure, the retry's dispatch, a late result of the first attempt
  // and the retry's result, all in one commit: each op is judged on the record the ops before
  // it left.
  auto r = Commit(s(), {Dispatch(6, 0), Error(6, 0, SubtaskPhase::kRetrying, 1, "exit code 1"),
                        Dispatch(6, 1), Output(6, 0, "late"), Output(6, 1, "B"), Output(6, 1, "B")});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, (R{kApplied, kApplied, kApplied, kRefused, kApplied, kAlready}));
  EXPECT_EQ(Outputs(7), (std::map<uint32_t, std::string>{{6, "B"}}));
  EXPECT_EQ(PackRecord(Record(6)), Rec(SubtaskPhase::kSucceeded, 1));
}

TEST_P(StoreContractTest, RecordsFarApartInOneBatchAreEachWrittenAndTheOnesBetweenKept) {
  ASSERT_TRUE(Commit(s(), {Dispatch(40, 2)}));
  auto r = Commit(s(), {Dispatch(0, 0), Dispatch(70000, 1), Dispatch(41, 0), Output(41, 0, "x")});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, (R{kApplied, kApplied, kApplied, kApplied}));
  EXPECT_EQ(PackRecord(Record(0)), Rec(SubtaskPhase::kRunning, 0));
  EXPECT_EQ(PackRecord(Record(40)), Rec(SubtaskPhase::kRunning, 2));  // between, untouched
  EXPECT_EQ(PackRecord(Record(41)), Rec(SubtaskPhase::kSucceeded, 0));
  EXPECT_EQ(PackRecord(Record(70000)), Rec(SubtaskPhase::kRunning, 1));
  EXPECT_EQ(PackRecord(Record(39)), 0);
  EXPECT_EQ(PackRecord(Record(69999)), 0);
}

TEST_P(StoreContractTest, ABatchOfManyThousandOpsAppliesEveryOne) {
  // More ops than one chunk of the script's BITFIELD and HSET calls.
  constexpr uint32_t kN = 2500;
  std::vector<CommitOp> ops;
  for (uint32_t i = 0; i < kN; ++i) ops.push_back(Dispatch(i, 0));
  for (uint32_t i = 0; i < kN; ++i) {
    if (i % 2 == 0) ops.push_back(Output(i, 0, "o" + std::to_string(i)));
    else ops.push_back(Error(i, 0, SubtaskPhase::kFailed, 0, "e" + std::to_string(i)));
  }
  auto r = Commit(s(), ops);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, R(2 * kN, kApplied));
  auto recs = Get<std::vector<uint16_t>>([&](auto cb) { s().LoadRecords("e1", "n", kN, cb); });
  ASSERT_TRUE(recs);
  std::map<uint32_t, std::string> want;
  for (uint32_t i = 0; i < kN; ++i) {
    uint16_t expect = i % 2 == 0 ? Rec(SubtaskPhase::kSucceeded, 0) : Rec(SubtaskPhase::kFailed, 0);
    EXPECT_EQ((*recs)[i], expect) << "index " << i;
    if (i % 2 == 0) want[i] = "o" + std::to_string(i);
  }
  EXPECT_EQ(Outputs(kN), want);
  // Committed again as a whole: every result is already applied, no dispatch overwrites.
  auto again = Commit(s(), ops);
  ASSERT_TRUE(again);
  EXPECT_EQ(std::count(again->begin(), again->end(), kRefused), kN);  // the dispatches
  EXPECT_EQ(std::count(again->begin(), again->end(), kAlready), kN);
}

TEST_P(StoreContractTest, RecordsNeverWrittenLoadAsZero) {
  ASSERT_TRUE(Commit(s(), {Dispatch(2, 3)}));
  auto recs = Get<std::vector<uint16_t>>([&](auto cb) { s().LoadRecords("e1", "n", 5, cb); });
  ASSERT_TRUE(recs);
  EXPECT_EQ(*recs, (std::vector<uint16_t>{0, 0, Rec(SubtaskPhase::kRunning, 3), 0, 0}));
  auto none = Get<std::vector<uint16_t>>([&](auto cb) { s().LoadRecords("nothing", "n", 2, cb); });
  EXPECT_EQ(*none, (std::vector<uint16_t>{0, 0}));
}

TEST_P(StoreContractTest, ExecutionsAreCreatedListedAndFinished) {
  ASSERT_TRUE(Done([&](auto cb) { s().CreateExecution("x1", 1000, {{"phase", "RUNNING"}, {"a", "1"}}, cb); }).ok());
  ASSERT_TRUE(Done([&](auto cb) { s().CreateExecution("x2", 2000, {{"phase", "RUNNING"}}, cb); }).ok());
  auto active = Get<std::vector<StoredExecution>>([&](auto cb) { s().LoadActive(cb); });
  ASSERT_TRUE(active);
  ASSERT_EQ(active->size(), 2u);
  ASSERT_TRUE(Done([&](auto cb) { s().FinishExecution("x1", {{"phase", "SUCCEEDED"}}, cb); }).ok());
  active = Get<std::vector<StoredExecution>>([&](auto cb) { s().LoadActive(cb); });
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ((*active)[0].id, "x2");
  EXPECT_EQ((*active)[0].fields.at("phase"), "RUNNING");
  auto f = Get<std::vector<std::optional<std::string>>>([&](auto cb) { s().GetExecFields("x1", {"phase", "a", "b"}, cb); });
  EXPECT_EQ(*f, (std::vector<std::optional<std::string>>{"SUCCEEDED", "1", std::nullopt}));
  auto recent = Get<std::vector<std::string>>([&](auto cb) { s().RecentExecutions(10, false, cb); });
  EXPECT_EQ(*recent, (std::vector<std::string>{"x2", "x1"}));
  auto all = Get<std::map<std::string, std::string>>([&](auto cb) { s().GetAllExecFields("nope", cb); });
  EXPECT_TRUE(all->empty());
}

// A field of megabytes (a large input; the fields are moved, not copied, on their way) is
// stored whole, byte for byte, and listed like any other.
TEST_P(StoreContractTest, AnExecutionWithAFieldOfMegabytesIsStoredWhole) {
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) ^ (i >> 9));
  ASSERT_TRUE(Done([&](auto cb) {
                s().CreateExecution("big", 1000, {{"phase", "RUNNING"}, {"inputs", big}, {"a", "\r\n$1"}}, cb);
              }).ok());
  auto all = Get<std::map<std::string, std::string>>([&](auto cb) { s().GetAllExecFields("big", cb); });
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 3u);
  EXPECT_TRUE(all->at("inputs") == big) << "the stored field differs from what was given";
  EXPECT_EQ(all->at("a"), "\r\n$1");
  auto active = Get<std::vector<StoredExecution>>([&](auto cb) { s().LoadActive(cb); });
  ASSERT_TRUE(active);
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ((*active)[0].id, "big");
}

TEST_P(StoreContractTest, AChildExecutionIsCreatedOnceAndListedOnlyWithChildren) {
  using Fields = std::optional<std::map<std::string, std::string>>;
  ASSERT_TRUE(Done([&](auto cb) { s().CreateExecution("top", 1000, {{"phase", "RUNNING"}}, cb); }).ok());
  auto first = Get<Fields>([&](auto cb) { s().CreateChildExecution("top.m.0", 2000, {{"phase", "RUNNING"}}, cb); });
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->has_value());
  ASSERT_TRUE(Done([&](auto cb) { s().FinishExecution("top.m.0", {{"phase", "SUCCEEDED"}}, cb); }).ok());
  // Started again (a restarted parent): nothing is written, the stored fields come back.
  auto again = Get<Fields>([&](auto cb) { s().CreateChildExecution("top.m.0", 3000, {{"phase", "RUNNING"}}, cb); });
  ASSERT_TRUE(again && again->has_value());
  EXPECT_EQ((**again).at("phase"), "SUCCEEDED");
  auto active = Get<std::vector<StoredExecution>>([&](auto cb) { s().LoadActive(cb); });
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ((*active)[0].id, "top");
  auto top_only = Get<std::vector<std::string>>([&](auto cb) { s().RecentExecutions(10, false, cb); });
  EXPECT_EQ(*top_only, (std::vector<std::string>{"top"}));
  auto all = Get<std::vector<std::string>>([&](auto cb) { s().RecentExecutions(10, true, cb); });
  EXPECT_EQ(*all, (std::vector<std::string>{"top.m.0", "top"}));
}

TEST_P(StoreContractTest, RecoverCopiesSucceededSubtasksWhenSizesMatch) {
  ASSERT_TRUE(Done([&](auto cb) { s().CreateExecution("src", 1, {{"node:n:size", "3"}}, cb); }).ok());
  ASSERT_TRUE(Commit(s(), {Dispatch(0, 0), Output(0, 0, "A"), Dispatch(1, 0),
                           Error(1, 0, SubtaskPhase::kFailed, 0, "no"), Dispatch(2, 0), Output(2, 0, "C")},
                     "src"));
  auto copied = Get<int64_t>([&](auto cb) { s().CopySucceeded("src", "dst", "n", 3, cb); });
  ASSERT_TRUE(copied);
  EXPECT_EQ(*copied, 2);
  EXPECT_EQ(Outputs(3, "dst"), (std::map<uint32_t, std::string>{{0, "A"}, {2, "C"}}));
  EXPECT_EQ(static_cast<SubtaskPhase>(Record(1, "dst").phase), SubtaskPhase::kQueued);
  auto mismatch = Get<int64_t>([&](auto cb) { s().CopySucceeded("src", "dst2", "n", 4, cb); });
  EXPECT_EQ(*mismatch, 0);
}

TEST_P(StoreContractTest, UnclaimedFirstSightingsAreKeptUntilForgotten) {
  s().MarkUnclaimed("e1", "n", {{1, 100}, {4, 200}});
  auto got = Get<std::map<uint32_t, int64_t>>([&](auto cb) { s().LoadUnclaimed("e1", "n", cb); });
  EXPECT_EQ(*got, (std::map<uint32_t, int64_t>{{1, 100}, {4, 200}}));
  s().ForgetUnclaimed("e1", "n", 1);
  got = Get<std::map<uint32_t, int64_t>>([&](auto cb) { s().LoadUnclaimed("e1", "n", cb); });
  EXPECT_EQ(*got, (std::map<uint32_t, int64_t>{{4, 200}}));
  s().ClearUnclaimed("e1", "n");
  got = Get<std::map<uint32_t, int64_t>>([&](auto cb) { s().LoadUnclaimed("e1", "n", cb); });
  EXPECT_TRUE(got->empty());
}

TEST_P(StoreContractTest, CacheEntriesAreReadAndClearedByTaskAndVersion) {
  s().CachePut("t1:v1:aa", "A", 0);
  s().CachePut("t1:v2:bb", "B", 0);
  s().CachePut("t2:v1:cc", "C", 0);
  auto got = Get<std::vector<std::optional<std::string>>>([&](auto cb) { s().CacheGet({"t1:v1:aa", "zz"}, cb); });
  EXPECT_EQ(*got, (std::vector<std::optional<std::string>>{"A", std::nullopt}));
  auto n = Get<int64_t>([&](auto cb) { s().CacheClear("t1", "v1", cb); });
  EXPECT_EQ(*n, 1);
  n = Get<int64_t>([&](auto cb) { s().CacheClear("t1", "", cb); });
  EXPECT_EQ(*n, 1);
  got = Get<std::vector<std::optional<std::string>>>([&](auto cb) { s().CacheGet({"t1:v2:bb", "t2:v1:cc"}, cb); });
  EXPECT_EQ(*got, (std::vector<std::optional<std::string>>{std::nullopt, "C"}));
}

TEST_P(StoreContractTest, AReservationIsHeldUntilReleased) {
  EXPECT_EQ(Get<bool>([&](auto cb) { s().Reserve("k", "me", 60000, cb); }).value_or(false), true);
  EXPECT_EQ(Get<bool>([&](auto cb) { s().Reserve("k", "you", 60000, cb); }).value_or(true), false);
  s().RenewReservation("k", 60000);
  s().ReleaseReservation("k");
  EXPECT_EQ(Get<bool>([&](auto cb) { s().Reserve("k", "you", 60000, cb); }).value_or(false), true);
}

TEST_P(StoreContractTest, CheckpointsAreKeptPerSubtaskAndDeleted) {
  s().PutCheckpoint("e1", "n", 3, "c3");
  s().PutCheckpoint("e1", "n", 5, "c5");
  s().PutCheckpoint("e1", "n", 3, "c3b");
  auto list = Get<std::vector<uint32_t>>([&](auto cb) { s().ListCheckpoints("e1", "n", cb); });
  ASSERT_TRUE(list);
  std::sort(list->begin(), list->end());
  EXPECT_EQ(*list, (std::vector<uint32_t>{3, 5}));
  EXPECT_EQ(*Get<std::optional<std::string>>([&](auto cb) { s().GetCheckpoint("e1", "n", 3, cb); }), "c3b");
  s().DeleteCheckpoint("e1", "n", 3);
  EXPECT_FALSE(Get<std::optional<std::string>>([&](auto cb) { s().GetCheckpoint("e1", "n", 3, cb); })->has_value());
  s().PutCheckpoint("e1", "m", 0, "m0");
  s().PutCheckpoint("e2", "n", 5, "other");
  s().DeleteCheckpoints("e1");
  // The deletion is asynchronous (its keys are read first): wait until the list is empty.
  std::vector<uint32_t> left = {1};
  for (int i = 0; i < 50 && !left.empty(); ++i)
    left = Get<std::vector<uint32_t>>([&](auto cb) { s().ListCheckpoints("e1", "n", cb); }).value_or(left);
  EXPECT_TRUE(left.empty());
  EXPECT_FALSE(Get<std::optional<std::string>>([&](auto cb) { s().GetCheckpoint("e1", "n", 5, cb); })->has_value());
  EXPECT_FALSE(Get<std::optional<std::string>>([&](auto cb) { s().GetCheckpoint("e1", "m", 0, cb); })->has_value());
  EXPECT_EQ(*Get<std::optional<std::string>>([&](auto cb) { s().GetCheckpoint("e2", "n", 5, cb); }), "other");
  // Listing and deleting never scan the key space: an execution's end would otherwise cost a
  // scan of every key (10,000 children ending made a million SCANs).
  if (auto scans = b_->ScanCalls()) {
    EXPECT_EQ(*scans, 0);
  }
}

TEST_P(StoreContractTest, LogsAreKeptPerAttempt) {
  s().PutLog("e1", "n", 2, 0, "first", 60);
  s().PutLog("e1", "n", 2, 1, "second", 60);
  EXPECT_EQ(*Get<std::optional<std::string>>([&](auto cb) { s().GetLog("e1", "n", 2, 0, cb); }), "first");
  EXPECT_EQ(*Get<std::optional<std::string>>([&](auto cb) { s().GetLog("e1", "n", 2, 1, cb); }), "second");
  EXPECT_FALSE(Get<std::optional<std::string>>([&](auto cb) { s().GetLog("e1", "n", 2, 2, cb); })->has_value());
}

TEST_P(StoreContractTest, CallbacksNeverRunInsideTheCall) {
  bool ran = false;
  s().GetLog("e1", "n", 0, 0, [&](auto) { ran = true; });
  EXPECT_FALSE(ran);
  b_->Wait([&] { return ran; });
  EXPECT_TRUE(ran);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContractTest, ::testing::Values("redis", "fake"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fanout
