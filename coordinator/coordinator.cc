#include "coordinator/coordinator.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <random>

#include "common/codec.h"
#include "common/json.h"
#include "common/keys.h"
#include "coordinator/cache_key.h"

namespace fanout {
namespace {

keys::SubtaskRecord WithPhase(keys::SubtaskRecord r, SubtaskPhase p) {
  r.phase = static_cast<uint8_t>(p);
  return r;
}

FailureKind KindOf(wire::Outcome o) {
  switch (o) {
    case wire::Outcome::kNonRetryable: return FailureKind::kNonRetryable;
    case wire::Outcome::kUserError: return FailureKind::kUser;
    default: return FailureKind::kSystem;
  }
}

}  // namespace

Coordinator::Coordinator(uv_loop_t* loop, CoordinatorConfig config, const Clock& clock)
    : loop_(loop),
      config_(std::move(config)),
      clock_(clock),
      zctx_(1),
      router_(zctx_, zmq::socket_type::router),
      redis_(loop, config_.redis_host, config_.redis_port, config_.redis_password),
      store_(redis_) {
  router_.set(zmq::sockopt::linger, 0);
  router_.set(zmq::sockopt::router_mandatory, 1);
  router_.set(zmq::sockopt::sndhwm, 100000);
  router_.set(zmq::sockopt::rcvhwm, 100000);
  uv_check_init(loop_, flush_check_.get());
  flush_check_->data = this;
  uv_idle_init(loop_, pump_idle_.get());
  pump_idle_->data = this;
  uv_timer_init(loop_, tick_timer_.get());
  tick_timer_->data = this;
  uv_signal_init(loop_, sigterm_.get());
  sigterm_->data = this;
  uv_signal_init(loop_, sigint_.get());
  sigint_->data = this;
}

Coordinator::~Coordinator() = default;

void Coordinator::Start() {
  auto on_signal = [](uv_signal_t* s, int signum) {
    spdlog::info("signal {}: flushing and stopping", signum);
    static_cast<Coordinator*>(s->data)->Stop();
  };
  uv_signal_start(sigterm_.get(), on_signal, SIGTERM);
  uv_signal_start(sigint_.get(), on_signal, SIGINT);
  uv_check_start(flush_check_.get(), [](uv_check_t* c) {
    static_cast<Coordinator*>(c->data)->FlushOps();
  });
  redis_.Start([this](bool connected) { OnRedisState(connected); });
}

void Coordinator::Stop() {
  FlushOps();
  uv_stop(loop_);
}

void Coordinator::OnRedisState(bool connected) {
  if (!connected) {
    spdlog::warn("redis lost: dispatch is on hold until it is back");
    return;
  }
  if (ready_ || loading_) {
    // Results that could not be committed while Redis was away are still held by the
    // workers: ask every worker to say HELLO again, which makes it re-send them.
    for (const auto& [identity, w] : workers_)
      Send(identity, wire::Kind::kReconnect, wire::EncodeBody(wire::Heartbeat{}));
    resend_from_.clear();
    SchedulePump();
    return;
  }
  loading_ = true;
  store_.TakeEpoch([this](Result<int64_t> epoch) {
    if (!epoch) {
      spdlog::error("cannot take an epoch: {}", epoch.error().message());
      loading_ = false;
      return;
    }
    spdlog::info("epoch {}", *epoch);
    LoadActive();
  });
}

void Coordinator::LoadActive() {
  store_.ActiveExecutions([this](Result<std::vector<std::string>> ids) {
    if (!ids) {
      spdlog::error("cannot list active executions: {}", ids.error().message());
      loading_ = false;
      return;
    }
    auto remaining = std::make_shared<size_t>(ids->size());
    auto finish = [this] {
      loading_ = false;
      Bind();
      for (auto& [id, e] : execs_) Advance(id);
    };
    if (ids->empty()) return finish();
    spdlog::info("resuming {} active execution(s)", ids->size());
    for (const std::string& id : *ids) {
      store_.GetAllFields(id, [this, id, remaining, finish](Result<std::map<std::string, std::string>> f) {
        auto done = [remaining, finish] {
          if (--*remaining == 0) finish();
        };
        if (!f) {
          spdlog::error("exec={}: cannot load: {}", id, f.error().message());
          return done();
        }
        RestoreExecution(id, std::move(*f), done);
      });
    }
  });
}

void Coordinator::RestoreExecution(const std::string& id, std::map<std::string, std::string> fields,
                                   std::function<void()> done) {
  auto e = std::make_unique<Execution>();
  e->id = id;
  e->spec_name = fields[keys::kFieldSpecName];
  e->spec_text = fields[keys::kFieldSpecText];
  e->created_ms = std::atoll(fields[keys::kFieldCreated].c_str());
  e->recovered_from = fields[keys::kFieldRecoveredFrom];
  e->overwrite_cache = fields[keys::kFieldOverwriteCache] == "1";
  auto spec = ParseSpec(e->spec_text, e->spec_name);
  auto fail = [&](const std::string& why) {
    spdlog::error("exec={}: cannot resume: {}", id, why);
    store_.FinishExecution(id, {{keys::kFieldPhase, "FAILED"},
                                {keys::kFieldError, "cannot resume after a restart: " + why}});
    done();
  };
  if (!spec) return fail(spec.error().message());
  e->spec = std::make_unique<Spec>(std::move(*spec));
  auto wf = e->spec->FindWorkflow(fields[keys::kFieldWorkflow]);
  if (!wf) return fail(wf.error().message());
  e->wf = *wf;
  auto inputs = DecodeMsgpack(fields[keys::kFieldInputs]);
  if (!inputs || !inputs->is_map()) return fail("stored inputs are unreadable");
  for (const auto& [name, v] : inputs->as_map()) e->values["inputs." + name] = EncodeMsgpack(v);
  // Every node starts PENDING again: Advance restarts them in order, and a node that had
  // finished restores all its subtasks as succeeded and re-reads its outputs from Redis.
  e->InitNodes();
  e->phase = ExecPhase::kRunning;
  execs_.emplace(id, std::move(e));
  done();
}

void Coordinator::Bind() {
  try {
    router_.bind(config_.bind);
  } catch (const zmq::error_t& err) {
    spdlog::error("cannot bind {}: {}", config_.bind, err.what());
    exit_code_ = 2;
    uv_stop(loop_);
    return;
  }
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  watcher_ = std::make_unique<ZmqWatcher>(loop_, router_, [this](std::vector<zmq::message_t>& f) {
    OnMessage(f);
  });
  if (config_.events_bind != "none") {
    events_ = std::make_unique<EventPublisher>(
        loop_, zctx_, [this](const std::string& exec) -> std::optional<std::string> {
          Execution* e = FindExec(exec);
          // An ended execution is published once its end is stored (FinishExecution).
          if (e == nullptr || IsTerminal(e->phase)) return std::nullopt;
          return StatusJson(*e).dump();
        });
    std::string at =
        config_.events_bind.empty() ? DefaultEventsEndpoint(endpoint_) : config_.events_bind;
    if (Status s = events_->Bind(at); !s.ok()) {
      spdlog::error("{}", s.message());
      exit_code_ = 2;
      uv_stop(loop_);
      return;
    }
  }
  uv_timer_start(
      tick_timer_.get(), [](uv_timer_t* t) { static_cast<Coordinator*>(t->data)->OnTick(); },
      static_cast<uint64_t>(config_.heartbeat_ms), static_cast<uint64_t>(config_.heartbeat_ms));
  ready_ = true;
  spdlog::info("listening on {} (epoch {}){}", endpoint_, store_.epoch(),
               events_ ? ", progress events on " + events_->endpoint() : "");
  // Announce readiness to whoever started us (fanout local, tests).
  std::printf("FANOUT_COORDINATOR_LISTENING=%s\n", endpoint_.c_str());
  std::fflush(stdout);
  if (!config_.endpoint_file.empty()) {
    std::ofstream(config_.endpoint_file) << endpoint_ << "\n";
  }
}

// ---------------------------------------------------------------------------------------------
// Socket

void Coordinator::Send(const std::string& identity, wire::Kind kind, const std::string& body) {
  if (!SendFrames(router_, {identity, wire::Header(kind), body})) {
    spdlog::debug("cannot send {} to {}: peer gone or queue full", wire::KindName(kind), identity);
  }
  if (watcher_) watcher_->Poke();
}

void Coordinator::OnMessage(std::vector<zmq::message_t>& frames) {
  if (frames.size() != 3) {
    ++dropped_messages_;
    spdlog::warn("dropped a message of {} frames", frames.size());
    return;
  }
  std::string identity = frames[0].to_string();
  auto kind = wire::ParseHeader(frames[1].to_string_view());
  if (!kind) {
    ++dropped_messages_;
    spdlog::warn("dropped a message: {}", kind.error().message());
    return;
  }
  std::string_view body = frames[2].to_string_view();
  if (wire::IsClientKind(*kind)) return OnClient(identity, *kind, body);

  auto wit = workers_.find(identity);
  if (wit != workers_.end()) wit->second.last_seen_ms = clock_.NowMs();
  switch (*kind) {
    case wire::Kind::kHello: {
      auto hello = wire::DecodeBody<wire::Hello>(body);
      if (!hello) break;
      return OnHello(identity, *hello);
    }
    case wire::Kind::kHeartbeat:
    case wire::Kind::kBye: {
      auto hb = wire::DecodeBody<wire::Heartbeat>(body);
      if (!hb) break;
      if (wit == workers_.end()) {
        Send(identity, wire::Kind::kReconnect, wire::EncodeBody(wire::Heartbeat{}));
        return;
      }
      if (*kind == wire::Kind::kBye) {
        LoseWorker(identity, "worker left");
        return;
      }
      if (hb->draining && !wit->second.draining) {
        spdlog::info("worker {} is draining", wit->second.hello.worker_id);
      }
      wit->second.draining = hb->draining;
      return;
    }
    case wire::Kind::kCheckpoint: {
      auto save = wire::DecodeBody<wire::CheckpointSave>(body);
      if (!save) break;
      Execution* e = FindExec(save->key.exec);
      NodeRun* node = e ? e->FindNode(save->key.node) : nullptr;
      if (node != nullptr)
        SaveCheckpoint(*e, *node, save->key.index, save->key.attempt, std::move(save->checkpoint));
      return;
    }
    case wire::Kind::kResult: {
      auto batch = wire::DecodeBody<wire::ResultBatch>(body);
      if (!batch) {
        spdlog::warn("dropped a RESULT: {}", batch.error().message());
        break;
      }
      if (wit == workers_.end()) {
        // Results from before our start: the worker holds them and re-sends after HELLO.
        Send(identity, wire::Kind::kReconnect, wire::EncodeBody(wire::Heartbeat{}));
        return;
      }
      return OnResults(identity, *batch);
    }
    default:
      break;
  }
  ++dropped_messages_;
  spdlog::warn("dropped an unexpected or malformed {} message", wire::KindName(*kind));
}

void Coordinator::OnHello(const std::string& identity, const wire::Hello& hello) {
  // What the worker still runs or holds results for. Those attempts stay current: a worker
  // that reconnects (new identity, or the same one after RECONNECT) or a coordinator restart
  // costs no finished or running work.
  std::unordered_map<std::string, uint32_t> claimed;
  for (const auto* list : {&hello.running, &hello.held})
    for (const auto& k : *list) claimed[InflightKey(k.exec, k.node, k.index)] = k.attempt;

  // Earlier incarnations of this worker: keep what it claims, fail the rest as system errors.
  std::vector<std::string> old;
  for (auto& [id, w] : workers_)
    if (w.hello.worker_id == hello.worker_id || id == identity) old.push_back(id);
  std::vector<std::pair<std::string, Inflight>> lost;
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    bool from_old = std::find(old.begin(), old.end(), it->second.worker) != old.end();
    if (!from_old) {
      ++it;
      continue;
    }
    auto c = claimed.find(it->first);
    if (c != claimed.end() && c->second == it->second.attempt) {
      it->second.worker = identity;
      ++it;
    } else {
      lost.emplace_back(it->first, it->second);
      it = inflight_.erase(it);
    }
  }
  for (const std::string& id : old) workers_.erase(id);

