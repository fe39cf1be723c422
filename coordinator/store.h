// Store: everything the coordinator keeps that must survive a crash (DESIGN §6), behind one
// interface. RedisStore (redis_store.h) is the real one and the only code that knows Redis:
// its keys, its scripts, its commands. FakeStore (fake_store.h) holds the same state in memory
// for unit tests of the rooms that use a Store; tests/integration/store_contract_test.cc runs
// one suite of behaviours against both, so the fake cannot drift from the real thing.
//
// Contract for every method:
// - Asynchronous: the callback runs later on the loop thread, exactly once (never inside the
//   call), also on failure. Callbacks may be null where the signature says "optional".
// - While the store is unreachable, calls fail with kUnavailable; the store reconnects by
//   itself and reports state changes through the on_state callback given to Start.
// - Writes are applied in the order they were issued.
// - Commit is fenced: once another coordinator has taken a newer epoch, it fails with
//   kFailedPrecondition and writes nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "coordinator/subtask_record.h"

namespace fanout {

// One write to one subtask's record, in a Commit.
struct CommitOp {
  enum Kind : char {
    kRecord = 'r',  // set the record unless it is terminal (dispatch, abort, re-queue)
    kOutput = 'o',  // if `attempt` is current and the subtask not terminal: output, then record
    kError = 'e',   // if `attempt` is current and the subtask not terminal: error, then record
  };
  Kind kind = kRecord;
  uint32_t index = 0;
  uint32_t attempt = 0;
  uint16_t record = 0;   // PackRecord of the new state
  std::string payload;   // kOutput: msgpack outputs; kError: the message
};

// What a Commit did with one op.
enum class CommitResult : uint8_t {
  kRefused = 0,         // stale attempt, terminal subtask, or (output) another output present
  kApplied = 1,
  // The stored record is already exactly `record`: this op (or one identical to it) was applied
  // before, e.g. by a commit whose reply was lost with its connection. The write is durable.
  kAlreadyApplied = 2,
};

using Fields = std::vector<std::pair<std::string, std::string>>;

// An active (non-terminal) execution as stored: its hash fields (keys.h kField*).
struct StoredExecution {
  std::string id;
  std::map<std::string, std::string> fields;
};

// A stored hash field by name, "" when absent.
inline std::string FieldOf(const std::map<std::string, std::string>& fields, const char* name) {
  auto it = fields.find(name);
  return it == fields.end() ? std::string() : it->second;
}

class Store {
 public:
  template <typename T>
  using Callback = std::function<void(Result<T>)>;
  using Done = std::function<void(Status)>;
  using OnState = std::function<void(bool connected)>;

  virtual ~Store() = default;

  // Starts connecting; on_state(true) once the store answers (and after every reconnect),
  // on_state(false) when the connection is lost.
  virtual void Start(OnState on_state) = 0;
  virtual bool connected() const = 0;

  // --- Fencing ---
  // Takes a new epoch (the previous one + 1); every later Commit is fenced by it.
  virtual void TakeEpoch(Callback<int64_t> cb) = 0;
  virtual int64_t epoch() const = 0;

  // --- Executions ---
  // Stores a new execution's fields, lists it (newest first) and marks it active.
  virtual void CreateExecution(std::string_view exec, int64_t created_ms, Fields fields,
                               Done cb) = 0;
  // A child execution, created at most once: when one with this id exists already (a
  // restarted parent starting it again), nothing is written and cb gets its fields.
  // Otherwise it is stored, listed among children and marked active; cb gets nullopt.
  virtual void CreateChildExecution(std::string_view exec, int64_t created_ms, const Fields& fields,
                                    Callback<std::optional<std::map<std::string, std::string>>> cb) = 0;
  virtual void SetExecFields(std::string_view exec, const Fields& fields, Done cb /*optional*/) = 0;
  // Sets fields and removes the execution from the active set (after its subtask writes).
  virtual void FinishExecution(std::string_view exec, const Fields& fields, Done cb /*optional*/) = 0;
  // The named fields (nullopt: absent; all absent: no such execution).
  virtual void GetExecFields(std::string_view exec, const std::vector<std::string>& names,
                             Callback<std::vector<std::optional<std::string>>> cb) = 0;
  // Every field (empty: no such execution).
  virtual void GetAllExecFields(std::string_view exec,
                                Callback<std::map<std::string, std::string>> cb) = 0;
  // The restart snapshot: every active execution with all its fields, read once.
  virtual void LoadActive(Callback<std::vector<StoredExecution>> cb) = 0;
  // Top-level execution ids (with children: child executions too), newest first.
  virtual void RecentExecutions(int limit, bool children, Callback<std::vector<std::string>> cb) = 0;

