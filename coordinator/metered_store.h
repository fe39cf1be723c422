// MeteredStore: a Store that forwards every call to another Store and records, for each call
// answered through a callback, its round trip in Metrics (metrics.h, "fanout_redis_request_seconds"
// by operation; commits also as "fanout_commit_latency_seconds"). Fire-and-forget calls
// (CachePut, PutLog, ...) are forwarded untimed. The reactor hands the core a MeteredStore
// over its RedisStore, so no room needs to know about metrics to be measured.
// Loop thread only, like the store it wraps.
#pragma once

#include "coordinator/metrics.h"
#include "coordinator/store.h"

namespace fanout {

class MeteredStore final : public Store {
 public:
  // Both must outlive this object.
  MeteredStore(Store& inner, Metrics& metrics) : inner_(inner), metrics_(metrics) {}

  void Start(OnState on_state) override { inner_.Start(std::move(on_state)); }
  bool connected() const override { return inner_.connected(); }
  void TakeEpoch(Callback<int64_t> cb) override;
  int64_t epoch() const override { return inner_.epoch(); }

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
                     const std::vector<std::pair<uint32_t, int64_t>>& first_seen_wall_ms) override {
    inner_.MarkUnclaimed(exec, node, first_seen_wall_ms);
  }
  void ForgetUnclaimed(std::string_view exec, std::string_view node, uint32_t index) override {
    inner_.ForgetUnclaimed(exec, node, index);
  }
  void ClearUnclaimed(std::string_view exec, std::string_view node) override { inner_.ClearUnclaimed(exec, node); }

  void CacheGet(const std::vector<std::string>& keys, Callback<std::vector<std::optional<std::string>>> cb) override;
  void CachePut(const std::string& key, const std::string& value, int64_t ttl_ms) override {
    inner_.CachePut(key, value, ttl_ms);
  }
  void CacheClear(const std::string& task, const std::string& version, Callback<int64_t> cb) override;
  void Reserve(const std::string& key, const std::string& owner, int64_t ttl_ms, Callback<bool> cb) override;
  void RenewReservation(const std::string& key, int64_t ttl_ms) override { inner_.RenewReservation(key, ttl_ms); }
  void ReleaseReservation(const std::string& key) override { inner_.ReleaseReservation(key); }

  void PutCheckpoint(std::string_view exec, std::string_view node, uint32_t index, const std::string& bytes) override {
    inner_.PutCheckpoint(exec, node, index, bytes);
  }
  void GetCheckpoint(std::string_view exec, std::string_view node, uint32_t index,
                     Callback<std::optional<std::string>> cb) override;
  void ListCheckpoints(std::string_view exec, std::string_view node, Callback<std::vector<uint32_t>> cb) override;
  void DeleteCheckpoint(std::string_view exec, std::string_view node, uint32_t index) override {
    inner_.DeleteCheckpoint(exec, node, index);
  }
  void DeleteCheckpoints(std::string_view exec) override { inner_.DeleteCheckpoints(exec); }

  void PutLog(std::string_view exec, std::string_view node, uint32_t index, uint32_t attempt,
              const std::string& log, int64_t ttl_s) override {
    inner_.PutLog(exec, node, index, attempt, log, ttl_s);
  }
  void GetLog(std::string_view exec, std::string_view node, uint32_t index, uint32_t attempt,
              Callback<std::optional<std::string>> cb) override;

 private:
  // cb wrapped to record the time from now until it runs under `op`.
  template <typename T>
  Callback<T> Timed(const char* op, Callback<T> cb);
  Done TimedDone(const char* op, Done cb);

  Store& inner_;
  Metrics& metrics_;
};

}  // namespace fanout