  Worker w;
  w.identity = identity;
  w.hello = hello;
  w.free = hello.slots;
  w.free_cpu = hello.cpu;
  w.free_mem = hello.mem_bytes;
  w.last_seen_ms = clock_.NowMs();
  workers_[identity] = std::move(w);
  Worker& nw = workers_[identity];

  // Subtasks restored as RUNNING after our own restart, claimed by this worker.
  for (const auto& [key, attempt] : claimed) {
    auto u = unclaimed_.find(key);
    if (u != unclaimed_.end() && u->second.attempt == attempt) {
      inflight_[key] = Inflight{identity, attempt, u->second.cpu, u->second.mem};
      ForgetUnclaimed(key);
    } else if (!inflight_.count(key)) {
      claims_[key] = Claim{identity, attempt, clock_.NowMs()};  // the node may not be restored yet
    }
  }
  for (const auto& [key, inf] : inflight_) {
    if (inf.worker != identity) continue;
    nw.inflight++;
    nw.free = nw.free > 0 ? nw.free - 1 : 0;
    nw.free_cpu -= inf.cpu;
    nw.free_mem -= inf.mem;
  }
  spdlog::info("worker {} ({} slots, {} functions) joined; it claims {} attempt(s)", hello.worker_id,
               hello.slots, hello.functions.size(), nw.inflight);
  Send(identity, wire::Kind::kWelcome,
       wire::EncodeBody(wire::Welcome{store_.epoch(), config_.heartbeat_ms}));
  FailLost(lost, hello.worker_id, "reconnected without it");
  SchedulePump();
}

void Coordinator::FailLost(const std::vector<std::pair<std::string, Inflight>>& lost,
                           const std::string& worker_id, const std::string& why) {
  for (const auto& [key, inf] : lost) {
    SubtaskRef r = ParseInflightKey(key);
    FailSystem(r.exec, r.node, r.index, inf.attempt, "worker " + worker_id + " " + why);
  }
}

void Coordinator::FailSystem(const std::string& exec, const std::string& node_id, uint32_t index,
                             uint32_t attempt, const std::string& msg) {
  Execution* e = FindExec(exec);
  NodeRun* node = e ? e->FindNode(node_id) : nullptr;
  if (node == nullptr || !node->array) return;
  if (node->array->OnFailed(index, attempt, FailureKind::kSystem, msg)) {
    spdlog::warn("exec={} node={} index={} attempt={}: system error: {}", exec, node_id, index,
                 attempt, msg);
    QueueOp(exec, node_id,
            {Store::Op::kError, index, attempt, keys::PackRecord(node->array->Record(index)), msg});
    AfterNodeChange(*e, *node);
    SchedulePump();
  }
}

