#include "coordinator/client_api.h"

#include <fmt/format.h>

#include <memory>

#include "common/codec.h"
#include "common/json.h"
#include "common/status_doc.h"
#include "coordinator/keys.h"
#include "coordinator/signature_check.h"

namespace fanout {

using Json = nlohmann::json;

namespace {

// The node of a stored STATUS document (an ended execution), or why there is none.
Result<NodeStatus> StoredNode(const std::optional<std::string>& status_json, const std::string& exec,
                              const std::string& node) {
  if (!status_json) return Err(Unavailable("execution '" + exec + "' is not loaded yet"));
  auto status = ExecutionStatus::FromJson(Json::parse(*status_json, nullptr, false));
  if (!status) return Err(Internal("stored status of " + exec + ": " + status.error().message()));
  std::string ids;
  for (NodeStatus& n : status->nodes) {
    if (n.id == node) return std::move(n);
    ids += (ids.empty() ? "" : ", ") + n.id;
  }
  return Err(NotFound("execution " + exec + " has no node '" + node + "' (its nodes: " + ids + ")"));
}

Status IndexOutOfRange(uint32_t index, const std::string& node, uint64_t size) {
  if (size == 0) return InvalidArgument(fmt::format("node '{}' has no subtasks", node));
  return InvalidArgument(fmt::format("index {} is out of range: node '{}' has {} subtask(s), 0 to {}", index, node,
                                     size, size - 1));
}

}  // namespace

uint32_t AttemptsStarted(const SubtaskRecord& rec) {
  auto phase = static_cast<SubtaskPhase>(rec.phase);
  if (rec.cached && phase == SubtaskPhase::kSucceeded) return 0;
  switch (phase) {
    case SubtaskPhase::kQueued:
    case SubtaskPhase::kWaitingForCache:
    case SubtaskPhase::kRetrying:
      return rec.attempt;
    default:
      return rec.attempt + 1u;
  }
}

ClientApi::ClientApi(ExecutionTable& execs, ExecutionManager& manager, WorkerRegistry& workers, Store& store,
                     Outbox& outbox, std::function<Health()> health, std::function<bool()> cluster_starting,
                     Offload offload)
    : execs_(execs),
      manager_(manager),
      workers_(workers),
      store_(store),
      outbox_(outbox),
      health_(std::move(health)),
      cluster_starting_(std::move(cluster_starting)),
      offload_(std::move(offload)) {
  if (!offload_) offload_ = [](std::function<void()> work, std::function<void()> done) {
    work();
    done();
  };
}

void ClientApi::Reply(const std::string& identity, uint64_t rid, const Status& st,
                      const std::string& json) {
  wire::Reply r;
  r.rid = rid;
  r.code = static_cast<uint8_t>(st.code());
  r.error = st.message();
  r.json = json;
  outbox_.Send(identity, wire::Kind::kReply, wire::EncodeBody(r));
}

void ClientApi::OnRequest(const std::string& identity, wire::Kind kind, std::string_view body,
                          std::shared_ptr<const void> keep) {
  switch (kind) {
    case wire::Kind::kSubmit: return Submit(identity, body, std::move(keep));
    case wire::Kind::kLogs: return Decoded(identity, body, &ClientApi::Logs);
    case wire::Kind::kUpdate: return Decoded(identity, body, &ClientApi::Update);
    case wire::Kind::kCacheClear: return Decoded(identity, body, &ClientApi::CacheClear);
    default:
      break;
  }
  auto req = wire::DecodeBody<wire::QueryRequest>(body);
  if (!req) return Reply(identity, 0, req.error(), "");
  switch (kind) {
    case wire::Kind::kHealth: return HealthReply(identity, req->rid);
    case wire::Kind::kWorkers: return Reply(identity, req->rid, Status::Ok(), workers_.ToJson().dump());
    case wire::Kind::kStatus: return StatusReply(identity, req->rid, req->exec);
    case wire::Kind::kOutputs: return OutputsReply(identity, req->rid, req->exec);
    case wire::Kind::kList: return List(identity, req->rid, req->children);
    case wire::Kind::kRecover: return Recover(identity, req->rid, req->exec);
    case wire::Kind::kAbortExec: return AbortExecution(identity, req->rid, req->exec);
    default: return Reply(identity, req->rid, InvalidArgument("unsupported request"), "");
  }
}

void ClientApi::Submit(const std::string& identity, std::string_view body, std::shared_ptr<const void> keep) {
  // Decoding, parsing, resolving and encoding a 1M-element input takes a second or more: it
  // runs off the loop, so that workers and other clients are served meanwhile.
  struct Parsed {
    uint64_t rid = 0;  // 0 until the body is decoded (an undecodable one is answered so)
    bool wait_for_workers = false;
    Result<std::unique_ptr<Execution>> e = std::unexpected(Internal("not parsed"));
  };
  auto parsed = std::make_shared<Parsed>();
  if (!keep) {  // nobody owns the bytes beyond this call: a copy does
    auto copy = std::make_shared<const std::string>(body);
    body = *copy;
    keep = std::move(copy);
  }
  offload_(
      [parsed, body, keep = std::move(keep), limits = manager_.limits()] {
        auto req = wire::DecodeBody<wire::SubmitRequest>(body);
        if (!req) {
          parsed->e = std::unexpected(req.error());
          return;
        }
        parsed->rid = req->rid;
        parsed->wait_for_workers = req->wait_for_workers;
        parsed->e = ParseSubmission(*req, limits);
      },
      [this, parsed, identity] {
        Admitted(identity, parsed->rid, parsed->wait_for_workers, std::move(parsed->e));
      });
}

void ClientApi::Admitted(const std::string& identity, uint64_t rid, bool wait_for_workers,
                         Result<std::unique_ptr<Execution>> e) {
  if (!e) return Reply(identity, rid, e.error(), "");
  if (Status st = manager_.Admit(**e); !st.ok()) return Reply(identity, rid, st, "");
  // DESIGN §3.3: the spec's functions against what the connected workers offer.
  std::vector<WorkerOffer> offers;
  for (const WorkerView& v : workers_.Views()) {
    const Worker* w = workers_.Get(v.no);
    if (w == nullptr) continue;
    WorkerOffer offer{w->hello.worker_id, w->hello.functions, {}, w->draining};
    for (const wire::FunctionInfo& f : w->hello.function_info)
      if (auto sig = ParseSignature(f.signature)) offer.signatures.emplace(f.name, std::move(*sig));
    offers.push_back(std::move(offer));
  }
  if (Status st = CheckFunctions(*(*e)->spec, *(*e)->wf, offers,
                                 SignatureCheckOptions{wait_for_workers, cluster_starting_()});
      !st.ok())
    return Reply(identity, rid, st, "");
  manager_.Accept(std::move(*e), [this, identity, rid](Status st, const Execution* e) {
    if (!st.ok()) return Reply(identity, rid, st, "");
    Json j{{"execution", e->id}};
    if (!e->recovered_from.empty()) j["recovered_from"] = e->recovered_from;
    Reply(identity, rid, Status::Ok(), j.dump());
  });
}

void ClientApi::HealthReply(const std::string& identity, uint64_t rid) {
  Health h = health_();
  Json j{{"ok", h.ready && store_.connected()},
         {"redis", store_.connected()},
         {"epoch", store_.epoch()},
         {"workers", workers_.size()},
         {"executions", execs_.size()},
         {"followed_executions", h.followed_executions},
         {"dropped_messages", h.dropped_messages}};
  if (h.http_port > 0) j["http_port"] = h.http_port;
  Reply(identity, rid, Status::Ok(), j.dump());
}

void ClientApi::StatusReply(const std::string& identity, uint64_t rid, const std::string& exec) {
  if (Execution* e = execs_.Find(exec)) {
    ExecutionStatus s = BuildStatus(*e);
    // Where to follow it: the event socket's port, on the host the client reached us at.
    if (!IsTerminal(e->phase)) s.events_port = health_().events_port;
    return Reply(identity, rid, Status::Ok(), s.ToJson().dump());
  }
  store_.GetExecFields(exec, {keys::kFieldStatus, keys::kFieldPhase}, [this, identity, rid, exec](auto r) {
    if (!r) return Reply(identity, rid, r.error(), "");
    if (!(*r)[1]) return Reply(identity, rid, NotFound("no execution '" + exec + "'"), "");
    if (!(*r)[0]) return Reply(identity, rid, Unavailable("execution '" + exec + "' is not loaded yet"), "");
    Reply(identity, rid, Status::Ok(), *(*r)[0]);
  });
}

void ClientApi::OutputsReply(const std::string& identity, uint64_t rid, const std::string& exec) {
  // The failed subtasks come with the outputs: a success with tolerated failures has nulls
  // in its outputs, and this says which and why.
  auto reply = [this, identity, rid](ExecutionOutputs o, const std::optional<std::string>& msgpack,
                                     const std::optional<ExecutionStatus>& status) {
    if (msgpack) {
      if (auto v = DecodeMsgpack(*msgpack)) {
        o.has_outputs = true;
        o.outputs = ToJson(*v);
      }
    }
    if (status) o.AddFailures(*status);
    Reply(identity, rid, Status::Ok(), o.ToJson().dump());
  };
  if (Execution* e = execs_.Find(exec)) {
    // Between the end of an execution and its removal from memory the outputs are here.
    auto out = e->values.find("$outputs");
    return reply(ExecutionOutputs{exec, e->phase, e->error, false, {}, {}, 0},
                 out == e->values.end() ? std::nullopt : std::optional<std::string>(out->second), BuildStatus(*e));
  }
  store_.GetExecFields(exec, {keys::kFieldPhase, keys::kFieldOutputs, keys::kFieldError, keys::kFieldStatus},
                       [this, identity, rid, exec, reply](auto r) {
                         if (!r) return Reply(identity, rid, r.error(), "");
                         if (!(*r)[0]) return Reply(identity, rid, NotFound("no execution '" + exec + "'"), "");
                         auto phase = ParseExecPhase(*(*r)[0]);
                         if (!phase) return Reply(identity, rid, Internal("stored phase is unknown"), "");
                         std::optional<ExecutionStatus> status;
                         if ((*r)[3]) {
                           if (auto s = ExecutionStatus::FromJson(Json::parse(*(*r)[3], nullptr, false))) status = *s;
                         }
                         reply(ExecutionOutputs{exec, *phase, (*r)[2].value_or(""), false, {}, {}, 0}, (*r)[1], status);
                       });
}

void ClientApi::List(const std::string& identity, uint64_t rid, bool children) {
  store_.RecentExecutions(50, children, [this, identity, rid](Result<std::vector<std::string>> ids) {
    if (!ids) return Reply(identity, rid, ids.error(), "");
    if (ids->empty()) return Reply(identity, rid, Status::Ok(), R"({"executions":[]})");
    auto arr = std::make_shared<Json>(Json::array());
    auto remaining = std::make_shared<size_t>(ids->size());
    for (size_t i = 0; i < ids->size(); ++i) arr->push_back(nullptr);
    for (size_t i = 0; i < ids->size(); ++i) {
      std::string id = (*ids)[i];
      store_.GetExecFields(id, {keys::kFieldWorkflow, keys::kFieldPhase, keys::kFieldCreated, keys::kFieldEnded,
                                keys::kFieldParent},
                           [this, identity, rid, arr, remaining, i, id](auto r) {
                             if (r) {
                               auto num = [](const std::optional<std::string>& s) {
                                 return s ? std::atoll(s->c_str()) : 0LL;
                               };
                               (*arr)[i] = {{"execution", id},
                                            {"workflow", (*r)[0].value_or("")},
                                            {"phase", (*r)[1].value_or("")},
                                            {"created_ms", num((*r)[2])},
                                            {"ended_ms", num((*r)[3])}};
                               if ((*r)[4]) (*arr)[i]["parent"] = *(*r)[4];
                             }
                             if (--*remaining == 0)
                               Reply(identity, rid, Status::Ok(), Json{{"executions", *arr}}.dump());
                           });
    }
  });
}

void ClientApi::Recover(const std::string& identity, uint64_t rid, const std::string& exec) {
  store_.GetAllExecFields(exec, [this, identity, rid, exec](Result<std::map<std::string, std::string>> f) {
    if (!f) return Reply(identity, rid, f.error(), "");
    if (f->empty()) return Reply(identity, rid, NotFound("no execution '" + exec + "'"), "");
    auto e = manager_.PrepareRecovery(exec, *f);
    if (!e) return Reply(identity, rid, e.error(), "");
    manager_.Accept(std::move(*e), [this, identity, rid](Status st, const Execution* e) {
      if (!st.ok()) return Reply(identity, rid, st, "");
      Reply(identity, rid, Status::Ok(), Json{{"execution", e->id}, {"recovered_from", e->recovered_from}}.dump());
    });
  });
}

void ClientApi::AbortExecution(const std::string& identity, uint64_t rid, const std::string& exec) {
  if (Execution* e = execs_.Find(exec); e != nullptr && !IsTerminal(e->phase)) {
    manager_.Abort(*e, "aborted by the user");
    return Reply(identity, rid, Status::Ok(),
                 Json{{"execution", exec}, {"phase", "ABORTED"}, {"aborted", true}, {"already_ended", false}}.dump());
  }
  // Already ended (or not in memory): nothing to abort. The document says so; the CLI exits
  // with a code of its own for it.
  store_.GetExecFields(exec, {keys::kFieldPhase}, [this, identity, rid, exec](auto r) {
    if (!r) return Reply(identity, rid, r.error(), "");
    if (!(*r)[0]) return Reply(identity, rid, NotFound("no execution '" + exec + "'"), "");
    Reply(identity, rid, Status::Ok(),
          Json{{"execution", exec}, {"phase", *(*r)[0]}, {"aborted", false}, {"already_ended", true}}.dump());
  });
}

void ClientApi::Logs(const std::string& identity, const wire::LogsRequest& req) {
  // The node, the index and the attempt are checked against the subtask's record: from memory
  // while the execution runs, else from the store (its STATUS for the node and its size).
  if (Execution* e = execs_.Find(req.exec)) {
    NodeRun* node = e->FindNode(req.node);
    if (node == nullptr) {
      std::string ids;
      for (const NodeRun& n : e->nodes) ids += (ids.empty() ? "" : ", ") + n.id();
      return Reply(identity, req.rid,
                   NotFound("execution " + req.exec + " has no node '" + req.node + "' (its nodes: " + ids + ")"), "");
    }
    if (!node->array)
      return Reply(identity, req.rid, InvalidArgument("node '" + req.node + "' has not started: no subtask has run"),
                   "");
    if (req.index >= node->array->size())
      return Reply(identity, req.rid, IndexOutOfRange(req.index, req.node, node->array->size()), "");
    return LogsOf(identity, req, node->array->Record(req.index));
  }
  store_.GetExecFields(req.exec, {keys::kFieldPhase, keys::kFieldStatus}, [this, identity, req](auto r) {
    if (!r) return Reply(identity, req.rid, r.error(), "");
    if (!(*r)[0]) return Reply(identity, req.rid, NotFound("no execution '" + req.exec + "'"), "");
    auto node = StoredNode((*r)[1], req.exec, req.node);
    if (!node) return Reply(identity, req.rid, node.error(), "");
    if (req.index >= node->size) return Reply(identity, req.rid, IndexOutOfRange(req.index, req.node, node->size), "");
    store_.LoadRecord(req.exec, req.node, req.index, [this, identity, req](Result<SubtaskRecord> rec) {
      if (!rec) return Reply(identity, req.rid, rec.error(), "");
      LogsOf(identity, req, *rec);
    });
  });
}

void ClientApi::LogsOf(const std::string& identity, const wire::LogsRequest& req, const SubtaskRecord& rec) {
  uint32_t started = AttemptsStarted(rec);
  auto phase = static_cast<SubtaskPhase>(rec.phase);
  std::string where = fmt::format("{}[{}]", req.node, req.index);
  if (req.attempt >= 0 && static_cast<uint32_t>(req.attempt) >= started) {
    std::string why = started == 0 ? (rec.cached ? "it completed from the cache without running"
                                                 : "it has not run yet (" + std::string(SubtaskPhaseName(phase)) + ")")
                                   : fmt::format("its attempts are 0 to {}", started - 1);
    return Reply(identity, req.rid, InvalidArgument(fmt::format("attempt {} of {} never ran: {}", req.attempt, where, why)),
                 "");
  }
  // Default: the subtask's current attempt (it may still be running: then it has no log yet).
  uint32_t attempt = req.attempt >= 0 ? static_cast<uint32_t>(req.attempt) : rec.attempt;
  store_.GetLog(req.exec, req.node, req.index, attempt,
                [this, identity, req, attempt, started, phase](Result<std::optional<std::string>> log) {
                  if (!log) return Reply(identity, req.rid, log.error(), "");
                  Json j{{"execution", req.exec}, {"node", req.node},       {"index", req.index},
                         {"attempt", attempt},    {"found", log->has_value()}, {"log", log->value_or("")},
                         {"phase", SubtaskPhaseName(phase)}, {"attempts", started}};
                  Reply(identity, req.rid, Status::Ok(), j.dump());
                });
}

void ClientApi::Update(const std::string& identity, const wire::UpdateRequest& req) {
  Execution* e = execs_.Find(req.exec);
  if (e == nullptr || IsTerminal(e->phase))
    return Reply(identity, req.rid, NotFound("no running execution '" + req.exec + "'"), "");
  NodeRun* node = e->FindNode(req.node);
  if (node == nullptr) return Reply(identity, req.rid, NotFound("execution " + req.exec + " has no node '" + req.node + "'"), "");
  NodeOverride change;
  if (req.concurrency >= 0) change.concurrency = static_cast<uint32_t>(std::min<int64_t>(req.concurrency, UINT32_MAX));
  if (req.min_successes >= 0 && req.min_success_ratio >= 0)
    return Reply(identity, req.rid, InvalidArgument("give either a min_success_ratio or min_successes, not both"), "");
  if (req.min_successes >= 0) change.min_successes = req.min_successes;
  if (req.min_success_ratio >= 0) {
    if (req.min_success_ratio > 1)
      return Reply(identity, req.rid, InvalidArgument("min_success_ratio must be in [0, 1]"), "");
    if (!node->array) return Reply(identity, req.rid, FailedPrecondition("node '" + req.node + "' has not started"), "");
    NodeDef as_ratio = *node->def;
    as_ratio.min_successes.reset();
    as_ratio.min_success_ratio = req.min_success_ratio;
    change.min_successes = MinSuccesses(as_ratio, node->array->size());
  }
  if (!change.concurrency && !change.min_successes)
    return Reply(identity, req.rid, InvalidArgument("nothing to update: give a concurrency or a success criterion"), "");
  // Answered once the change is durable: an update lost with the Redis connection would not
  // survive a restart, and the user is told to give it again.
  auto answer = std::make_shared<std::string>();
  Status st = manager_.Update(*e, req.node, change, [this, identity, rid = req.rid, answer](Status stored) {
    if (!stored.ok())
      return Reply(identity, rid,
                   Unavailable("the update is in effect but was not stored, so a restart would undo it (" +
                               stored.message() + "): give it again"),
                   "");
    Reply(identity, rid, Status::Ok(), *answer);
  });
  if (!st.ok()) return Reply(identity, req.rid, st, "");
  Json j{{"execution", req.exec}, {"node", req.node}};
  if (node->array) {
    j["concurrency"] = node->array->concurrency();
    j["min_successes"] = node->array->min_successes();
    j["phase"] = NodePhaseName(node->array->phase());
  }
  *answer = j.dump();  // the store's reply comes later, never inside the call
}

void ClientApi::CacheClear(const std::string& identity, const wire::CacheClearRequest& req) {
  store_.CacheClear(req.task, req.version, [this, identity, rid = req.rid](Result<int64_t> n) {
    if (!n) return Reply(identity, rid, n.error(), "");
    Reply(identity, rid, Status::Ok(), Json{{"deleted", *n}}.dump());
  });
}

}  // namespace fanout
