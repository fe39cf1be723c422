#include "coordinator/http_backend.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "coordinator/core.h"
#include "coordinator/keys.h"

namespace fanout {
namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// Identities the backend makes up for its ClientApi requests. A ROUTER's own identities are 5
// bytes starting with a zero byte, so a longer one with that prefix can never be a peer's.
constexpr std::string_view kIdentityPrefix{"\0http-", 6};
// An ended execution's grid never changes; it is kept this long for its viewers.
constexpr int64_t kEndedGridReuseMs = 60'000;
constexpr size_t kMaxGrids = 64;
constexpr uint64_t kDefaultIndexLimit = 1000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now().time_since_epoch()).count();
}

HttpAnswer Error(int status, const std::string& message) {
  return HttpAnswer{status, Json{{"error", message}}.dump()};
}

HttpAnswer ErrorOf(const Status& s) { return Error(HttpStatusFor(s.code()), s.message()); }

std::string GridKey(const std::string& exec, const std::string& node, bool live) {
  return exec + std::string(1, '\0') + node + (live ? "\1" : "\2");
}

// The answer for window or phase query q over the encoded phases of a whole node.
HttpAnswer GridAnswer(const HttpQuery& q, const std::string& phases, bool live) {
  SubtaskGrid g;
  g.execution = q.exec;
  g.node = q.node;
  g.size = phases.size();
  g.live = live;
  g.offset = std::min<uint64_t>(q.offset, phases.size());
  if (q.phase) {
    g.has_indices = true;
    uint64_t limit = q.limit == UINT64_MAX ? kDefaultIndexLimit : q.limit;
    char want = SubtaskGrid::CharOf(*q.phase, false);
    for (size_t i = g.offset; i < phases.size() && g.indices.size() < limit; ++i) {
      char c = phases[i];
      if (c == want || (*q.phase == SubtaskPhase::kSucceeded && c == SubtaskGrid::kCachedChar))
        g.indices.push_back(static_cast<uint32_t>(i));
    }
  } else {
    g.phases = phases.substr(g.offset, std::min<uint64_t>(q.limit, phases.size() - g.offset));
  }
  return HttpAnswer{200, g.ToJson().dump()};
}

// Attempts started for a record, and the latest attempt that ended (nullopt: none).
std::pair<uint32_t, std::optional<uint32_t>> AttemptsOf(const SubtaskRecord& rec) {
  auto phase = static_cast<SubtaskPhase>(rec.phase);
  if (rec.cached && phase == SubtaskPhase::kSucceeded) return {0, std::nullopt};
  switch (phase) {
    case SubtaskPhase::kQueued:
    case SubtaskPhase::kWaitingForCache:
    case SubtaskPhase::kRetrying:
      // `attempt` is the next attempt to run.
      return {rec.attempt, rec.attempt > 0 ? std::optional<uint32_t>(rec.attempt - 1u) : std::nullopt};
    case SubtaskPhase::kRunning:
      return {rec.attempt + 1u, rec.attempt > 0 ? std::optional<uint32_t>(rec.attempt - 1u) : std::nullopt};
    default:
      return {rec.attempt + 1u, rec.attempt};
  }
}

}  // namespace

int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kNotFound: return 404;
    case Code::kFailedPrecondition: return 409;
    case Code::kUnavailable: return 503;
    case Code::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

HttpBackend::HttpBackend(uv_loop_t* loop, CoordinatorCore& core) : loop_(loop), core_(core) {
  uv_async_init(loop_, wake_.get(), [](uv_async_t* a) { static_cast<HttpBackend*>(a->data)->OnWake(); });
  wake_->data = this;
}

HttpBackend::~HttpBackend() { Close(); }

void HttpBackend::Close() {
  std::deque<Pending> left;
  {
    std::lock_guard lk(mu_);
    closed_ = true;
    left.swap(queue_);
  }
  snapshot_cv_.notify_all();
  for (Pending& p : left) p.done(Error(503, "the coordinator is stopping"));
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& [identity, done] : waiting) done(Error(503, "the coordinator is stopping"));
}

std::shared_ptr<const HttpSnapshot> HttpBackend::Snapshot(std::chrono::milliseconds max_age,
                                                          std::chrono::milliseconds wait) {
  std::unique_lock lk(mu_);
  auto asked = SteadyClock::now();
  if (snapshot_ && asked - snapshot_->taken <= max_age) return snapshot_;
  if (closed_) return snapshot_;
  if (!snapshot_wanted_) {
    snapshot_wanted_ = true;
    uv_async_send(wake_.get());
  }
  snapshot_cv_.wait_until(lk, asked + wait, [&] { return closed_ || (snapshot_ && snapshot_->taken >= asked); });
  return snapshot_;
}

void HttpBackend::Ask(HttpQuery q, std::function<void(HttpAnswer)> done) {
  {
    std::lock_guard lk(mu_);
    if (!closed_) {
      queue_.push_back(Pending{std::move(q), std::move(done)});
      uv_async_send(wake_.get());
      return;
    }
  }
  done(Error(503, "the coordinator is stopping"));
}