void Coordinator::OnResults(const std::string& identity, wire::ResultBatch& batch) {
  std::vector<wire::SubtaskKey> acks;
  for (wire::ResultItem& r : batch.results) {
    const wire::SubtaskKey& k = r.key;
    std::string ikey = InflightKey(k.exec, k.node, k.index);
    auto inf = inflight_.find(ikey);
    // The attempt is over on the worker. Its slot goes back at once for failures, and for
    // successes when the commit is durable: dispatch never runs ahead of Redis.
    std::optional<Inflight> held;
    if (inf != inflight_.end() && inf->second.attempt == k.attempt) held = inf->second;
    bool success = static_cast<wire::Outcome>(r.outcome) == wire::Outcome::kSucceeded;
    // A success stays in flight until its commit is durable: if Redis is away, the worker
    // holds the result, claims it in its next HELLO, and re-sends it.
    if (held && !success) inflight_.erase(inf);
    if (auto u = unclaimed_.find(ikey); u != unclaimed_.end() && u->second.attempt == k.attempt)
      ForgetUnclaimed(ikey);
    Execution* e = FindExec(k.exec);
    NodeRun* node = e ? e->FindNode(k.node) : nullptr;
    if (node == nullptr || !node->array || !node->array->IsCurrent(k.index, k.attempt)) {
      if (held) {
        Release(*held);
        if (success) inflight_.erase(ikey);
      }
      acks.push_back(k);  // stale or unknown: nothing to commit, let the worker forget it
      continue;
    }
    if (r.has_checkpoint) SaveCheckpoint(*e, *node, k.index, k.attempt, std::move(r.checkpoint));
    if (!r.log.empty()) {
      // Keep the end of an oversized log (the worker caps it already; this is the coordinator's
      // own bound on what it writes).
      if (r.log.size() > wire::kMaxLogBytes) r.log.erase(0, r.log.size() - wire::kMaxLogBytes);
      store_.PutLog(k.exec, k.node, k.index, k.attempt, r.log, config_.log_ttl_s);
    }
    auto outcome = static_cast<wire::Outcome>(r.outcome);
    std::string exec_id = k.exec, node_id = k.node;
    if (outcome == wire::Outcome::kSucceeded) {
      keys::SubtaskRecord rec = WithPhase(node->array->Record(k.index), SubtaskPhase::kSucceeded);
      if (node->cache != nullptr) {  // only successful results are cached
        store_.CachePut(CacheKey(*node->task, *node->cache, node->inputs.ArgSlices(k.index)), r.outputs,
                        node->cache->ttl_ms);
        ReleaseReservation(k.exec, k.node, k.index);
      }
      node->checkpoints.erase(k.index);
      QueueOp(exec_id, node_id,
              {Store::Op::kOutput, k.index, k.attempt, keys::PackRecord(rec), std::move(r.outputs)},
              [this, identity, k](int applied) {
                if (applied < 0) {  // not durable: the worker keeps it; ask for it again
                  resend_from_.insert(identity);
                  return;
                }
                std::string ikey = InflightKey(k.exec, k.node, k.index);
                if (auto inf = inflight_.find(ikey); inf != inflight_.end() && inf->second.attempt == k.attempt) {
                  Release(inf->second);
                  inflight_.erase(inf);
                }
                Execution* e = FindExec(k.exec);
                NodeRun* node = e ? e->FindNode(k.node) : nullptr;
                if (applied == 1 && node && node->array) {
                  if (!node->array->OnSucceeded(k.index, k.attempt) && node->array->OnCommitted(k.index))
                    spdlog::info("exec={} node={} index={} attempt={}: committed after it was re-queued",
                                 k.exec, k.node, k.index, k.attempt);
                  AfterNodeChange(*e, *node);
                  SchedulePump();
                } else if (applied == 0 && node && node->array &&
                           node->array->IsCurrent(k.index, k.attempt)) {
                  // Redis disagrees about the attempt (e.g. it lost its last second of writes):
                  // run the subtask again rather than leave it hanging.
                  FailSystem(k.exec, k.node, k.index, k.attempt, "commit refused by the store");
                }
                pending_acks_[identity].push_back(k);
              });
      continue;
    }
    if (held) Release(*held);
    if (outcome == wire::Outcome::kAborted) r.error = r.error.empty() ? "aborted on the worker" : r.error;
    spdlog::info("exec={} node={} index={} attempt={}: {}", k.exec, k.node, k.index, k.attempt,
                 r.error);
    node->array->OnFailed(k.index, k.attempt, KindOf(outcome), r.error);
    keys::SubtaskRecord rec = node->array->Record(k.index);
    if (IsTerminal(static_cast<SubtaskPhase>(rec.phase))) {
      node->checkpoints.erase(k.index);
      ReleaseReservation(k.exec, k.node, k.index);  // a waiter takes over
    }
    QueueOp(exec_id, node_id, {Store::Op::kError, k.index, k.attempt, keys::PackRecord(rec), r.error},
            [this, identity, k](int applied) {
              if (applied < 0) {
                resend_from_.insert(identity);
                return;
              }
              pending_acks_[identity].push_back(k);
            });
    AfterNodeChange(*e, *node);
  }
  if (!acks.empty()) Send(identity, wire::Kind::kAck, wire::EncodeBody(wire::AckBatch{std::move(acks)}));
  SchedulePump();
}

void Coordinator::OnLogs(const std::string& identity, const wire::LogsRequest& req) {
  auto fetch = [this, identity, req](uint32_t attempt) {
    store_.GetLog(req.exec, req.node, req.index, attempt,
                  [this, identity, req, attempt](Result<std::optional<std::string>> log) {
                    if (!log) return Reply(identity, req.rid, log.error(), "");
                    nlohmann::json j{{"execution", req.exec}, {"node", req.node}, {"index", req.index},
                                     {"attempt", attempt}, {"found", log->has_value()},
                                     {"log", log->value_or("")}};
                    Reply(identity, req.rid, Status::Ok(), j.dump());
                  });
  };
  if (req.attempt >= 0) return fetch(static_cast<uint32_t>(req.attempt));
  // The latest attempt: from memory while the execution runs, else from its records in Redis.
  if (Execution* e = FindExec(req.exec)) {
    NodeRun* node = e->FindNode(req.node);
    if (node == nullptr)
      return Reply(identity, req.rid,
                   NotFound("execution " + req.exec + " has no node '" + req.node + "'"), "");
    if (!node->array)
      return Reply(identity, req.rid, NotFound("node '" + req.node + "' has not started"), "");
    if (req.index >= node->array->size())
      return Reply(identity, req.rid,
                   InvalidArgument(fmt::format("index {} is out of range: node '{}' has {} subtask(s)",
                                               req.index, req.node, node->array->size())),
                   "");
    return fetch(node->array->Record(req.index).attempt);
  }
  store_.GetFields(req.exec, {keys::kFieldPhase}, [this, identity, req, fetch](auto r) {
    if (!r) return Reply(identity, req.rid, r.error(), "");
    if (!(*r)[0]) return Reply(identity, req.rid, NotFound("no execution '" + req.exec + "'"), "");
    store_.LoadRecord(req.exec, req.node, req.index,
                      [this, identity, req, fetch](Result<keys::SubtaskRecord> rec) {
                        if (!rec) return Reply(identity, req.rid, rec.error(), "");
                        fetch(rec->attempt);
                      });
  });
}

void Coordinator::Reply(const std::string& identity, uint64_t rid, Status st, const std::string& json) {
  wire::Reply r;
  r.rid = rid;
  r.code = static_cast<uint8_t>(st.code());
  r.error = st.message();
  r.json = json;
  Send(identity, wire::Kind::kReply, wire::EncodeBody(r));
}

