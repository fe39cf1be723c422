// Store: the coordinator's Redis persistence (DESIGN §6), on top of RedisClient. Every key
// comes from common/keys.h. All writes of subtask state go through one Lua script that checks
// the coordinator's fencing epoch, and for results the subtask's current attempt, so a stale
// coordinator or a stale attempt cannot write, and an index never holds two outputs (HSETNX).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/keys.h"
#include "common/redis_client.h"
#include "common/status.h"

namespace fanout {

class Store {
 public:
  // One write to a subtask's state, applied in order within a batch.
  struct Op {
    enum Kind : char {
      kRecord = 'r',  // set the record unless it is terminal (dispatch, abort)
      kOutput = 'o',  // if `attempt` is current and not terminal: HSETNX output, set record
      kError = 'e',   // if `attempt` is current and not terminal: HSET error, set record
    };
    Kind kind;
    uint32_t index;
    uint32_t attempt;
    uint16_t record;
    std::string payload;  // output (msgpack) or error message
  };
  // Per op: 1 applied, 0 refused (stale attempt, terminal, or output already present).
  using ApplyCallback = std::function<void(Result<std::vector<int>>)>;

  explicit Store(RedisClient& redis) : redis_(redis) {}

  int64_t epoch() const { return epoch_; }
  // Takes a new epoch (INCR). Every later Apply is fenced by it.
  void TakeEpoch(std::function<void(Result<int64_t>)> cb);

  // Applies ops to one node atomically. Fails with kFailedPrecondition when a newer
  // coordinator has taken the epoch.
  void Apply(std::string_view exec, std::string_view node, const std::vector<Op>& ops,
             ApplyCallback cb);

  void CreateExecution(std::string_view exec, int64_t created_ms,
                       const std::vector<std::pair<std::string, std::string>>& fields,
                       std::function<void(Status)> cb);
  void SetFields(std::string_view exec, const std::vector<std::pair<std::string, std::string>>& fields,
                 std::function<void(Status)> cb = nullptr);
  // Sets fields and removes the execution from the active set.
  void FinishExecution(std::string_view exec,
                       const std::vector<std::pair<std::string, std::string>>& fields,
                       std::function<void(Status)> cb = nullptr);
  void GetFields(std::string_view exec, const std::vector<std::string>& fields,
                 std::function<void(Result<std::vector<std::optional<std::string>>>)> cb);
  void GetAllFields(std::string_view exec,
                    std::function<void(Result<std::map<std::string, std::string>>)> cb);
  void ActiveExecutions(std::function<void(Result<std::vector<std::string>>)> cb);
  // Newest first.
  void RecentExecutions(int limit, std::function<void(Result<std::vector<std::string>>)> cb);

  // The packed subtask records of a node (empty when none were written).
  void LoadRecords(std::string_view exec, std::string_view node,
                   std::function<void(Result<std::string>)> cb);
  // Reads outputs of indices [0, n) in chunks, calling on_item in index order
  // (nullopt: no output), then done.
  void LoadOutputs(std::string exec, std::string node, uint32_t n,
                   std::function<void(uint32_t, std::optional<std::string_view>)> on_item,
                   std::function<void(Status)> done);
  // `fanout recover`: copies into dst every subtask of `node` that succeeded in src (output
  // and a SUCCEEDED record), unless the node sizes differ. Returns how many were copied.
  // Both executions' keys are touched in one script: on Redis Cluster that needs both hash
  // tags in one slot, which they are not; fanout targets a single Redis (DESIGN §6).
  void CopySucceeded(std::string_view src, std::string_view dst, std::string_view node, uint32_t n,
                     std::function<void(Result<int64_t>)> cb);
  // Cache entries: values of fo:cache:KEY for each key (nullopt: miss).
  void CacheGet(const std::vector<std::string>& keys,
                std::function<void(Result<std::vector<std::optional<std::string>>>)> cb);
  void CachePut(const std::string& key, const std::string& value, int64_t ttl_ms);
  // Deletes the entries of a task and version (empty: all); returns how many.
  void CacheClear(const std::string& task, const std::string& version,
                  std::function<void(Result<int64_t>)> cb);
  // Checkpoints: the latest saved bytes of a subtask, kept per subtask (not per attempt).
  void PutCheckpoint(std::string_view exec, std::string_view node, uint32_t index,
                     const std::string& bytes);
  // Every checkpoint of a node: index → bytes.
  void LoadCheckpoints(std::string exec, std::string node,
                       std::function<void(Result<std::map<uint32_t, std::string>>)> cb);
  // Deletes every checkpoint of an execution.
  void DeleteCheckpoints(std::string exec);
  // Logs: what one attempt printed (fo:{E}:n:NODE:log:I:A), kept for ttl_s seconds.
  void PutLog(std::string_view exec, std::string_view node, uint32_t index, uint32_t attempt,
              const std::string& log, int64_t ttl_s);
  void GetLog(std::string_view exec, std::string_view node, uint32_t index, uint32_t attempt,
              std::function<void(Result<std::optional<std::string>>)> cb);
  // One subtask's packed record, read from the node's bitfield (all zero when absent).
  void LoadRecord(std::string_view exec, std::string_view node, uint32_t index,
                  std::function<void(Result<keys::SubtaskRecord>)> cb);

 private:
  void LoadOutputsChunk(std::string exec, std::string node, uint32_t from, uint32_t n,
                        std::function<void(uint32_t, std::optional<std::string_view>)> on_item,
                        std::function<void(Status)> done);

  // SCAN MATCH pattern; calls on_keys per batch, then done.
  void Scan(std::string pattern, std::string cursor,
            std::function<void(std::vector<std::string>)> on_keys, std::function<void(Status)> done);
  static void ApplyReply(Result<RedisReply> r, size_t n, const ApplyCallback& cb);

  RedisClient& redis_;
  int64_t epoch_ = 0;
  std::string script_sha_;
};

}  // namespace fanout
