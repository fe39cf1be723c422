#include "coordinator/client_api.h"

#include <fmt/format.h>

#include <memory>

#include "common/codec.h"
#include "common/json.h"
#include "common/status_doc.h"
#include "coordinator/keys.h"

namespace fanout {

using Json = nlohmann::json;

ClientApi::ClientApi(ExecutionTable& execs, ExecutionManager& manager, WorkerRegistry& workers, Store& store,
                     Outbox& outbox, std::function<Health()> health)
    : execs_(execs),
      manager_(manager),
      workers_(workers),
      store_(store),
      outbox_(outbox),
      health_(std::move(health)) {}

void ClientApi::Reply(const std::string& identity, uint64_t rid, const Status& st,
                      const std::string& json) {
  wire::Reply r;
  r.rid = rid;
  r.code = static_cast<uint8_t>(st.code());
  r.error = st.message();
  r.json = json;
  outbox_.Send(identity, wire::Kind::kReply, wire::EncodeBody(r));
}

void ClientApi::OnRequest(const std::string& identity, wire::Kind kind, std::string_view body) {
  switch (kind) {
    case wire::Kind::kSubmit: {
      auto req = wire::DecodeBody<wire::SubmitRequest>(body);
      if (!req) return Reply(identity, 0, req.error(), "");
      return Submit(identity, *req);
    }
    case wire::Kind::kLogs: {
      auto req = wire::DecodeBody<wire::LogsRequest>(body);
      if (!req) return Reply(identity, 0, req.error(), "");
      return Logs(identity, *req);
    }
    case wire::Kind::kUpdate: {
      auto req = wire::DecodeBody<wire::UpdateRequest>(body);
      if (!req) return Reply(identity, 0, req.error(), "");
      return Update(identity, *req);
    }
    case wire::Kind::kCacheClear: {
      auto req = wire::DecodeBody<wire::CacheClearRequest>(body);
      if (!req) return Reply(identity, 0, req.error(), "");
      return CacheClear(identity, *req);
    }
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

void ClientApi::Submit(const std::string& identity, const wire::SubmitRequest& req) {
  auto e = manager_.Prepare(req);
  if (!e) return Reply(identity, req.rid, e.error(), "");
  manager_.Accept(std::move(*e), [this, identity, rid = req.rid](Status st, const Execution* e) {
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
  auto reply = [this, identity, rid](ExecutionOutputs o, const std::optional<std::string>& msgpack) {
    if (msgpack) {
      if (auto v = DecodeMsgpack(*msgpack)) {
        o.has_outputs = true;
        o.outputs = ToJson(*v);
      }
    }
    Reply(identity, rid, Status::Ok(), o.ToJson().dump());
  };
  if (Execution* e = execs_.Find(exec)) {
    // Between the end of an execution and its removal from memory the outputs are here.
    auto out = e->values.find("$outputs");
    return reply(ExecutionOutputs{exec, e->phase, e->error, false, {}},
                 out == e->values.end() ? std::nullopt : std::optional<std::string>(out->second));
  }
  store_.GetExecFields(exec, {keys::kFieldPhase, keys::kFieldOutputs, keys::kFieldError},
                       [this, identity, rid, exec, reply](auto r) {
                         if (!r) return Reply(identity, rid, r.error(), "");
                         if (!(*r)[0]) return Reply(identity, rid, NotFound("no execution '" + exec + "'"), "");
                         auto phase = ParseExecPhase(*(*r)[0]);
                         if (!phase) return Reply(identity, rid, Internal("stored phase is unknown"), "");
                         reply(ExecutionOutputs{exec, *phase, (*r)[2].value_or(""), false, {}}, (*r)[1]);
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
    return Reply(identity, rid, Status::Ok(), Json{{"execution", exec}, {"phase", "ABORTED"}}.dump());
  }
  store_.GetExecFields(exec, {keys::kFieldPhase}, [this, identity, rid, exec](auto r) {
    if (!r) return Reply(identity, rid, r.error(), "");
    if (!(*r)[0]) return Reply(identity, rid, NotFound("no execution '" + exec + "'"), "");
    Reply(identity, rid, Status::Ok(), Json{{"execution", exec}, {"phase", *(*r)[0]}}.dump());
  });
}

void ClientApi::Logs(const std::string& identity, const wire::LogsRequest& req) {
  auto fetch = [this, identity, req](uint32_t attempt) {
    store_.GetLog(req.exec, req.node, req.index, attempt,
                  [this, identity, req, attempt](Result<std::optional<std::string>> log) {
                    if (!log) return Reply(identity, req.rid, log.error(), "");
                    Json j{{"execution", req.exec}, {"node", req.node}, {"index", req.index},
                           {"attempt", attempt}, {"found", log->has_value()}, {"log", log->value_or("")}};
                    Reply(identity, req.rid, Status::Ok(), j.dump());
                  });
  };
  if (req.attempt >= 0) return fetch(static_cast<uint32_t>(req.attempt));
  // The latest attempt: from memory while the execution runs, else from its records.
  if (Execution* e = execs_.Find(req.exec)) {
    NodeRun* node = e->FindNode(req.node);
    if (node == nullptr)
      return Reply(identity, req.rid, NotFound("execution " + req.exec + " has no node '" + req.node + "'"), "");
    if (!node->array) return Reply(identity, req.rid, NotFound("node '" + req.node + "' has not started"), "");
    if (req.index >= node->array->size())
      return Reply(identity, req.rid,
                   InvalidArgument(fmt::format("index {} is out of range: node '{}' has {} subtask(s)", req.index,
                                               req.node, node->array->size())),
                   "");
    return fetch(node->array->Record(req.index).attempt);
  }
  store_.GetExecFields(req.exec, {keys::kFieldPhase}, [this, identity, req, fetch](auto r) {
    if (!r) return Reply(identity, req.rid, r.error(), "");
    if (!(*r)[0]) return Reply(identity, req.rid, NotFound("no execution '" + req.exec + "'"), "");
    store_.LoadRecord(req.exec, req.node, req.index, [this, identity, req, fetch](Result<SubtaskRecord> rec) {
      if (!rec) return Reply(identity, req.rid, rec.error(), "");
      fetch(rec->attempt);
    });
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
  Status st = manager_.Update(*e, req.node, change);
  if (!st.ok()) return Reply(identity, req.rid, st, "");
  Json j{{"execution", req.exec}, {"node", req.node}};
  if (node->array) {
    j["concurrency"] = node->array->concurrency();
    j["min_successes"] = node->array->min_successes();
    j["phase"] = NodePhaseName(node->array->phase());
  }
  Reply(identity, req.rid, Status::Ok(), j.dump());
}

void ClientApi::CacheClear(const std::string& identity, const wire::CacheClearRequest& req) {
  store_.CacheClear(req.task, req.version, [this, identity, rid = req.rid](Result<int64_t> n) {
    if (!n) return Reply(identity, rid, n.error(), "");
    Reply(identity, rid, Status::Ok(), Json{{"deleted", *n}}.dump());
  });
}

}  // namespace fanout