void Coordinator::OnClient(const std::string& identity, wire::Kind kind, std::string_view body) {
  if (kind == wire::Kind::kSubmit) {
    auto req = wire::DecodeBody<wire::SubmitRequest>(body);
    if (!req) return Reply(identity, 0, req.error(), "");
    std::string id;
    std::unique_ptr<Execution> e;
    Status st = Submit(*req, &id, &e);
    if (!st.ok()) return Reply(identity, req->rid, st, "");
    return Accept(identity, req->rid, std::move(e));
  }
  if (kind == wire::Kind::kLogs) {
    auto req = wire::DecodeBody<wire::LogsRequest>(body);
    if (!req) return Reply(identity, 0, req.error(), "");
    return OnLogs(identity, *req);
  }
  if (kind == wire::Kind::kCacheClear) {
    auto req = wire::DecodeBody<wire::CacheClearRequest>(body);
    if (!req) return Reply(identity, 0, req.error(), "");
    store_.CacheClear(req->task, req->version, [this, identity, rid = req->rid](Result<int64_t> n) {
      if (!n) return Reply(identity, rid, n.error(), "");
      Reply(identity, rid, Status::Ok(), nlohmann::json{{"deleted", *n}}.dump());
    });
    return;
  }
  auto req = wire::DecodeBody<wire::QueryRequest>(body);
  if (!req) return Reply(identity, 0, req.error(), "");
  uint64_t rid = req->rid;
  std::string exec = req->exec;
  switch (kind) {
    case wire::Kind::kHealth: {
      nlohmann::json j{{"ok", ready_ && redis_.connected()},
                       {"redis", redis_.connected()},
                       {"epoch", store_.epoch()},
                       {"workers", workers_.size()},
                       {"executions", execs_.size()},
                       {"followed_executions", events_ ? events_->subscriptions() : 0},
                       {"dropped_messages", dropped_messages_}};
      return Reply(identity, rid, Status::Ok(), j.dump());
    }
    case wire::Kind::kWorkers: {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& [id, w] : workers_) {
        arr.push_back({{"id", w.hello.worker_id},
                       {"host", w.hello.host},
                       {"pid", w.hello.pid},
                       {"slots", w.hello.slots},
                       {"running", w.inflight},
                       {"functions", w.hello.functions},
                       {"labels", w.hello.labels},
                       {"interruptible", w.hello.interruptible},
                       {"draining", w.draining},
                       {"heartbeat_age_ms", clock_.NowMs() - w.last_seen_ms}});
      }
      return Reply(identity, rid, Status::Ok(), nlohmann::json{{"workers", arr}}.dump());
    }
    case wire::Kind::kStatus: {
      if (Execution* e = FindExec(exec)) {
        nlohmann::json j = StatusJson(*e);
        // Where to follow it: the event socket's port, on the host the client reached us at.
        if (events_ && !IsTerminal(e->phase)) j["events_port"] = events_->port();
        return Reply(identity, rid, Status::Ok(), j.dump());
      }
      store_.GetFields(exec, {keys::kFieldStatus}, [this, identity, rid, exec](auto r) {
        if (!r) return Reply(identity, rid, r.error(), "");
        if (!(*r)[0]) return Reply(identity, rid, NotFound("no execution '" + exec + "'"), "");
        Reply(identity, rid, Status::Ok(), *(*r)[0]);
      });
      return;
    }
    case wire::Kind::kOutputs: {
      if (Execution* e = FindExec(exec)) {
        nlohmann::json j{{"execution", exec}, {"phase", ExecPhaseName(e->phase)}, {"error", e->error}};
        // Between the end of an execution and its removal from memory the outputs are here.
        auto out = e->values.find("$outputs");
        if (out != e->values.end()) {
          auto v = DecodeMsgpack(out->second);
          if (v) j["outputs"] = ToJson(*v);
        }
        return Reply(identity, rid, Status::Ok(), j.dump());
      }
      store_.GetFields(exec, {keys::kFieldPhase, keys::kFieldOutputs, keys::kFieldError},
                       [this, identity, rid, exec](auto r) {
                         if (!r) return Reply(identity, rid, r.error(), "");
                         if (!(*r)[0]) return Reply(identity, rid, NotFound("no execution '" + exec + "'"), "");
                         nlohmann::json j{{"execution", exec}, {"phase", *(*r)[0]},
                                          {"error", (*r)[2].value_or("")}};
                         if ((*r)[1]) {
                           auto v = DecodeMsgpack(*(*r)[1]);
                           if (v) j["outputs"] = ToJson(*v);
                         }
                         Reply(identity, rid, Status::Ok(), j.dump());
                       });
      return;
    }
    case wire::Kind::kList: {
      store_.RecentExecutions(50, [this, identity, rid](Result<std::vector<std::string>> ids) {
        if (!ids) return Reply(identity, rid, ids.error(), "");
        auto arr = std::make_shared<nlohmann::json>(nlohmann::json::array());
        auto remaining = std::make_shared<size_t>(ids->size());
        if (ids->empty()) return Reply(identity, rid, Status::Ok(), R"({"executions":[]})");
        for (size_t i = 0; i < ids->size(); ++i) arr->push_back(nullptr);
        for (size_t i = 0; i < ids->size(); ++i) {
          std::string id = (*ids)[i];
          store_.GetFields(id, {keys::kFieldWorkflow, keys::kFieldPhase, keys::kFieldCreated, keys::kFieldEnded},
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
                             }
                             if (--*remaining == 0)
                               Reply(identity, rid, Status::Ok(), nlohmann::json{{"executions", *arr}}.dump());
                           });
        }
      });
      return;
    }
    case wire::Kind::kRecover: {
      store_.GetAllFields(exec, [this, identity, rid, exec](Result<std::map<std::string, std::string>> f) {
        if (!f) return Reply(identity, rid, f.error(), "");
        if (f->empty()) return Reply(identity, rid, NotFound("no execution '" + exec + "'"), "");
        auto inputs = DecodeMsgpack((*f)[keys::kFieldInputs]);
        if (!inputs) return Reply(identity, rid, Internal("stored inputs are unreadable"), "");
        wire::SubmitRequest req;
        req.spec_name = (*f)[keys::kFieldSpecName];
        req.spec_text = (*f)[keys::kFieldSpecText];
        req.workflow = (*f)[keys::kFieldWorkflow];
        req.inputs_json = ToJson(*inputs).dump();
        std::string id;
        std::unique_ptr<Execution> e;
        Status st = Submit(req, &id, &e);
        if (!st.ok()) return Reply(identity, rid, st, "");
        e->recovered_from = exec;
        Accept(identity, rid, std::move(e));
      });
      return;
    }
    case wire::Kind::kAbortExec: {
      Execution* e = FindExec(exec);
      if (e == nullptr) {
        store_.GetFields(exec, {keys::kFieldPhase}, [this, identity, rid, exec](auto r) {
          if (!r) return Reply(identity, rid, r.error(), "");
          if (!(*r)[0]) return Reply(identity, rid, NotFound("no execution '" + exec + "'"), "");
          Reply(identity, rid, Status::Ok(), nlohmann::json{{"execution", exec}, {"phase", *(*r)[0]}}.dump());
        });
        return;
      }
      AbortExecution(*e, "aborted by the user");
      return Reply(identity, rid, Status::Ok(),
                   nlohmann::json{{"execution", exec}, {"phase", "ABORTED"}}.dump());
    }
    default:
      return Reply(identity, rid, InvalidArgument("unsupported request"), "");
  }
}

// ---------------------------------------------------------------------------------------------
// Workflow

std::string Coordinator::NewExecutionId() {
  static std::mt19937_64 rng(std::random_device{}());
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuv";
  uint64_t t = static_cast<uint64_t>(clock_.WallMs());
  std::string id = "f";
  // 8 chars of time (sortable, ~1 year period at ms) + 4 random chars.
  for (int i = 7; i >= 0; --i) id.push_back(kAlphabet[(t >> (5 * i)) & 31]);
  uint64_t r = rng();
  for (int i = 0; i < 4; ++i) id.push_back(kAlphabet[(r >> (5 * i)) & 31]);
  return id;
}

Status Coordinator::Submit(const wire::SubmitRequest& req, std::string* exec_id,
                           std::unique_ptr<Execution>* out) {
  if (!ready_ || !redis_.connected()) return Unavailable("the coordinator is not connected to Redis");
  auto spec = ParseSpec(req.spec_text, req.spec_name.empty() ? "spec" : req.spec_name);
  if (!spec) return spec.error();
  auto e = std::make_unique<Execution>();
  e->spec = std::make_unique<Spec>(std::move(*spec));
  auto wf = e->spec->FindWorkflow(req.workflow);
  if (!wf) return wf.error();
  e->wf = *wf;
  Map given;
  if (!req.inputs_json.empty()) {
    auto v = ParseJson(req.inputs_json);
    if (!v) return v.error();
    if (!v->is_map()) return InvalidArgument("inputs must be a JSON object");
    given = v->as_map();
  }
  auto inputs = ResolveWorkflowInputs(**wf, given);
  if (!inputs) return inputs.error();
  Status st = CheckKnownMapLengths(**wf, *inputs);
  if (!st.ok()) return st;
  for (const auto& [name, v] : *inputs) e->values["inputs." + name] = EncodeMsgpack(v);
  e->id = NewExecutionId();
  e->overwrite_cache = req.overwrite_cache;
  e->spec_name = req.spec_name;
  e->spec_text = req.spec_text;
  e->created_ms = clock_.WallMs();
  e->InitNodes();
  *exec_id = e->id;
  *out = std::move(e);
  return Status::Ok();
}

void Coordinator::Accept(const std::string& identity, uint64_t rid, std::unique_ptr<Execution> e) {
  Execution& ref = *e;
  std::string id = ref.id;
  execs_.emplace(id, std::move(e));
  // Persist spec and inputs before answering: the execution survives a crash from here on.
  Map stored;
  for (const auto& [k, v] : ref.values) {
    auto dv = DecodeMsgpack(v);
    if (dv) stored.emplace(k.substr(7), std::move(*dv));  // strip "inputs."
  }
  std::vector<std::pair<std::string, std::string>> fields = {
      {keys::kFieldSpecText, ref.spec_text},
      {keys::kFieldSpecName, ref.spec_name},
      {keys::kFieldWorkflow, ref.wf->name},
      {keys::kFieldInputs, EncodeMsgpack(Value(std::move(stored)))},
      {keys::kFieldPhase, std::string(ExecPhaseName(ExecPhase::kRunning))},
      {keys::kFieldCreated, std::to_string(ref.created_ms)}};
  if (!ref.recovered_from.empty()) fields.emplace_back(keys::kFieldRecoveredFrom, ref.recovered_from);
  if (ref.overwrite_cache) fields.emplace_back(keys::kFieldOverwriteCache, "1");
  store_.CreateExecution(id, ref.created_ms, fields, [this, identity, rid, id](Status s) {
    if (!s.ok()) {
      execs_.erase(id);
      return Reply(identity, rid, Unavailable("cannot store the execution: " + s.message()), "");
    }
    Execution* e = FindExec(id);
    nlohmann::json j{{"execution", id}};
    if (e && !e->recovered_from.empty()) j["recovered_from"] = e->recovered_from;
    spdlog::info("exec={} submitted{}", id, e && !e->recovered_from.empty() ? " (recovering " + e->recovered_from + ")" : "");
    Reply(identity, rid, Status::Ok(), j.dump());
    Advance(id);
  });
}

