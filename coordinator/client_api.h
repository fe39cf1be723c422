// ClientApi: the client requests of the CLI (DESIGN §3.2, wire kinds 20-29): decodes each,
// asks the room that knows, and answers with one Reply holding a JSON document (the CLI's
// `-o json`; typed in common/status_doc.h where the CLI reads it). Live executions are answered
// from memory, ended ones from the store. Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/wire.h"
#include "coordinator/execution.h"
#include "coordinator/execution_manager.h"
#include "coordinator/outbox.h"
#include "coordinator/store.h"
#include "coordinator/subtask_record.h"
#include "coordinator/worker_registry.h"

namespace fanout {

// Attempts a subtask has started, from its record: a queued, waiting or retrying record holds
// the number of its next attempt; a cached success never ran.
uint32_t AttemptsStarted(const SubtaskRecord& rec);

class ClientApi {
 public:
  struct Health {
    bool ready = false;
    int events_port = 0;            // 0: no event socket
    size_t followed_executions = 0;
    uint64_t dropped_messages = 0;
    int http_port = 0;              // 0: no HTTP
  };
  // Runs `work` where it does not hold the loop (a thread-pool thread), then `done` on the
  // loop. `work` may touch nothing of the coordinator's; `done` may.
  using Offload = std::function<void(std::function<void()> work, std::function<void()> done)>;

  // cluster_starting(): true while workers may still be joining after the coordinator started;
  // a submission then, with no worker connected, is not checked against worker offers.
  // offload: where a submission is parsed; null: at once, on the caller's thread (the core's
  // tests, which run no loop).
  ClientApi(ExecutionTable& execs, ExecutionManager& manager, WorkerRegistry& workers, Store& store,
            Outbox& outbox, std::function<Health()> health, std::function<bool()> cluster_starting,
            Offload offload);

  // `keep`, when given, owns the bytes of `body` (see CoordinatorCore::OnMessage).
  void OnRequest(const std::string& identity, wire::Kind kind, std::string_view body,
                 std::shared_ptr<const void> keep = nullptr);

 private:
  void Reply(const std::string& identity, uint64_t rid, const Status& st, const std::string& json);
  // Decodes a request body of type Req and hands it to `handler`; an undecodable one is answered
  // with the decoding error.
  template <typename Req>
  void Decoded(const std::string& identity, std::string_view body,
               void (ClientApi::*handler)(const std::string&, const Req&)) {
    auto req = wire::DecodeBody<Req>(body);
    if (!req) return Reply(identity, 0, req.error(), "");
    (this->*handler)(identity, *req);
  }
  // The request's body is decoded and parsed off the loop (ParseSubmission), then Admitted on
  // it.
  void Submit(const std::string& identity, std::string_view body, std::shared_ptr<const void> keep);
  void Admitted(const std::string& identity, uint64_t rid, bool wait_for_workers,
                Result<std::unique_ptr<Execution>> e);
  void StatusReply(const std::string& identity, uint64_t rid, const std::string& exec);
  void OutputsReply(const std::string& identity, uint64_t rid, const std::string& exec);
  void List(const std::string& identity, uint64_t rid, bool children);
  void Update(const std::string& identity, const wire::UpdateRequest& req);
  void Recover(const std::string& identity, uint64_t rid, const std::string& exec);
  void AbortExecution(const std::string& identity, uint64_t rid, const std::string& exec);
  void Logs(const std::string& identity, const wire::LogsRequest& req);
  // The log of req's attempt (or the latest) once the subtask's record is known; errors for an
  // index out of range or an attempt that never ran.
  void LogsOf(const std::string& identity, const wire::LogsRequest& req, const SubtaskRecord& rec);
  void CacheClear(const std::string& identity, const wire::CacheClearRequest& req);
  void HealthReply(const std::string& identity, uint64_t rid);

  ExecutionTable& execs_;
  ExecutionManager& manager_;
  WorkerRegistry& workers_;
  Store& store_;
  Outbox& outbox_;
  std::function<Health()> health_;
  std::function<bool()> cluster_starting_;
  Offload offload_;
};

}  // namespace fanout
