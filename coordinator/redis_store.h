// RedisStore: the Store on Redis (DESIGN §6), driven by RedisClient on the loop. The only code
// that knows Redis: every key comes from keys.h, every script is here.
//
// Subtask writes go through one Lua script that checks the coordinator's fencing epoch and, for
// results, the subtask's current attempt, so a stale coordinator or a stale attempt cannot
// write and an index never holds two outputs (HSETNX).
#pragma once

#include <uv.h>

#include <string>

#include "coordinator/redis_client.h"
#include "coordinator/store.h"

namespace fanout {

class RedisStore final : public Store {
 public:
  RedisStore(uv_loop_t* loop, std::string host, int port, std::string password, std::string user = "");

  void Start(OnState on_state) override;
  // Disconnects for good; pending commands fail now (see RedisClient::Shutdown).
  void Shutdown() { redis_.Shutdown(); }
  bool connected() const override { return redis_.connected(); }
  // Commands sent and not yet answered (shutdown waits for them).
  size_t pending() const { return redis_.pending(); }

  void TakeEpoch(Callback<int64_t> cb) override;
  int64_t epoch() const override { return epoch_; }

  void CreateExecution(std::string_view exec, int64_t created_ms, Fields fields,
                       Done cb) override;
  void CreateChildExecution(std::string_view exec, int64_t created_ms, const Fields& fields,
                            Callback<std::optional<std::map<std::string, std::string>>> cb) override;
  void SetExecFields(std::string_view exec, const Fields& fields, Done cb) override;
  void FinishExecution(std::string_view exec, const Fields& fields, Done cb) override;
  void GetExecFields(std::string_view exec, const std::vector<std::string>& names,
                     Callback<std::vector<std::optional<std::string>>> cb) override;
  void GetAllExecFields(std::string_view exec,
                        Callback<std::map<std::string, std::string>> cb) override;
  void LoadActive(Callback<std::vector<StoredExecution>> cb) override;
  void RecentExecutions(int limit, bool children, Callback<std::vector<std::string>> cb) override;

  void Commit(std::string_view exec, std::string_view node, const std::vector<CommitOp>& ops,
              Callback<std::vector<CommitResult>> cb) override;
  void LoadRecords(std::string_view exec, std::string_view node, uint32_t n,
                   Callback<std::vector<uint16_t>> cb) override;
  void LoadRecord(std::string_view exec, std::string_view node, uint32_t index,
                  Callback<SubtaskRecord> cb) override;
  void LoadOutputs(std::string_view exec, std::string_view node, uint32_t n,
                   std::function<void(uint32_t, std::optional<std::string_view>)> on_item,
                   Done done) override;
  void CopySucceeded(std::string_view src, std::string_view dst, std::string_view node, uint32_t n,
                     Callback<int64_t> cb) override;

  void LoadUnclaimed(std::string_view exec, std::string_view node,
                     Callback<std::map<uint32_t, int64_t>> cb) override;
  void MarkUnclaimed(std::string_view exec, std::string_view node,
                     const std::vector<std::pair<uint32_t, int64_t>>& first_seen_wall_ms) override;
  void ForgetUnclaimed(std::string_view exec, std::string_view node, uint32_t index) override;
  void ClearUnclaimed(std::string_view exec, std::string_view node) override;

  void CacheGet(const std::vector<std::string>& keys,
                Callback<std::vector<std::optional<std::string>>> cb) override;
  void CachePut(const std::string& key, const std::string& value, int64_t ttl_ms) override;
  void CacheClear(const std::string& task, const std::string& version, Callback<int64_t> cb) override;
  void Reserve(const std::string& key, const std::string& owner, int64_t ttl_ms,
               Callback<bool> cb) override;
  void RenewReservation(const std::string& key, int64_t ttl_ms) override;
  void ReleaseReservation(const std::string& key) override;

  void PutCheckpoint(std::string_view exec, std::string_view node, uint32_t index,
                     const std::string& bytes) override;
  void GetCheckpoint(std::string_view exec, std::string_view node, uint32_t index,
                     Callback<std::optional<std::string>> cb) override;
  void ListCheckpoints(std::string_view exec, std::string_view node,
                       Callback<std::vector<uint32_t>> cb) override;
  void DeleteCheckpoint(std::string_view exec, std::string_view node, uint32_t index) override;
  void DeleteCheckpoints(std::string_view exec) override;

  void PutLog(std::string_view exec, std::string_view node, uint32_t index, uint32_t attempt,
              const std::string& log, int64_t ttl_s) override;
  void GetLog(std::string_view exec, std::string_view node, uint32_t index, uint32_t attempt,
              Callback<std::optional<std::string>> cb) override;

 private:
  void LoadOutputsChunk(std::string exec, std::string node, uint32_t from, uint32_t n,
                        std::function<void(uint32_t, std::optional<std::string_view>)> on_item,
                        Done done);
  // SCAN MATCH pattern; on_keys per batch, then done.
  void Scan(std::string pattern, std::string cursor,
            std::function<void(std::vector<std::string>)> on_keys, Done done);
  // A write whose failure is only logged.
  void Fire(const std::vector<std::string>& argv, const char* what);

  RedisClient redis_;
  int64_t epoch_ = 0;
  std::string script_sha_;
};

}  // namespace fanout