void Coordinator::Advance(const std::string& exec) {
  Execution* e = FindExec(exec);
  if (e == nullptr || IsTerminal(e->phase)) return;
  bool all_done = true;
  for (NodeRun& node : e->nodes) {
    if (node.phase != NodePhase::kSucceeded) all_done = false;
    if (node.phase != NodePhase::kPending || node.busy) continue;
    bool ready = true;
    for (const auto* list : {&node.def->inputs, &node.def->bind})
      for (const auto& [name, b] : *list)
        if (b.ref && !e->values.count(ValueKey(*b.ref))) ready = false;
    if (ready) StartNode(*e, node);
    if (IsTerminal(e->phase)) return;
  }
  if (!all_done) return;
  auto outputs = WorkflowOutputs(*e);
  if (!outputs) return FinishExecution(*e, ExecPhase::kFailed, outputs.error().message());
  e->values["$outputs"] = std::move(*outputs);
  FinishExecution(*e, ExecPhase::kSucceeded, "");
}

void Coordinator::StartNode(Execution& e, NodeRun& node) {
  auto inputs = ResolveNodeInputs(*e.spec, *node.def, e.values);
  if (!inputs) {
    node.phase = NodePhase::kFailed;
    node.error = inputs.error().message();
    PersistNodePhase(e, node);
    return FinishExecution(e, ExecPhase::kFailed, "node '" + node.def->id + "' failed: " + node.error);
  }
  node.inputs = std::move(*inputs);
  uint32_t n = node.inputs.size;
  if (node.def->min_successes && *node.def->min_successes > static_cast<int64_t>(n)) {
    node.phase = NodePhase::kFailed;
    node.error = "min_successes " + std::to_string(*node.def->min_successes) + " is more than the " +
                 std::to_string(n) + " subtasks";
    PersistNodePhase(e, node);
    return FinishExecution(e, ExecPhase::kFailed, "node '" + node.def->id + "' failed: " + node.error);
  }
  ArrayNodePolicy policy;
  policy.concurrency = node.def->concurrency;
  policy.min_successes = MinSuccesses(*node.def, n);
  policy.retries = e.spec->RetriesOf(*node.def);
  policy.system_retries = config_.system_retries;
  node.array = std::make_unique<ArrayNode>(n, policy);
  node.desc = MakeTaskDesc(*e.spec, *node.def);
  node.interruptible = node.def->interruptible.value_or(node.task->interruptible);
  node.desc.max_checkpoint_bytes = config_.max_checkpoint_bytes;
  const CacheConfig& cache = e.spec->CacheOf(*node.def);
  node.cache = cache.enabled ? &cache : nullptr;
  node.phase = NodePhase::kRunning;
  node.busy = true;
  std::string exec_id = e.id, node_id = node.def->id;
  if (!e.recovered_from.empty()) {
    // `fanout recover`: take every subtask that succeeded in the source execution first.
    std::string src = e.recovered_from;
    store_.CopySucceeded(src, exec_id, node_id, n, [this, exec_id, node_id, src](Result<int64_t> copied) {
      if (!copied) {
        if (copied.error().code() == Code::kFailedPrecondition) return Fenced();
        spdlog::warn("exec={} node={}: cannot reuse subtasks of {}: {}", exec_id, node_id, src,
                     copied.error().message());
      } else if (*copied > 0) {
        spdlog::info("exec={} node={}: reused {} succeeded subtask(s) of {}", exec_id, node_id, *copied, src);
      }
      LoadNodeRecords(exec_id, node_id);
    });
    return;
  }
  LoadNodeRecords(exec_id, node_id);
}

void Coordinator::LoadNodeRecords(const std::string& exec_id, const std::string& node_id) {
  store_.LoadRecords(exec_id, node_id, [this, exec_id, node_id](Result<std::string> recs) {
    Execution* e = FindExec(exec_id);
    NodeRun* node = e ? e->FindNode(node_id) : nullptr;
    if (node == nullptr) return;
    if (!recs) {
      node->busy = false;
      spdlog::error("exec={} node={}: cannot load subtask records: {}", exec_id, node_id,
                    recs.error().message());
      return AbortExecution(*e, "cannot load subtask records: " + recs.error().message());
    }
    size_t restored = 0;
    for (uint32_t i = 0; i < node->array->size() && (i + 1) * 2 <= recs->size(); ++i) {
      // BITFIELD u16 is big-endian in the string.
      uint16_t v = static_cast<uint16_t>((static_cast<uint8_t>((*recs)[2 * i]) << 8) |
                                         static_cast<uint8_t>((*recs)[2 * i + 1]));
      if (v == 0) continue;
      keys::SubtaskRecord rec = keys::UnpackRecord(v);
      node->array->Restore(i, rec);
      ++restored;
      if (static_cast<SubtaskPhase>(rec.phase) == SubtaskPhase::kRunning) AdoptRestored(*node, exec_id, i, rec.attempt);
    }
    CarryGraceAcrossRestarts(exec_id, node_id);
    bool cache = node->cache != nullptr && !e->overwrite_cache;
    if (restored == 0) return cache ? CacheLookup(exec_id, node_id, 0) : NodeReady(exec_id, node_id);
    spdlog::info("exec={} node={}: restored {} subtask records ({} succeeded)", exec_id, node_id,
                 restored, node->array->count(SubtaskPhase::kSucceeded));
    // Checkpoints saved before the restart go to the subtasks' next attempts.
    store_.LoadCheckpoints(exec_id, node_id, [this, exec_id, node_id, cache](auto ck) {
      Execution* e = FindExec(exec_id);
      NodeRun* node = e ? e->FindNode(node_id) : nullptr;
      if (node == nullptr) return;
      if (!ck) {
        spdlog::warn("exec={} node={}: cannot load checkpoints: {}", exec_id, node_id, ck.error().message());
      } else {
        for (auto& [i, bytes] : *ck)
          if (i < node->array->size() && !IsTerminal(static_cast<SubtaskPhase>(node->array->Record(i).phase)))
            node->checkpoints[i] = std::move(bytes);
      }
      cache ? CacheLookup(exec_id, node_id, 0) : NodeReady(exec_id, node_id);
    });
  });
}

void Coordinator::NodeReady(const std::string& exec_id, const std::string& node_id) {
  Execution* e = FindExec(exec_id);
  NodeRun* node = e ? e->FindNode(node_id) : nullptr;
  if (node == nullptr) return;
  node->busy = false;
  PersistNodePhase(*e, *node);
  AfterNodeChange(*e, *node);
  SchedulePump();
}

void Coordinator::CacheLookup(const std::string& exec_id, const std::string& node_id, uint32_t from) {
  constexpr uint32_t kChunk = 4096;
  Execution* e = FindExec(exec_id);
  NodeRun* node = e ? e->FindNode(node_id) : nullptr;
  if (node == nullptr) return;
  uint32_t n = node->array->size();
  uint32_t to = std::min(n, from + kChunk);
  std::vector<uint32_t> indices;
  std::vector<std::string> cache_keys;
  for (uint32_t i = from; i < to; ++i) {
    if (static_cast<SubtaskPhase>(node->array->Record(i).phase) != SubtaskPhase::kQueued) continue;
    indices.push_back(i);
    cache_keys.push_back(CacheKey(*node->task, *node->cache, node->inputs.ArgSlices(i)));
  }
  auto next = [this, exec_id, node_id, to, n] {
    if (to >= n) return NodeReady(exec_id, node_id);
    CacheLookup(exec_id, node_id, to);
  };
  if (indices.empty()) return next();
  store_.CacheGet(cache_keys, [this, exec_id, node_id, indices, cache_keys, next](auto got) {
    Execution* e = FindExec(exec_id);
    NodeRun* node = e ? e->FindNode(node_id) : nullptr;
    if (node == nullptr) return;
    if (!got || got->size() != indices.size()) {
      spdlog::warn("exec={} node={}: cache lookup failed; running the subtasks", exec_id, node_id);
      return next();
    }
    // Hits are committed like results (fenced, HSETNX), then counted as cached successes.
    auto pending = std::make_shared<size_t>(1);
    auto done = [pending, next] {
      if (--*pending == 0) next();
    };
    bool serialize = node->cache->serialize;
    for (size_t k = 0; k < indices.size(); ++k) {
      uint32_t i = indices[k];
      if (!(*got)[k]) {
        if (!serialize) continue;
        // Serialized: run only if we take the key's reservation; otherwise wait for its result.
        ++*pending;
        TryReserve(cache_keys[k], SubtaskRef{exec_id, node_id, i}, [this, exec_id, node_id, i, key = cache_keys[k], done](bool mine) {
          Execution* e = FindExec(exec_id);
          NodeRun* node = e ? e->FindNode(node_id) : nullptr;
          if (node != nullptr && !mine && node->array->WaitForCache(i))
            cache_waiters_[key].push_back(SubtaskRef{exec_id, node_id, i});
          done();
        });
        continue;
      }
      ++*pending;
      CommitCached(exec_id, node_id, i, std::move(*(*got)[k]), done);
    }
    FlushOps();
    done();
  });
}