void HttpBackend::OnWake() {
  std::deque<Pending> batch;
  bool want_snapshot;
  {
    std::lock_guard lk(mu_);
    batch.swap(queue_);
    want_snapshot = std::exchange(snapshot_wanted_, false);
  }
  if (want_snapshot) BuildSnapshot();
  for (Pending& p : batch) Run(std::move(p));
}

void HttpBackend::BuildSnapshot() {
  Gauges g = core_.ReadGauges();
  ReadProcessMemory(g);
  auto snap = std::make_shared<HttpSnapshot>();
  snap->taken = SteadyClock::now();
  snap->ready = g.ready;
  snap->redis = g.redis_connected;
  snap->metrics = core_.metrics().Render(g);
  ++snapshots_built_;
  {
    std::lock_guard lk(mu_);
    snapshot_ = std::move(snap);
  }
  snapshot_cv_.notify_all();
}

void HttpBackend::Run(Pending p) {
  const HttpQuery& q = p.query;
  auto query = [&](wire::Kind kind) {
    ViaClientApi(kind, wire::EncodeBody(wire::QueryRequest{0, q.exec}), std::move(p.done));
  };
  switch (q.kind) {
    case HttpQuery::kList: return query(wire::Kind::kList);
    case HttpQuery::kStatus: return query(wire::Kind::kStatus);
    case HttpQuery::kOutputs: return query(wire::Kind::kOutputs);
    case HttpQuery::kWorkers: return query(wire::Kind::kWorkers);
    case HttpQuery::kLogs:
      return ViaClientApi(wire::Kind::kLogs, wire::EncodeBody(wire::LogsRequest{0, q.exec, q.node, q.index, q.attempt}),
                          std::move(p.done));
    case HttpQuery::kSubtasks: return Subtasks(q, std::move(p.done));
    case HttpQuery::kSubtask: return Subtask(q, std::move(p.done));
  }
}

void HttpBackend::ViaClientApi(wire::Kind kind, std::string body, std::function<void(HttpAnswer)> done) {
  std::string identity = std::string(kIdentityPrefix) + std::to_string(next_id_++);
  waiting_.emplace(identity, std::move(done));  // before: ClientApi may answer at once
  core_.api().OnRequest(identity, kind, body);
}

bool HttpBackend::TakeReply(const std::string& identity, wire::Kind kind, const std::string& body) {
  if (!identity.starts_with(kIdentityPrefix)) return false;
  auto it = waiting_.find(identity);
  if (it == waiting_.end() || kind != wire::Kind::kReply) return true;  // ours, nobody waits: dropped
  auto done = std::move(it->second);
  waiting_.erase(it);
  auto reply = wire::DecodeBody<wire::Reply>(body);
  if (!reply) {
    done(Error(500, "undecodable reply: " + reply.error().message()));
  } else if (reply->code != static_cast<uint8_t>(Code::kOk)) {
    done(Error(HttpStatusFor(static_cast<Code>(reply->code)), reply->error));
  } else {
    done(HttpAnswer{200, std::move(reply->json)});
  }
  return true;
}

std::shared_ptr<const std::string> HttpBackend::CachedGrid(const std::string& key, int64_t now_ms) {
  auto it = grids_.find(key);
  if (it == grids_.end()) return nullptr;
  int64_t reuse = key.back() == '\1' ? kGridReuseMs : kEndedGridReuseMs;
  if (now_ms - it->second.built_ms > reuse) return nullptr;
  return it->second.phases;
}

void HttpBackend::Subtasks(const HttpQuery& q, std::function<void(HttpAnswer)> done) {
  int64_t now = NowMs();
  if (grids_.size() > kMaxGrids) std::erase_if(grids_, [&](const auto& kv) { return now - kv.second.built_ms > kGridReuseMs; });
  if (Execution* e = core_.executions().Find(q.exec)) {
    NodeRun* node = e->FindNode(q.node);
    if (node == nullptr) return done(Error(404, "execution " + q.exec + " has no node '" + q.node + "'"));
    if (!node->array) return done(GridAnswer(q, "", true));  // not started
    std::string key = GridKey(q.exec, q.node, true);
    std::shared_ptr<const std::string> phases = CachedGrid(key, now);
    if (!phases) {
      const ArrayNode& a = *node->array;
      auto s = std::make_shared<std::string>(a.size(), 'q');
      for (uint32_t i = 0; i < a.size(); ++i) {
        SubtaskRecord rec = a.Record(i);
        (*s)[i] = SubtaskGrid::CharOf(static_cast<SubtaskPhase>(rec.phase), rec.cached);
      }
      phases = s;
      grids_[key] = Grid{now, phases};
      ++grids_built_;
    }
    return done(GridAnswer(q, *phases, true));
  }
  std::string key = GridKey(q.exec, q.node, false);
  if (auto phases = CachedGrid(key, now)) return done(GridAnswer(q, *phases, false));
  StoredNode(q.exec, q.node, [this, q, key, done = std::move(done)](Result<NodeStatus> n) mutable {
    if (!n) return done(ErrorOf(n.error()));
    uint32_t size = static_cast<uint32_t>(n->size);
    if (size == 0) return done(GridAnswer(q, "", false));
    core_.store().LoadRecords(q.exec, q.node, size, [this, q, key, done = std::move(done)](Result<std::vector<uint16_t>> r) {
      if (!r) return done(ErrorOf(r.error()));
      auto s = std::make_shared<std::string>(r->size(), 'q');
      for (size_t i = 0; i < r->size(); ++i) {
        SubtaskRecord rec = UnpackRecord((*r)[i]);
        (*s)[i] = SubtaskGrid::CharOf(static_cast<SubtaskPhase>(rec.phase), rec.cached);
      }
      grids_[key] = Grid{NowMs(), s};
      ++grids_built_;
      done(GridAnswer(q, *s, false));
    });
  });
}

