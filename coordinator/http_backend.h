// HttpBackend: what the HTTP threads (http_server.h) may ask of the coordinator, and the one
// place where their requests cross into the loop thread.
//
// The coordinator's state belongs to its single-threaded libuv loop (DESIGN §1: no locks
// around core state), so the HTTP threads never touch a room. They get:
// - Snapshot(): an immutable HttpSnapshot (readiness, the Prometheus text) shared by every
//   request; the loop builds a new one when a request finds the current one older than
//   max_age, so nothing is built while nobody looks and concurrent requests share one build;
// - Ask(): a query run on the loop (woken through a uv_async), answered asynchronously with
//   the same documents as the CLI's `-o json` (they go through ClientApi), or with a subtask
//   grid or subtask detail read from memory for live executions and from the store for ended
//   ones. Per-node grids are cached for kGridReuseMs, so many viewers of a 1M-subtask node cost
//   the loop one encoding per interval.
#pragma once

#include <uv.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/status_doc.h"
#include "common/uv_handle.h"
#include "common/wire.h"

namespace fanout {

class CoordinatorCore;

struct HttpSnapshot {
  std::chrono::steady_clock::time_point taken;
  bool ready = false;  // executions loaded, sockets bound
  bool redis = false;
  std::string metrics;  // Prometheus text
};

struct HttpQuery {
  enum Kind : uint8_t { kList, kStatus, kOutputs, kWorkers, kLogs, kSubtasks, kSubtask };
  Kind kind = kList;
  std::string exec;
  std::string node;
  uint32_t index = 0;
  int64_t attempt = -1;  // kLogs: -1 for the latest
  // kSubtasks: the window [offset, offset+limit) of the grid; `phase` set: the indices in
  // that phase instead (at most limit).
  uint64_t offset = 0;
  uint64_t limit = UINT64_MAX;
  std::optional<SubtaskPhase> phase;
};

struct HttpAnswer {
  int status = 200;
  std::string body;  // JSON
};

// Thread-safe: called from the HTTP threads.
class HttpBackendInterface {
 public:
  virtual ~HttpBackendInterface() = default;
  // A snapshot at most max_age old, if the loop makes one within `wait`; else the latest.
  virtual std::shared_ptr<const HttpSnapshot> Snapshot(std::chrono::milliseconds max_age,
                                                       std::chrono::milliseconds wait) = 0;
  // Runs q on the loop; `done` runs exactly once, on the loop thread (or at once with a 503
  // when the backend is shutting down).
  virtual void Ask(HttpQuery q, std::function<void(HttpAnswer)> done) = 0;
};

class HttpBackend final : public HttpBackendInterface {
 public:
  static constexpr int64_t kGridReuseMs = 500;

  // Loop thread. `core` must outlive this object.
  HttpBackend(uv_loop_t* loop, CoordinatorCore& core);
  ~HttpBackend() override;  // Close()s
  // Loop thread: answers every query queued or under way with a 503 and every later one at
  // once, and wakes threads waiting for a snapshot, so that the HTTP server can stop promptly.
  void Close();
  HttpBackend(const HttpBackend&) = delete;
  HttpBackend& operator=(const HttpBackend&) = delete;

  std::shared_ptr<const HttpSnapshot> Snapshot(std::chrono::milliseconds max_age,
                                               std::chrono::milliseconds wait) override;
  void Ask(HttpQuery q, std::function<void(HttpAnswer)> done) override;

  // Loop thread: the Outbox sees every message the rooms send; replies to the identities this
  // backend made up are answers to its queries. True when it took the message.
  bool TakeReply(const std::string& identity, wire::Kind kind, const std::string& body);

  // Loop thread: how many snapshots and grids were built (the overhead figures of the bench).
  uint64_t snapshots_built() const { return snapshots_built_; }
  uint64_t grids_built() const { return grids_built_; }

 private:
  struct Pending {
    HttpQuery query;
    std::function<void(HttpAnswer)> done;
  };
  void OnWake();  // loop thread
  void BuildSnapshot();
  void Run(Pending p);
  void ViaClientApi(wire::Kind kind, std::string body, std::function<void(HttpAnswer)> done);
  void Subtasks(const HttpQuery& q, std::function<void(HttpAnswer)> done);
  void Subtask(const HttpQuery& q, std::function<void(HttpAnswer)> done);
  // The node's size from the stored STATUS of an ended execution (and its failed list).
  void StoredNode(const std::string& exec, const std::string& node,
                  std::function<void(Result<NodeStatus>)> done);
  std::shared_ptr<const std::string> CachedGrid(const std::string& key, int64_t now_ms);

  uv_loop_t* loop_;
  CoordinatorCore& core_;
  UvHandle<uv_async_t> wake_;

  std::mutex mu_;  // guards the fields up to the next blank line
  std::condition_variable snapshot_cv_;
  std::shared_ptr<const HttpSnapshot> snapshot_;
  bool snapshot_wanted_ = false;
  std::deque<Pending> queue_;
  bool closed_ = false;

  // Loop thread only.
  uint64_t next_id_ = 1;
  std::unordered_map<std::string, std::function<void(HttpAnswer)>> waiting_;  // identity → done
  struct Grid {
    int64_t built_ms = 0;
    std::shared_ptr<const std::string> phases;
  };
  std::map<std::string, Grid> grids_;  // "exec\0node" → the last encoding
  uint64_t snapshots_built_ = 0;
  uint64_t grids_built_ = 0;
};

// HTTP status for a wire reply code (common/status.h Code).
int HttpStatusFor(Code code);

}  // namespace fanout