void Coordinator::CommitCached(const std::string& exec_id, const std::string& node_id, uint32_t i,
                               std::string outputs, std::function<void()> done) {
  Execution* e = FindExec(exec_id);
  NodeRun* node = e ? e->FindNode(node_id) : nullptr;
  if (node == nullptr) return done();
  keys::SubtaskRecord rec = node->array->Record(i);
  rec.phase = static_cast<uint8_t>(SubtaskPhase::kSucceeded);
  rec.cached = true;
  // Committed like a result (fenced, HSETNX), then counted as a cached success.
  QueueOp(exec_id, node_id, {Store::Op::kOutput, i, rec.attempt, keys::PackRecord(rec), std::move(outputs)},
          [this, exec_id, node_id, i, done](int applied) {
            Execution* e = FindExec(exec_id);
            NodeRun* node = e ? e->FindNode(node_id) : nullptr;
            if (node != nullptr && applied == 1) {
              node->array->CompleteFromCache(i);
              AfterNodeChange(*e, *node);
            }
            done();
          });
}

void Coordinator::TryReserve(const std::string& key, const SubtaskRef& ref, std::function<void(bool)> cb) {
  std::string owner = ref.exec + "/" + ref.node + "/" + std::to_string(ref.index);
  redis_.Command({"SET", keys::CacheReservation(key), owner, "NX", "PX", std::to_string(3 * config_.heartbeat_ms)},
                 [this, key, ref, cb](Result<RedisReply> r) {
                   bool mine = r && r->type == RedisReply::Type::kStatus;
                   if (!r) spdlog::warn("cache reservation of {} failed: {}; running it", key, r.error().message());
                   if (mine || !r) reserved_[key] = ref;
                   cb(mine || !r);
                 });
}

void Coordinator::ReleaseReservation(const std::string& exec, const std::string& node, uint32_t index) {
  for (auto it = reserved_.begin(); it != reserved_.end(); ++it) {
    if (it->second.exec == exec && it->second.node == node && it->second.index == index) {
      redis_.Command({"DEL", keys::CacheReservation(it->first)}, [](Result<RedisReply>) {});
      reserved_.erase(it);
      return;
    }
  }
}

void Coordinator::TickCacheReservations() {
  // Renew what we own, while its subtask runs; let waiters take what finished or expired.
  for (auto it = reserved_.begin(); it != reserved_.end();) {
    Execution* e = FindExec(it->second.exec);
    NodeRun* node = e ? e->FindNode(it->second.node) : nullptr;
    if (node == nullptr || !node->array || node->array->done()) {
      redis_.Command({"DEL", keys::CacheReservation(it->first)}, [](Result<RedisReply>) {});
      it = reserved_.erase(it);
      continue;
    }
    redis_.Command({"PEXPIRE", keys::CacheReservation(it->first), std::to_string(3 * config_.heartbeat_ms)},
                   [](Result<RedisReply>) {});
    ++it;
  }
  for (auto& [key, waiters] : cache_waiters_) {
    std::string k = key;
    store_.CacheGet({k}, [this, k](auto got) {
      auto w = cache_waiters_.find(k);
      if (w == cache_waiters_.end() || !got || got->size() != 1) return;
      std::vector<SubtaskRef> refs = std::move(w->second);
      cache_waiters_.erase(w);
      if ((*got)[0]) {
        for (const SubtaskRef& r : refs) CommitCached(r.exec, r.node, r.index, *(*got)[0], [] {});
        return;
      }
      // Still no result: the first waiter takes the reservation over if it is free.
      std::vector<SubtaskRef> live;
      for (const SubtaskRef& r : refs) {
        Execution* e = FindExec(r.exec);
        NodeRun* node = e ? e->FindNode(r.node) : nullptr;
        if (node != nullptr && node->array && !node->array->done()) live.push_back(r);
      }
      if (live.empty()) return;
      SubtaskRef first = live.front();
      cache_waiters_[k] = std::vector<SubtaskRef>(live.begin() + 1, live.end());
      TryReserve(k, first, [this, k, first](bool mine) {
        Execution* e = FindExec(first.exec);
        NodeRun* node = e ? e->FindNode(first.node) : nullptr;
        if (node == nullptr) return;
        if (mine) {
          spdlog::info("exec={} node={} index={}: took the cache reservation over", first.exec, first.node, first.index);
          node->array->ResumeFromCacheWait(first.index);
          SchedulePump();
        } else {
          cache_waiters_[k].insert(cache_waiters_[k].begin(), first);
        }
      });
    });
  }
}

void Coordinator::SaveCheckpoint(Execution& e, NodeRun& node, uint32_t index, uint32_t attempt,
                                 std::string bytes) {
  if (!node.array || !node.array->IsCurrent(index, attempt)) return;  // a stale attempt's save
  if (static_cast<int64_t>(bytes.size()) > config_.max_checkpoint_bytes) {
    spdlog::warn("exec={} node={} index={} attempt={}: checkpoint of {} bytes over the cap; not kept",
                 e.id, node.def->id, index, attempt, bytes.size());
    return;
  }
  store_.PutCheckpoint(e.id, node.def->id, index, bytes);
  node.checkpoints[index] = std::move(bytes);
}

void Coordinator::CarryGraceAcrossRestarts(const std::string& exec_id, const std::string& node_id) {
  // The grace window of an unclaimed attempt starts when a coordinator first saw it unclaimed,
  // not at every restart: otherwise restarts closer together than the window would keep such
  // attempts (whose worker is gone) from ever running again.
  redis_.Command({"HGETALL", keys::Unclaimed(exec_id, node_id)}, [this, exec_id, node_id](Result<RedisReply> r) {
    if (!r) return;
    std::map<uint32_t, int64_t> first_seen;
    for (size_t i = 0; i + 1 < r->elements.size(); i += 2)
      first_seen[static_cast<uint32_t>(std::stoul(r->elements[i].str))] = std::atoll(r->elements[i + 1].str.c_str());
    int64_t now_wall = clock_.WallMs(), now = clock_.NowMs();
    std::vector<std::string> mark = {"HSET", keys::Unclaimed(exec_id, node_id)};
    for (auto& [key, u] : unclaimed_) {
      SubtaskRef ref = ParseInflightKey(key);
      if (ref.exec != exec_id || ref.node != node_id) continue;
      uint32_t index = ref.index;
      auto it = first_seen.find(index);
      if (it == first_seen.end()) {
        mark.push_back(std::to_string(index));
        mark.push_back(std::to_string(now_wall));
      } else {
        u.deadline_ms = now + std::max<int64_t>(0, it->second + Grace() - now_wall);
      }
    }
    if (mark.size() > 2) redis_.Command(mark, [](Result<RedisReply>) {});
  });
}

void Coordinator::ForgetUnclaimed(const std::string& key) {
  if (unclaimed_.erase(key) == 0) return;
  SubtaskRef r = ParseInflightKey(key);
  redis_.Command({"HDEL", keys::Unclaimed(r.exec, r.node), std::to_string(r.index)},
                 [](Result<RedisReply>) {});
}

void Coordinator::AdoptRestored(const NodeRun& node, const std::string& exec, uint32_t index,
                                uint32_t attempt) {
  std::string key = InflightKey(exec, node.def->id, index);
  const Resources& req = node.def->requests;
  auto c = claims_.find(key);
  if (c != claims_.end() && c->second.attempt == attempt) {
    auto wit = workers_.find(c->second.worker);
    if (wit != workers_.end()) {
      inflight_[key] = Inflight{c->second.worker, attempt, req.cpu, req.mem_bytes};
      Worker& w = wit->second;
      w.inflight++;
      w.free = w.free > 0 ? w.free - 1 : 0;
      w.free_cpu -= req.cpu;
      w.free_mem -= req.mem_bytes;
      claims_.erase(c);
      redis_.Command({"HDEL", keys::Unclaimed(exec, node.def->id), std::to_string(index)},
                     [](Result<RedisReply>) {});
      return;
    }
  }
  unclaimed_[key] = Unclaimed{attempt, clock_.NowMs() + Grace(), req.cpu, req.mem_bytes};
}