void HttpBackend::StoredNode(const std::string& exec, const std::string& node,
                             std::function<void(Result<NodeStatus>)> done) {
  core_.store().GetExecFields(exec, {keys::kFieldStatus, keys::kFieldPhase}, [exec, node, done = std::move(done)](auto r) {
    if (!r) return done(Err(r.error()));
    if (!(*r)[1]) return done(Err(NotFound("no execution '" + exec + "'")));
    if (!(*r)[0]) return done(Err(Unavailable("execution '" + exec + "' is not loaded yet")));
    auto j = Json::parse(*(*r)[0], nullptr, false);
    auto status = ExecutionStatus::FromJson(j);
    if (!status) return done(Err(Internal("stored status: " + status.error().message())));
    for (NodeStatus& n : status->nodes)
      if (n.id == node) return done(std::move(n));
    done(Err(NotFound("execution " + exec + " has no node '" + node + "'")));
  });
}

void HttpBackend::Subtask(const HttpQuery& q, std::function<void(HttpAnswer)> done) {
  // The record and error are known here; the log tail comes from the store.
  auto with_log = [this](SubtaskDetail d, std::optional<uint32_t> log_attempt, std::function<void(HttpAnswer)> done) {
    if (!log_attempt) return done(HttpAnswer{200, d.ToJson().dump()});
    d.log_attempt = *log_attempt;
    // The key is copied first: the callback below takes `d` by move, and the order in which
    // arguments are evaluated is unspecified (g++ moved it before reading the key).
    std::string exec = d.execution, node = d.node;
    uint32_t index = d.index;
    core_.store().GetLog(exec, node, index, *log_attempt,
                         [d = std::move(d), done = std::move(done)](Result<std::optional<std::string>> log) mutable {
                           if (log && *log) {
                             d.log_found = true;
                             d.log_bytes = (*log)->size();
                             size_t keep = std::min((*log)->size(), SubtaskDetail::kLogTailBytes);
                             d.log_tail = (*log)->substr((*log)->size() - keep);
                           }
                           done(HttpAnswer{200, d.ToJson().dump()});
                         });
  };
  auto fill = [](SubtaskDetail& d, const SubtaskRecord& rec) {
    d.phase = static_cast<SubtaskPhase>(rec.phase);
    d.attempts = AttemptsOf(rec).first;
    d.system_failures = rec.system_failures;
    d.cached = rec.cached;
    return AttemptsOf(rec).second;
  };
  auto out_of_range = [node = q.node, index = q.index](uint64_t size) {
    return Error(400, fmt::format("index {} is out of range: node '{}' has {} subtask(s)", index, node, size));
  };
  SubtaskDetail d;
  d.execution = q.exec;
  d.node = q.node;
  d.index = q.index;
  if (Execution* e = core_.executions().Find(q.exec)) {
    NodeRun* node = e->FindNode(q.node);
    if (node == nullptr) return done(Error(404, "execution " + q.exec + " has no node '" + q.node + "'"));
    if (!node->array) return done(Error(409, "node '" + q.node + "' has not started"));
    if (q.index >= node->array->size()) return done(out_of_range(node->array->size()));
    d.live = true;
    std::optional<uint32_t> log_attempt = fill(d, node->array->Record(q.index));
    if (d.phase == SubtaskPhase::kFailed) {
      for (const auto& [msg, indices] : node->array->failures())
        if (std::find(indices.begin(), indices.end(), q.index) != indices.end()) d.error = msg;
    }
    return with_log(std::move(d), log_attempt, std::move(done));
  }
  StoredNode(q.exec, q.node, [this, q, d, with_log, fill, out_of_range, done = std::move(done)](Result<NodeStatus> n) mutable {
    if (!n) return done(ErrorOf(n.error()));
    if (q.index >= n->size) return done(out_of_range(n->size));
    for (const FailedSubtask& f : n->failed)
      if (f.index == q.index) d.error = f.error;
    core_.store().LoadRecord(q.exec, q.node, q.index,
                             [d, with_log, fill, done = std::move(done)](Result<SubtaskRecord> rec) mutable {
                               if (!rec) return done(ErrorOf(rec.error()));
                               std::optional<uint32_t> log_attempt = fill(d, *rec);
                               with_log(std::move(d), log_attempt, std::move(done));
                             });
  });
}

}  // namespace fanout
