// FakeStore: the Store in memory, for unit tests of the rooms that use one. It keeps the same
// state with the same rules as RedisStore (fencing, current-attempt checks, first output wins,
// CommitResult::kAlreadyApplied), which tests/integration/store_contract_test.cc checks by
// running one suite against both.
//
// Callbacks are queued, never run inside the call (as the real store's replies arrive later):
// RunPending() runs them. Several FakeStores may share one FakeStoreState, like several
// coordinators sharing one Redis. Fault knobs: set_connected, LoseNextReplies (the write is
// applied, its reply lost), DropNextFinishes (an execution's end is not written),
// RefuseWrites (every write fails, nothing applied).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>

#include "common/clock.h"
#include "coordinator/store.h"

namespace fanout {

struct FakeStoreState {
  int64_t epoch = 0;
  std::map<std::string, std::map<std::string, std::string>> execs;  // fields
  std::set<std::string> active;
  std::map<std::string, int64_t> created;  // the execution list
  std::map<std::string, int64_t> children;  // the child execution list
  using NodeKey = std::pair<std::string, std::string>;
  std::map<NodeKey, std::map<uint32_t, uint16_t>> records;
  std::map<NodeKey, std::map<uint32_t, std::string>> outputs, errors;
  std::map<NodeKey, std::map<uint32_t, int64_t>> unclaimed;
  std::map<std::string, std::pair<std::string, int64_t>> cache;  // key → value, expiry (0: never)
  std::map<std::string, std::pair<std::string, int64_t>> reservations;  // key → owner, expiry
  std::map<std::tuple<std::string, std::string, uint32_t>, std::string> checkpoints;
  std::map<std::tuple<std::string, std::string, uint32_t, uint32_t>, std::string> logs;
};

class FakeStore final : public Store {
 public:
  explicit FakeStore(const Clock& clock, std::shared_ptr<FakeStoreState> state = nullptr);

  // Runs queued callbacks (and those they queue) until none is left; returns how many ran.
  size_t RunPending();
  size_t pending() const { return queue_.size(); }
  FakeStoreState& state() { return *state_; }

  // While disconnected every call fails with kUnavailable (on_state is told).
  void set_connected(bool connected);
  // The next n Commits are applied but their callers get kUnavailable, as when a connection
  // dies between the script and its reply.
  void LoseNextReplies(int n) { lose_replies_ = n; }
  // The next n FinishExecutions apply nothing and fail with kUnavailable, as when the
  // connection dies before the write reaches Redis.
  void DropNextFinishes(int n) { drop_finishes_ = n; }
  // Writes fail with kInternal and apply nothing (as Redis answers -OOM or -MISCONF).
  void RefuseWrites(bool refuse) { refuse_writes_ = refuse; }

  void Start(OnState on_state) override;
  bool connected() const override { return connected_; }
  void TakeEpoch(Callback<int64_t> cb) override;
  int64_t epoch() const override { return epoch_; }

  void CreateExecution(std::string_view exec, int64_t created_ms, Fields fields, Done cb) override;
  void CreateChildExecution(std::string_view exec, int64_t created_ms, const Fields& fields,
                            Callback<std::optional<std::map<std::string, std::string>>> cb) override;
  void SetExecFields(std::string_view exec, const Fields& fields, Done cb) override;
  void FinishExecution(std::string_view exec, const Fields& fields, Done cb) override;
  void GetExecFields(std::string_view exec, const std::vector<std::string>& names,
                     Callback<std::vector<std::optional<std::string>>> cb) override;
  void GetAllExecFields(std::string_view exec, Callback<std::map<std::string, std::string>> cb) override;
  void LoadActive(Callback<std::vector<StoredExecution>> cb) override;
  void RecentExecutions(int limit, bool children, Callback<std::vector<std::string>> cb) override;

  void Commit(std::string_view exec, std::string_view node, const std::vector<CommitOp>& ops,
              Callback<std::vector<CommitResult>> cb) override;
  void LoadRecords(std::string_view exec, std::string_view node, uint32_t n,
                   Callback<std::vector<uint16_t>> cb) override;
  void LoadRecord(std::string_view exec, std::string_view node, uint32_t index, Callback<SubtaskRecord> cb) override;
  void LoadOutputs(std::string_view exec, std::string_view node, uint32_t n,
                   std::function<void(uint32_t, std::optional<std::string_view>)> on_item, Done done) override;
  void CopySucceeded(std::string_view src, std::string_view dst, std::string_view node, uint32_t n,
                     Callback<int64_t> cb) override;

  void LoadUnclaimed(std::string_view exec, std::string_view node, Callback<std::map<uint32_t, int64_t>> cb) override;
  void MarkUnclaimed(std::string_view exec, std::string_view node,
                     const std::vector<std::pair<uint32_t, int64_t>>& first_seen_wall_ms) override;
  void ForgetUnclaimed(std::string_view exec, std::string_view node, uint32_t index) override;
  void ClearUnclaimed(std::string_view exec, std::string_view node) override;

  void CacheGet(const std::vector<std::string>& keys, Callback<std::vector<std::optional<std::string>>> cb) override;
  void CachePut(const std::string& key, const std::string& value, int64_t ttl_ms) override;
  void CacheClear(const std::string& task, const std::string& version, Callback<int64_t> cb) override;
  void Reserve(const std::string& key, const std::string& owner, int64_t ttl_ms, Callback<bool> cb) override;
  void RenewReservation(const std::string& key, int64_t ttl_ms) override;
  void ReleaseReservation(const std::string& key) override;

  void PutCheckpoint(std::string_view exec, std::string_view node, uint32_t index, const std::string& bytes) override;
  void GetCheckpoint(std::string_view exec, std::string_view node, uint32_t index,
                     Callback<std::optional<std::string>> cb) override;
  void ListCheckpoints(std::string_view exec, std::string_view node, Callback<std::vector<uint32_t>> cb) override;
  void DeleteCheckpoint(std::string_view exec, std::string_view node, uint32_t index) override;
  void DeleteCheckpoints(std::string_view exec) override;

  void PutLog(std::string_view exec, std::string_view node, uint32_t index, uint32_t attempt,
              const std::string& log, int64_t ttl_s) override;
  void GetLog(std::string_view exec, std::string_view node, uint32_t index, uint32_t attempt,
              Callback<std::optional<std::string>> cb) override;

 private:
  // Queues cb(value), or cb(error) when disconnected.
  template <typename T>
  void Reply(Callback<T> cb, T value);
  void Done_(Done cb);  // queues cb(Ok), or the connection error
  Status Down() const;
  bool Live(int64_t expiry) const { return expiry == 0 || expiry > clock_.NowMs(); }

  const Clock& clock_;
  std::shared_ptr<FakeStoreState> state_;
  std::deque<std::function<void()>> queue_;
  OnState on_state_;
  bool connected_ = true;
  int64_t epoch_ = 0;
  int lose_replies_ = 0;
  int drop_finishes_ = 0;
  bool refuse_writes_ = false;
};

}  // namespace fanout