void Coordinator::PersistNodePhase(const Execution& e, const NodeRun& node) {
  std::vector<std::pair<std::string, std::string>> f = {
      {keys::NodeField(node.def->id, "phase"), std::string(NodePhaseName(node.phase))}};
  if (node.array) f.emplace_back(keys::NodeField(node.def->id, "size"), std::to_string(node.array->size()));
  if (!node.error.empty()) f.emplace_back(keys::NodeField(node.def->id, "error"), node.error);
  store_.SetFields(e.id, f);
}

void Coordinator::SendAborts(Execution& e, NodeRun& node) {
  auto aborts = node.array->TakeAborts();
  if (aborts.empty()) return;
  std::map<std::string, std::vector<wire::SubtaskKey>> by_worker;
  for (const auto& a : aborts) {
    auto it = inflight_.find(InflightKey(e.id, node.def->id, a.index));
    if (it != inflight_.end()) {
      by_worker[it->second.worker].push_back({e.id, node.def->id, a.index, it->second.attempt});
    }
    keys::SubtaskRecord rec = node.array->Record(a.index);
    QueueOp(e.id, node.def->id, {Store::Op::kRecord, a.index, a.attempt, keys::PackRecord(rec), ""});
  }
  for (auto& [worker, ks] : by_worker) Send(worker, wire::Kind::kAbort, wire::EncodeBody(wire::AckBatch{ks}));
}

void Coordinator::AfterNodeChange(Execution& e, NodeRun& node) {
  if (!node.array) return;
  SendAborts(e, node);
  if (node.array->done() && node.phase == NodePhase::kRunning && !node.busy) CompleteNode(e, node);
}

void Coordinator::CompleteNode(Execution& e, NodeRun& node) {
  NodePhase result = node.array->phase();
  if (result != NodePhase::kSucceeded) {
    node.phase = result;
    uint64_t failed = node.array->count(SubtaskPhase::kFailed);
    node.error = std::to_string(failed) + " of " + std::to_string(node.array->size()) +
                 " subtasks failed (" + std::to_string(node.array->min_successes()) +
                 " successes needed): " + node.array->ErrorSummary();
    PersistNodePhase(e, node);
    return FinishExecution(e, ExecPhase::kFailed, "node '" + node.def->id + "' failed: " + node.error);
  }
  node.busy = true;
  auto assembler = std::make_shared<OutputAssembler>(*node.def, *node.task, node.array->size());
  auto status = std::make_shared<Status>();
  auto lost = std::make_shared<std::vector<uint32_t>>();
  std::string exec_id = e.id, node_id = node.def->id;
  const ArrayNode* array = node.array.get();
  store_.LoadOutputs(
      exec_id, node_id, node.array->size(),
      [assembler, status, lost, array](uint32_t i, std::optional<std::string_view> out) {
        if (!out && static_cast<SubtaskPhase>(array->Record(i).phase) == SubtaskPhase::kSucceeded)
          lost->push_back(i);
        if (status->ok()) *status = assembler->Add(i, out);
      },
      [this, assembler, status, lost, exec_id, node_id](Status st) {
        Execution* e = FindExec(exec_id);
        NodeRun* node = e ? e->FindNode(node_id) : nullptr;
        if (node == nullptr) return;
        node->busy = false;
        if (st.ok() && !lost->empty()) {
          // Redis lost some committed outputs (e.g. a host crash within appendfsync's second):
          // those subtasks run again, and the node completes when they are back.
          spdlog::warn("exec={} node={}: {} committed output(s) missing from Redis; running them again",
                       exec_id, node_id, lost->size());
          for (uint32_t i : *lost) node->array->Reopen(i);
          SchedulePump();
          return;
        }
        if (!st.ok() || !status->ok()) {
          std::string why = !st.ok() ? st.message() : status->message();
          node->phase = NodePhase::kFailed;
          node->error = "cannot assemble outputs: " + why;
          PersistNodePhase(*e, *node);
          return FinishExecution(*e, ExecPhase::kFailed, "node '" + node_id + "' failed: " + node->error);
        }
        for (auto& [k, v] : assembler->Finish()) e->values[k] = std::move(v);
        node->phase = NodePhase::kSucceeded;
        node->inputs = NodeInputs{};  // inputs are not held for finished subtasks
        PersistNodePhase(*e, *node);
        spdlog::info("exec={} node={} succeeded ({} subtasks)", exec_id, node_id, node->array->size());
        Advance(exec_id);
      });
}

void Coordinator::AbortExecution(Execution& e, const std::string& why) {
  for (NodeRun& node : e.nodes) {
    if (node.array && node.phase == NodePhase::kRunning) {
      node.array->AbortAll();
      SendAborts(e, node);
      node.phase = NodePhase::kAborted;
      PersistNodePhase(e, node);
    }
  }
  FinishExecution(e, ExecPhase::kAborted, why);
}

void Coordinator::FinishExecution(Execution& e, ExecPhase phase, std::string error) {
  if (IsTerminal(e.phase)) return;
  // Stop every other node still running (a failed node fails the workflow).
  for (NodeRun& node : e.nodes) {
    if (node.array && node.phase == NodePhase::kRunning) {
      node.array->AbortAll();
      SendAborts(e, node);
      node.phase = NodePhase::kAborted;
      PersistNodePhase(e, node);
    }
  }
  e.phase = phase;
  e.error = std::move(error);
  e.ended_ms = clock_.WallMs();
  std::vector<std::pair<std::string, std::string>> f = {
      {keys::kFieldPhase, std::string(ExecPhaseName(phase))},
      {keys::kFieldEnded, std::to_string(e.ended_ms)},
      {keys::kFieldError, e.error},
      {keys::kFieldStatus, StatusJson(e).dump()}};
  auto out = e.values.find("$outputs");
  if (out != e.values.end()) f.emplace_back(keys::kFieldOutputs, out->second);
  if (phase == ExecPhase::kSucceeded)
    spdlog::info("exec={} SUCCEEDED in {} ms", e.id, e.ended_ms - e.created_ms);
  else
    spdlog::warn("exec={} {}: {}", e.id, ExecPhaseName(phase), e.error);
  // Flush queued subtask writes first, so the execution is never terminal before its results.
  FlushOps();
  std::string id = e.id;
  if (!config_.keep_checkpoints) store_.DeleteCheckpoints(id);
  for (const NodeRun& node : e.nodes)
    redis_.Command({"DEL", keys::Unclaimed(id, node.def->id)}, [](Result<RedisReply>) {});
  store_.FinishExecution(id, f, [this, id](Status st) {
    if (!st.ok()) spdlog::error("exec={}: cannot store its end: {}", id, st.message());
    auto it = execs_.find(id);
    if (it != execs_.end() && events_) events_->Publish(id, StatusJson(*it->second).dump());
    execs_.erase(id);
  });
}

// ---------------------------------------------------------------------------------------------
// Scheduling

void Coordinator::SchedulePump() {
  if (pump_scheduled_) return;
  pump_scheduled_ = true;
  uv_idle_start(pump_idle_.get(), [](uv_idle_t* i) {
    uv_idle_stop(i);
    auto* self = static_cast<Coordinator*>(i->data);
    self->pump_scheduled_ = false;
    self->Pump();
  });
}