  // --- Subtask records and results ---
  // Applies ops to one node atomically, in order; one result per op.
  virtual void Commit(std::string_view exec, std::string_view node, const std::vector<CommitOp>& ops,
                      Callback<std::vector<CommitResult>> cb) = 0;
  // The records of indices [0, n): index i is PackRecord of its state, 0 when never written.
  virtual void LoadRecords(std::string_view exec, std::string_view node, uint32_t n,
                           Callback<std::vector<uint16_t>> cb) = 0;
  virtual void LoadRecord(std::string_view exec, std::string_view node, uint32_t index,
                          Callback<SubtaskRecord> cb) = 0;
  // Outputs of indices [0, n) in index order through on_item (nullopt: no output), then done.
  // The view is valid during the call only.
  virtual void LoadOutputs(std::string_view exec, std::string_view node, uint32_t n,
                           std::function<void(uint32_t, std::optional<std::string_view>)> on_item,
                           Done done) = 0;
  // `fanout recover`: copies into dst every subtask of `node` that succeeded in src (output and
  // a SUCCEEDED record) unless the node's stored sizes differ; returns how many. Fenced.
  virtual void CopySucceeded(std::string_view src, std::string_view dst, std::string_view node,
                             uint32_t n, Callback<int64_t> cb) = 0;

  // --- Restart grace: when a restarted coordinator first saw a RUNNING subtask unclaimed ---
  virtual void LoadUnclaimed(std::string_view exec, std::string_view node,
                             Callback<std::map<uint32_t, int64_t>> cb) = 0;
  virtual void MarkUnclaimed(std::string_view exec, std::string_view node,
                             const std::vector<std::pair<uint32_t, int64_t>>& first_seen_wall_ms) = 0;
  virtual void ForgetUnclaimed(std::string_view exec, std::string_view node, uint32_t index) = 0;
  virtual void ClearUnclaimed(std::string_view exec, std::string_view node) = 0;

  // --- Cache (keys from coordinator/cache_key.h) ---
  virtual void CacheGet(const std::vector<std::string>& keys,
                        Callback<std::vector<std::optional<std::string>>> cb) = 0;
  // A failed cache write is logged, never an error of the subtask.
  virtual void CachePut(const std::string& key, const std::string& value, int64_t ttl_ms) = 0;
  // Deletes the entries of a task and version (empty: every one); returns how many.
  virtual void CacheClear(const std::string& task, const std::string& version,
                          Callback<int64_t> cb) = 0;
  // Serialization reservations: takes `key` for `owner` for ttl_ms unless somebody holds it.
  virtual void Reserve(const std::string& key, const std::string& owner, int64_t ttl_ms,
                       Callback<bool> cb) = 0;
  virtual void RenewReservation(const std::string& key, int64_t ttl_ms) = 0;
  virtual void ReleaseReservation(const std::string& key) = 0;

  // --- Checkpoints: the latest bytes per subtask ---
  virtual void PutCheckpoint(std::string_view exec, std::string_view node, uint32_t index,
                             const std::string& bytes) = 0;
  virtual void GetCheckpoint(std::string_view exec, std::string_view node, uint32_t index,
                             Callback<std::optional<std::string>> cb) = 0;
  // Indices of the node that have a checkpoint.
  virtual void ListCheckpoints(std::string_view exec, std::string_view node,
                               Callback<std::vector<uint32_t>> cb) = 0;
  virtual void DeleteCheckpoint(std::string_view exec, std::string_view node, uint32_t index) = 0;
  virtual void DeleteCheckpoints(std::string_view exec) = 0;

  // --- Logs: what one attempt printed, kept for ttl_s ---
  virtual void PutLog(std::string_view exec, std::string_view node, uint32_t index,
                      uint32_t attempt, const std::string& log, int64_t ttl_s) = 0;
  virtual void GetLog(std::string_view exec, std::string_view node, uint32_t index,
                      uint32_t attempt, Callback<std::optional<std::string>> cb) = 0;
};

}  // namespace fanout
