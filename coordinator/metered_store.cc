#include "coordinator/metered_store.h"

namespace fanout {

template <typename T>
Store::Callback<T> MeteredStore::Timed(const char* op, Callback<T> cb) {
  return [this, op, t0 = metrics_.NowUs(), cb = std::move(cb)](Result<T> r) {
    metrics_.StoreRoundTrip(op, metrics_.NowUs() - t0);
    if (cb) cb(std::move(r));
  };
}

Store::Done MeteredStore::TimedDone(const char* op, Done cb) {
  return [this, op, t0 = metrics_.NowUs(), cb = std::move(cb)](Status s) {
    metrics_.StoreRoundTrip(op, metrics_.NowUs() - t0);
    if (cb) cb(std::move(s));
  };
}

void MeteredStore::TakeEpoch(Callback<int64_t> cb) { inner_.TakeEpoch(Timed("take_epoch", std::move(cb))); }

void MeteredStore::CreateExecution(std::string_view exec, int64_t created_ms, Fields fields, Done cb) {
  inner_.CreateExecution(exec, created_ms, std::move(fields), TimedDone("create_execution", std::move(cb)));
}

void MeteredStore::CreateChildExecution(std::string_view exec, int64_t created_ms, const Fields& fields,
                                        Callback<std::optional<std::map<std::string, std::string>>> cb) {
  inner_.CreateChildExecution(exec, created_ms, fields, Timed("create_child_execution", std::move(cb)));
}

void MeteredStore::SetExecFields(std::string_view exec, const Fields& fields, Done cb) {
  inner_.SetExecFields(exec, fields, TimedDone("set_exec_fields", std::move(cb)));
}

void MeteredStore::FinishExecution(std::string_view exec, const Fields& fields, Done cb) {
  inner_.FinishExecution(exec, fields, TimedDone("finish_execution", std::move(cb)));
}

void MeteredStore::GetExecFields(std::string_view exec, const std::vector<std::string>& names,
                                 Callback<std::vector<std::optional<std::string>>> cb) {
  inner_.GetExecFields(exec, names, Timed("get_exec_fields", std::move(cb)));
}

void MeteredStore::GetAllExecFields(std::string_view exec, Callback<std::map<std::string, std::string>> cb) {
  inner_.GetAllExecFields(exec, Timed("get_all_exec_fields", std::move(cb)));
}

void MeteredStore::LoadActive(Callback<std::vector<StoredExecution>> cb) {
  inner_.LoadActive(Timed("load_active", std::move(cb)));
}

void MeteredStore::RecentExecutions(int limit, bool children, Callback<std::vector<std::string>> cb) {
  inner_.RecentExecutions(limit, children, Timed("recent_executions", std::move(cb)));
}

void MeteredStore::Commit(std::string_view exec, std::string_view node, const std::vector<CommitOp>& ops,
                          Callback<std::vector<CommitResult>> cb) {
  metrics_.CommitBatch();
  inner_.Commit(exec, node, ops, Timed("commit", std::move(cb)));
}

void MeteredStore::LoadRecords(std::string_view exec, std::string_view node, uint32_t n,
                               Callback<std::vector<uint16_t>> cb) {
  inner_.LoadRecords(exec, node, n, Timed("load_records", std::move(cb)));
}

void MeteredStore::LoadRecord(std::string_view exec, std::string_view node, uint32_t index,
                              Callback<SubtaskRecord> cb) {
  inner_.LoadRecord(exec, node, index, Timed("load_record", std::move(cb)));
}

void MeteredStore::LoadOutputs(std::string_view exec, std::string_view node, uint32_t n,
                               std::function<void(uint32_t, std::optional<std::string_view>)> on_item, Done done) {
  inner_.LoadOutputs(exec, node, n, std::move(on_item), TimedDone("load_outputs", std::move(done)));
}

void MeteredStore::CopySucceeded(std::string_view src, std::string_view dst, std::string_view node, uint32_t n,
                                 Callback<int64_t> cb) {
  inner_.CopySucceeded(src, dst, node, n, Timed("copy_succeeded", std::move(cb)));
}

void MeteredStore::LoadUnclaimed(std::string_view exec, std::string_view node,
                                 Callback<std::map<uint32_t, int64_t>> cb) {
  inner_.LoadUnclaimed(exec, node, Timed("load_unclaimed", std::move(cb)));
}

void MeteredStore::CacheGet(const std::vector<std::string>& keys,
                            Callback<std::vector<std::optional<std::string>>> cb) {
  inner_.CacheGet(keys, Timed("cache_get", std::move(cb)));
}

void MeteredStore::CacheClear(const std::string& task, const std::string& version, Callback<int64_t> cb) {
  inner_.CacheClear(task, version, Timed("cache_clear", std::move(cb)));
}

void MeteredStore::Reserve(const std::string& key, const std::string& owner, int64_t ttl_ms, Callback<bool> cb) {
  inner_.Reserve(key, owner, ttl_ms, Timed("reserve", std::move(cb)));
}

void MeteredStore::GetCheckpoint(std::string_view exec, std::string_view node, uint32_t index,
                                 Callback<std::optional<std::string>> cb) {
  inner_.GetCheckpoint(exec, node, index, Timed("get_checkpoint", std::move(cb)));
}

void MeteredStore::ListCheckpoints(std::string_view exec, std::string_view node,
                                   Callback<std::vector<uint32_t>> cb) {
  inner_.ListCheckpoints(exec, node, Timed("list_checkpoints", std::move(cb)));
}

void MeteredStore::GetLog(std::string_view exec, std::string_view node, uint32_t index, uint32_t attempt,
                          Callback<std::optional<std::string>> cb) {
  inner_.GetLog(exec, node, index, attempt, Timed("get_log", std::move(cb)));
}

}  // namespace fanout