void Coordinator::Pump() {
  if (!ready_ || !redis_.connected()) return;  // hold dispatch while Redis is away
  std::vector<std::pair<Execution*, NodeRun*>> runnable;
  for (auto& [id, e] : execs_) {
    if (IsTerminal(e->phase)) continue;
    for (NodeRun& node : e->nodes)
      if (node.phase == NodePhase::kRunning && !node.busy && node.array && node.array->HasStartable())
        runnable.emplace_back(e.get(), &node);
  }
  if (runnable.empty()) return;
  size_t live_workers = 0;
  for (auto& [id, w] : workers_)
    if (!w.draining && w.free > 0) ++live_workers;
  if (live_workers == 0) {
    for (auto [e, node] : runnable) node->waiting = WaitingReason(*node);
    return;
  }

  std::vector<ArrayNode::Start> starts;
  bool progress = true;
  while (progress) {
    progress = false;
    for (auto& [identity, w] : workers_) {
      if (w.draining || w.free == 0) continue;
      for (size_t k = 0; k < runnable.size() && w.free > 0; ++k) {
        auto [e, node] = runnable[(rr_node_ + k) % runnable.size()];
        if (!node->array->HasStartable()) continue;
        size_t fits = Fits(View(w), Needs(*node));
        if (fits == 0) continue;
        // Share a concurrency-limited node's slots among workers instead of filling the first.
        size_t share = config_.max_batch;
        if (node->def->concurrency > 0)
          share = std::max<size_t>(1, (node->def->concurrency + live_workers - 1) / live_workers);
        size_t take = std::min<size_t>({fits, config_.max_batch, share});
        starts.clear();
        // The last system retry of an interruptible subtask goes to a non-interruptible worker.
        node->array->Next(take, &starts, MaxSystemFailures(View(w), config_.system_retries));
        if (starts.empty()) continue;
        node->waiting.clear();
        wire::WorkBatch batch;
        batch.exec = e->id;
        batch.node = node->def->id;
        batch.task = node->desc;
        batch.items.reserve(starts.size());
        for (const auto& s : starts) {
          wire::WorkItem item;
          item.index = s.index;
          item.attempt = s.attempt;
          item.args = node->inputs.ArgsFor(s.index);
          if (auto c = node->checkpoints.find(s.index); c != node->checkpoints.end()) {
            item.has_checkpoint = true;
            item.checkpoint = c->second;
          }
          batch.items.push_back(std::move(item));
          inflight_[InflightKey(e->id, node->def->id, s.index)] =
              Inflight{identity, s.attempt, node->def->requests.cpu, node->def->requests.mem_bytes};
          QueueOp(e->id, node->def->id,
                  {Store::Op::kRecord, s.index, s.attempt,
                   keys::PackRecord(node->array->Record(s.index)), ""});
        }
        w.free -= static_cast<uint32_t>(starts.size());
        w.inflight += static_cast<uint32_t>(starts.size());
        w.free_cpu -= node->def->requests.cpu * static_cast<double>(starts.size());
        w.free_mem -= node->def->requests.mem_bytes * static_cast<int64_t>(starts.size());
        Send(identity, wire::Kind::kWork, wire::EncodeBody(batch));
        progress = true;
        break;  // next worker: spread batches round-robin
      }
    }
    rr_node_++;
  }
  for (auto [e, node] : runnable)
    if (node->array->HasStartable()) node->waiting = WaitingReason(*node);
}

WorkerView Coordinator::View(const Worker& w) {
  WorkerView v;
  v.draining = w.draining;
  v.interruptible = w.hello.interruptible;
  v.cpu = w.hello.cpu;
  v.mem_bytes = w.hello.mem_bytes;
  v.free_slots = w.free;
  v.free_cpu = w.free_cpu;
  v.free_mem = w.free_mem;
  v.functions = &w.hello.functions;
  return v;
}

NodeNeeds Coordinator::Needs(const NodeRun& node) {
  NodeNeeds n;
  n.command = node.task->is_command();
  n.function = node.task->function;
  n.interruptible = node.interruptible;
  n.requests = node.def->requests;
  return n;
}

std::string Coordinator::WaitingReason(const NodeRun& node) const {
  std::vector<WorkerView> views;
  for (const auto& [id, w] : workers_) views.push_back(View(w));
  NodeNeeds needs = Needs(node);
  std::string why = fanout::WaitingReason(views, needs);
  if (why.empty() && needs.interruptible &&
      node.array->HasRetryWithSystemFailuresAbove(config_.system_retries - 1)) {
    // Its last system retry may only go to a non-interruptible worker: is there one?
    needs.interruptible = false;
    if (!fanout::WaitingReason(views, needs).empty())
      why = "the last system retry waits for a non-interruptible worker";
  }
  return why;
}

void Coordinator::Release(const Inflight& inf) {
  auto wit = workers_.find(inf.worker);
  if (wit == workers_.end()) return;
  Worker& w = wit->second;
  w.free++;
  w.inflight--;
  w.free_cpu += inf.cpu;
  w.free_mem += inf.mem;
}

void Coordinator::LoseWorker(const std::string& identity, const std::string& why) {
  auto wit = workers_.find(identity);
  if (wit == workers_.end()) return;
  std::string worker_id = wit->second.hello.worker_id;
  std::vector<std::pair<std::string, Inflight>> lost;
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    if (it->second.worker == identity) {
      lost.emplace_back(it->first, it->second);
      it = inflight_.erase(it);
    } else {
      ++it;
    }
  }
  workers_.erase(wit);
  spdlog::warn("worker {} lost ({}): {} subtask(s) re-queued as system errors", worker_id, why,
               lost.size());
  FailLost(lost, worker_id, "lost (" + why + ")");
  SchedulePump();
}

void Coordinator::OnTick() {
  int64_t now = clock_.NowMs();
  std::vector<std::string> lost;
  for (auto& [identity, w] : workers_) {
    if (now - w.last_seen_ms > config_.heartbeat_ms * config_.liveness) {
      lost.push_back(identity);
      continue;
    }
    Send(identity, wire::Kind::kHeartbeat, wire::EncodeBody(wire::Heartbeat{}));
  }
  for (const auto& id : lost) LoseWorker(id, "missed heartbeats");
  // Results whose commit failed while Redis stayed connected (an error reply such as OOM or
  // BUSY): their workers still hold them; a HELLO makes them send them again.
  if (redis_.connected()) {
    for (const auto& identity : resend_from_)
      if (workers_.contains(identity))
        Send(identity, wire::Kind::kReconnect, wire::EncodeBody(wire::Heartbeat{}));
    resend_from_.clear();
    TickCacheReservations();
  }
  // Restored attempts nobody claimed within the grace period run again, as system retries.
  std::vector<std::pair<std::string, Unclaimed>> expired;
  for (const auto& [key, u] : unclaimed_)
    if (now >= u.deadline_ms) expired.emplace_back(key, u);
  for (const auto& [key, u] : expired) {
    ForgetUnclaimed(key);
    SubtaskRef r = ParseInflightKey(key);
    FailSystem(r.exec, r.node, r.index, u.attempt, "no worker claimed it after a coordinator restart");
  }
  for (auto it = claims_.begin(); it != claims_.end();)
    it = now - it->second.at_ms > Grace() ? claims_.erase(it) : std::next(it);
  SchedulePump();
}

// ---------------------------------------------------------------------------------------------
// Redis writes

void Coordinator::QueueOp(const std::string& exec, const std::string& node, Store::Op op,
                          std::function<void(int)> done) {
  pending_ops_[{exec, node}].push_back(PendingOp{std::move(op), std::move(done)});
}

void Coordinator::FlushAcks() {
  for (auto& [identity, keys] : pending_acks_)
    Send(identity, wire::Kind::kAck, wire::EncodeBody(wire::AckBatch{std::move(keys)}));
  pending_acks_.clear();
}

void Coordinator::FlushOps() {
  FlushAcks();
  if (pending_ops_.empty()) return;
  auto batches = std::move(pending_ops_);
  pending_ops_.clear();
  for (auto& [key, pending] : batches) {
    std::vector<Store::Op> ops;
    ops.reserve(pending.size());
    std::vector<std::function<void(int)>> dones;
    dones.reserve(pending.size());
    for (auto& p : pending) {
      ops.push_back(std::move(p.op));
      dones.push_back(std::move(p.done));
    }
    store_.Apply(key.first, key.second, ops, [this, dones = std::move(dones), key](Result<std::vector<int>> r) {
      if (!r) {
        if (r.error().code() == Code::kFailedPrecondition) return Fenced();
        spdlog::error("exec={} node={}: write failed: {}", key.first, key.second, r.error().message());
        for (const auto& d : dones)
          if (d) d(-1);
        return;
      }
      for (size_t i = 0; i < dones.size(); ++i)
        if (dones[i]) dones[i]((*r)[i]);
    });
  }
}

void Coordinator::Fenced() {
  spdlog::critical("a newer coordinator has taken over (epoch {} is stale): exiting", store_.epoch());
  exit_code_ = 3;
  ready_ = false;
  uv_stop(loop_);
}

std::string Coordinator::InflightKey(std::string_view exec, std::string_view node, uint32_t index) {
  std::string k;
  k.reserve(exec.size() + node.size() + 12);
  k.append(exec);
  k.push_back('\0');
  k.append(node);
  k.push_back('\0');
  k.append(std::to_string(index));
  return k;
}

Coordinator::SubtaskRef Coordinator::ParseInflightKey(const std::string& key) {
  size_t a = key.find('\0'), b = key.find('\0', a + 1);
  return SubtaskRef{key.substr(0, a), key.substr(a + 1, b - a - 1),
                    static_cast<uint32_t>(std::stoul(key.substr(b + 1)))};
}

Execution* Coordinator::FindExec(const std::string& id) {
  auto it = execs_.find(id);
  return it == execs_.end() ? nullptr : it->second.get();
}

}  // namespace fanout
