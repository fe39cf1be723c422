#include "worker/worker.h"

#include <fmt/ranges.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "worker/builtins.h"
#include "worker/checkpoint.h"
#include "worker/function_runner.h"
#include "worker/task_io.h"

extern char** environ;

namespace fanout::worker {
namespace {

constexpr int64_t kInitialBackoffMs = 250;
constexpr int64_t kMaxBackoffMs = 5000;
constexpr uint64_t kDrainAckWaitMs = 10000;
constexpr size_t kMaxResultsPerBatch = 1024;
// Well under wire::kMaxBodyBytes: results carry checkpoints of up to --max-checkpoint-bytes.
constexpr size_t kMaxResultBatchBytes = 64u << 20;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* OutcomeName(wire::Outcome o) {
  switch (o) {
    case wire::Outcome::kSucceeded:
      return "succeeded";
    case wire::Outcome::kUserError:
      return "user error";
    case wire::Outcome::kNonRetryable:
      return "non-retryable error";
    case wire::Outcome::kSystemError:
      return "system error";
    case wire::Outcome::kAborted:
      return "aborted";
  }
  return "?";
}

wire::ResultItem ToResultItem(const wire::SubtaskKey& key, TaskOutcome outcome, int64_t started_ms,
                              int64_t ended_ms) {
  wire::ResultItem r;
  r.key = key;
  r.outcome = static_cast<uint8_t>(outcome.outcome);
  r.outputs = std::move(outcome.outputs);
  r.error = std::move(outcome.error);
  r.started_ms = started_ms;
  r.ended_ms = ended_ms;
  if (outcome.checkpoint) {
    r.has_checkpoint = true;
    r.checkpoint = std::move(*outcome.checkpoint);
  }
  r.log = std::move(outcome.log);
  return r;
}

// The directory below which attempts get their scratch directories, private to this user:
// `configured` (created 0700 when missing; when it exists it must be a real directory owned by
// us, and is made 0700), or a new $TMPDIR/fanout-worker-ID-XXXXXX (mkdtemp: never an existing
// one, so no other user can have prepared it).
Result<std::string> PrepareScratchRoot(const std::string& configured, const std::string& id) {
  if (configured.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
    std::string tmpl = dir + "/fanout-worker-" + id + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      return Err(Internal("cannot create a scratch directory in " + dir + ": " +
                          std::strerror(errno)));
    }
    return tmpl;
  }
  std::filesystem::path root(configured);
  std::error_code ec;
  if (root.has_parent_path()) std::filesystem::create_directories(root.parent_path(), ec);
  if (mkdir(root.c_str(), 0700) != 0 && errno != EEXIST) {
    return Err(Internal("cannot create the scratch directory " + configured + ": " +
                        std::strerror(errno)));
  }
  struct stat st{};
  if (lstat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
    return Err(Internal("the scratch directory " + configured +
                        " is not a directory of this user (a symlink or someone else's?)"));
  }
  if ((st.st_mode & 0777) != 0700 && chmod(root.c_str(), 0700) != 0) {
    return Err(Internal("cannot make " + configured + " private: " + std::strerror(errno)));
  }
  return configured;
}

std::string Hostname() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) return "";
  return host;
}

}  // namespace

Worker::Worker(uv_loop_t* loop, WorkerConfig config, PluginRegistry plugins)
    : loop_(loop),
      config_(std::move(config)),
      plugins_(std::move(plugins)),
      ctx_(1),
      heartbeat_ms_(config_.heartbeat_ms),
      backoff_ms_(kInitialBackoffMs) {
  char cwd[4096];
  size_t len = sizeof(cwd);
  if (uv_cwd(cwd, &len) == 0) command_options_.cwd.assign(cwd, len);
  command_options_.kill_grace_ms = config_.kill_grace_ms;
  command_options_.task_env = config_.task_env;
  command_options_.max_checkpoint_bytes = config_.max_checkpoint_bytes;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    command_options_.base_env.emplace_back(*e);
  }
}

Worker::~Worker() {
  watcher_.reset();
  socket_.reset();
}

std::vector<wire::FunctionInfo> Worker::Offers() const {
  std::vector<wire::FunctionInfo> offers;
  for (const std::string& name : BuiltinNames()) offers.push_back({name, "fanout-" FANOUT_VERSION, ""});
  for (const auto& [name, fn] : plugins_.functions()) offers.push_back({name, fn.build, fn.signature});
  return offers;
}

std::vector<std::string> Worker::Functions() const {
  std::vector<std::string> names;
  for (wire::FunctionInfo& f : Offers()) names.push_back(std::move(f.name));
  return names;
}

int Worker::Run() {
  auto lifeline = Lifeline::Create();
  if (!lifeline) {
    spdlog::error("{}", lifeline.error().message());
    return 1;
  }
  lifeline_ = std::move(*lifeline);
  command_options_.lifeline_fd = lifeline_->read_fd();
  command_options_.shim_exe = TaskShimExe();
  auto scratch = PrepareScratchRoot(config_.scratch, config_.id);
  if (!scratch) {
    spdlog::error("{}", scratch.error().message());
    return 1;
  }
  config_.scratch = *scratch;
  command_options_.scratch_root = config_.scratch;
  std::error_code ec;
  uv_timer_init(loop_, heartbeat_timer_.get());
  heartbeat_timer_->data = this;
  uv_timer_init(loop_, reconnect_timer_.get());
  reconnect_timer_->data = this;
  uv_timer_init(loop_, drain_timer_.get());
  drain_timer_->data = this;
  uv_timer_init(loop_, exit_timer_.get());
  exit_timer_->data = this;
  uv_prepare_init(loop_, flush_prepare_.get());
  flush_prepare_->data = this;
  uv_prepare_start(flush_prepare_.get(),
                   [](uv_prepare_t* p) { static_cast<Worker*>(p->data)->Flush(); });
  uv_check_init(loop_, flush_check_.get());
  flush_check_->data = this;
  uv_check_start(flush_check_.get(), [](uv_check_t* c) { static_cast<Worker*>(c->data)->Flush(); });
  auto start_signal = [this](UvHandle<uv_signal_t>& h, int sig) {
    uv_signal_init(loop_, h.get());
    h->data = this;
    uv_signal_start(
        h.get(),
        [](uv_signal_t* s, int signum) { static_cast<Worker*>(s->data)->OnSignal(signum); }, sig);
  };
  start_signal(sigterm_, SIGTERM);
  start_signal(sigint_, SIGINT);

  spdlog::info(
      "worker {} starting: coordinator {}, {} slots ({} for commands), functions [{}], task "
      "shim {}",
      config_.id, config_.coordinator, config_.slots, CommandSlots(), fmt::join(Functions(), ", "),
      command_options_.shim_exe);
  Connect();
  RestartHeartbeatTimer();
  uv_run(loop_, UV_RUN_DEFAULT);

  // Give the last messages (results, BYE) a moment to leave.
  watcher_.reset();
  if (socket_) {
    socket_->set(zmq::sockopt::linger, welcomed_ ? 1000 : 0);
    socket_->close();
    socket_.reset();
  }
  ctx_.close();
  std::filesystem::remove_all(config_.scratch, ec);
  spdlog::info("worker {} exiting with code {}", config_.id, exit_code_);
  return exit_code_;
}

// ---- connection -------------------------------------------------------------------------

void Worker::Connect() {
  socket_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
  socket_->set(zmq::sockopt::linger, 0);
  socket_->set(zmq::sockopt::maxmsgsize, config_.max_message_bytes);
  socket_->set(zmq::sockopt::routing_id, config_.id + "-" + std::to_string(++connection_seq_));
  if (config_.curve) ApplyCurveClient(*socket_, *config_.curve);
  socket_->connect(config_.coordinator);
  watcher_ = std::make_unique<ZmqWatcher>(
      loop_, *socket_, [this](std::vector<zmq::message_t>& frames) { OnMessage(frames); });
  welcomed_ = false;
  last_recv_ms_ = uv_now(loop_);
  spdlog::info("connecting to {} (connection {}, {})", config_.coordinator, connection_seq_,
               config_.curve ? "CURVE, key " + config_.curve->own.public_z85 : std::string("no keys"));
  SendHello();
}

void Worker::Disconnect() {
  watcher_.reset();
  socket_.reset();
  welcomed_ = false;
}

void Worker::ScheduleReconnect() {
  int64_t delay = backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, kMaxBackoffMs);
  spdlog::info("reconnecting in {} ms", delay);
  uv_timer_start(
      reconnect_timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<Worker*>(t->data);
        if (!self->socket_) self->Connect();
      },
      static_cast<uint64_t>(delay), 0);
}

bool Worker::Send(wire::Kind kind, const std::string& body) {
  if (!socket_) return false;
  bool ok = SendFrames(*socket_, {wire::Header(kind), body});
  watcher_->Poke();
  if (!ok) spdlog::debug("could not send {} (no connection)", wire::KindName(kind));
  return ok;
}

void Worker::SendHello() {
  wire::Hello h;
  h.worker_id = config_.id;
  h.slots = config_.slots;
  h.command_slots = CommandSlots();
  h.function_info = Offers();
  for (const wire::FunctionInfo& f : h.function_info) h.functions.push_back(f.name);
  h.labels = config_.labels;
  h.cpu = config_.cpu;
  h.mem_bytes = config_.mem_bytes;
  h.interruptible = config_.interruptible;
  for (const auto& [key, r] : running_) h.running.push_back(key);
  for (const auto& q : queue_) h.running.push_back(q.key);
  h.held = results_.HeldKeys();
  h.pid = getpid();
  h.host = Hostname();
  h.reports_started = true;
  Send(wire::Kind::kHello, wire::EncodeBody(h));
}

void Worker::SendHeartbeat(wire::Kind kind) {
  wire::Heartbeat hb;
  hb.worker_id = config_.id;
  hb.running = static_cast<uint32_t>(running_.size() + queue_.size());
  hb.held = static_cast<uint32_t>(results_.held());
  hb.draining = state_ != State::kServing;
  Send(kind, wire::EncodeBody(hb));
}

void Worker::RestartHeartbeatTimer() {
  uv_timer_start(
      heartbeat_timer_.get(),
      [](uv_timer_t* t) { static_cast<Worker*>(t->data)->OnHeartbeatTimer(); },
      static_cast<uint64_t>(heartbeat_ms_), static_cast<uint64_t>(heartbeat_ms_));
}

void Worker::OnHeartbeatTimer() {
  if (!socket_) return;  // waiting for the reconnect timer
  uint64_t silent = uv_now(loop_) - last_recv_ms_;
  if (silent >= static_cast<uint64_t>(config_.liveness * heartbeat_ms_) && InputWaiting()) {
    // The loop itself was held up (a loaded machine: timers run before poll reads the socket):
    // the coordinator has spoken, we have not listened yet. Listen first.
    watcher_->Poke();
    return;
  }
  if (silent >= static_cast<uint64_t>(config_.liveness * heartbeat_ms_)) {
    spdlog::warn(
        "no message from the coordinator for {} ms: reconnecting ({} results held, "
        "{} attempts running)",
        silent, results_.held(), running_.size() + queue_.size());
    Disconnect();
    ScheduleReconnect();
    return;
  }
  if (welcomed_) SendHeartbeat(wire::Kind::kHeartbeat);
}

bool Worker::InputWaiting() const {
  try {
    return (socket_->get(zmq::sockopt::events) & ZMQ_POLLIN) != 0;
  } catch (const zmq::error_t&) {
    return false;
  }
}

void Worker::OnMessage(std::vector<zmq::message_t>& frames) {
  if (frames.size() != 2) {
    ++dropped_messages_;
    spdlog::warn("dropped a message of {} frames (expected 2; {} dropped so far)", frames.size(),
                 dropped_messages_);
    return;
  }
  auto kind = wire::ParseHeader(frames[0].to_string_view());
  if (!kind) {
    ++dropped_messages_;
    spdlog::warn("dropped a message: {} ({} dropped so far)", kind.error().message(),
                 dropped_messages_);
    return;
  }
  last_recv_ms_ = uv_now(loop_);
  std::string_view body = frames[1].to_string_view();
  auto bad = [&](const Status& st) {
    ++dropped_messages_;
    spdlog::warn("dropped a {} message: {} ({} dropped so far)", wire::KindName(*kind),
                 st.message(), dropped_messages_);
  };
  switch (*kind) {
    case wire::Kind::kWelcome: {
      auto w = wire::DecodeBody<wire::Welcome>(body);
      if (!w) return bad(w.error());
      OnWelcome(*w);
      break;
    }
    case wire::Kind::kHeartbeat:
      break;  // life
    case wire::Kind::kWork: {
      auto b = wire::DecodeBody<wire::WorkBatch>(body);
      if (!b) return bad(b.error());
      OnWork(std::move(*b));
      break;
    }
    case wire::Kind::kAck: {
      auto a = wire::DecodeBody<wire::AckBatch>(body);
      if (!a) return bad(a.error());
      OnAck(*a);
      break;
    }
    case wire::Kind::kAbort: {
      auto a = wire::DecodeBody<wire::AckBatch>(body);
      if (!a) return bad(a.error());
      OnAbort(*a);
      break;
    }
    case wire::Kind::kReconnect:
      spdlog::info("the coordinator asks for a new HELLO");
      welcomed_ = false;
      SendHello();
      break;
    default:
      bad(InvalidArgument("not a coordinator-to-worker message"));
  }
}

void Worker::OnWelcome(const wire::Welcome& w) {
  welcomed_ = true;
  backoff_ms_ = kInitialBackoffMs;
  if (w.heartbeat_ms > 0 && w.heartbeat_ms != heartbeat_ms_) {
    heartbeat_ms_ = w.heartbeat_ms;
    RestartHeartbeatTimer();
  }
  results_.ResendAll();
  spdlog::info("welcomed by coordinator epoch {} (heartbeat {} ms); re-sending {} held results",
               w.epoch, heartbeat_ms_, results_.held());
  if (state_ != State::kServing) SendHeartbeat(wire::Kind::kHeartbeat);
}

bool Worker::IsKnown(const wire::SubtaskKey& key) const {
  return running_.count(key) != 0 || queued_keys_.count(key) != 0;
}

void Worker::OnWork(wire::WorkBatch batch) {
  auto task = std::make_shared<const wire::TaskDesc>(std::move(batch.task));
  for (auto& item : batch.items) {
    wire::SubtaskKey key{batch.exec, batch.node, item.index, item.attempt};
    if (IsKnown(key)) {
      spdlog::debug("{} duplicate WORK ignored: already running", KeyLog(key));
      continue;
    }
    if (results_.Resend(key)) {
      spdlog::debug("{} duplicate WORK: re-sending the held result", KeyLog(key));
      continue;
    }
    if (state_ != State::kServing) {
      ReportNow(key, TaskOutcome::Failure(wire::Outcome::kSystemError, "worker draining"));
      continue;
    }
    std::optional<std::string> checkpoint;
    if (item.has_checkpoint) checkpoint = std::move(item.checkpoint);
    queued_keys_.insert(key);
    queue_.push_back(Queued{task, std::move(key), std::move(item.args), std::move(checkpoint)});
  }
  StartQueued();
}

void Worker::OnAck(const wire::AckBatch& acks) {
  for (const auto& key : acks.keys) {
    if (!results_.Ack(key)) spdlog::debug("{} ACK of no held result", KeyLog(key));
  }
}

void Worker::OnAbort(const wire::AckBatch& aborts) {
  for (const auto& key : aborts.keys) {
    if (auto it = running_.find(key); it != running_.end()) {
      spdlog::info("{} aborting", KeyLog(key));
      it->second.runner->Cancel(wire::Outcome::kAborted, "aborted");
      continue;
    }
    auto q =
        std::find_if(queue_.begin(), queue_.end(), [&](const Queued& x) { return x.key == key; });
    if (q != queue_.end()) {
      queued_keys_.erase(q->key);
      queue_.erase(q);
      spdlog::info("{} aborted before it started", KeyLog(key));
      ReportNow(key, TaskOutcome::Failure(wire::Outcome::kAborted, "aborted"));
    }
  }
}

// ---- attempts -------------------------------------------------------------------------------

uint32_t Worker::CommandSlots() const { return std::min(config_.command_slots, config_.slots); }

void Worker::StartQueued() {
  if (starting_) return;  // a runner that ends inside Start() re-enters here
  starting_ = true;
  while (running_.size() < config_.slots) {
    // Take what fits the free slots now, name it in one STARTED, then start it: the
    // coordinator learns of a start before the attempt can take this process down.
    std::vector<Queued> batch;
    size_t free = config_.slots - running_.size();
    uint32_t commands = running_commands_;
    for (auto it = queue_.begin(); it != queue_.end() && batch.size() < free;) {
      bool command = it->task->kind == static_cast<uint8_t>(wire::TaskKind::kCommand);
      if (command && commands >= CommandSlots()) {
        ++it;
        continue;
      }
      if (command) ++commands;
      queued_keys_.erase(it->key);
      batch.push_back(std::move(*it));
      it = queue_.erase(it);
    }
    if (batch.empty()) break;
    ReportStarted(batch);
    for (Queued& item : batch) StartItem(std::move(item));
  }
  starting_ = false;
}

void Worker::ReportStarted(const std::vector<Queued>& batch) {
  if (!socket_ || !welcomed_) return;  // a HELLO names them as running when we are back
  wire::StartedBatch started;
  auto send = [&] {
    if (!started.indices.empty()) Send(wire::Kind::kStarted, wire::EncodeBody(started));
    started.indices.clear();
    started.attempts.clear();
  };
  for (const Queued& q : batch) {
    if (q.key.exec != started.exec || q.key.node != started.node) {
      send();
      started.exec = q.key.exec;
      started.node = q.key.node;
    }
    started.indices.push_back(q.key.index);
    started.attempts.push_back(q.key.attempt);
  }
  send();
}

void Worker::StartItem(Queued item) {
  const wire::TaskDesc& task = *item.task;
  wire::SubtaskKey key = item.key;
  DoneFn done = [this, key](TaskOutcome o) { OnTaskDone(key, std::move(o)); };
  CheckpointFn save = [this, key](std::string bytes) { SendCheckpoint(key, std::move(bytes)); };
  std::unique_ptr<TaskRunner> runner;
  auto system_error = [&](std::string msg) {
    spdlog::warn("{} cannot start task {}: {}", KeyLog(key), task.name, msg);
    ReportNow(key, TaskOutcome::Failure(wire::Outcome::kSystemError, std::move(msg)));
  };

  if (task.kind == static_cast<uint8_t>(wire::TaskKind::kCommand) || IsBuiltin(task.function)) {
    auto args = DecodeArgs(task, item.args);
    if (!args) return system_error(args.error().message());
    if (task.kind == static_cast<uint8_t>(wire::TaskKind::kCommand)) {
      runner = std::make_unique<CommandRunner>(loop_, command_options_, item.task, key,
                                               std::move(*args), std::move(done),
                                               std::move(item.checkpoint), std::move(save));
    } else {
      runner = MakeBuiltinRunner(loop_, item.task, std::move(*args), std::move(done));
    }
  } else if (task.kind == static_cast<uint8_t>(wire::TaskKind::kFunction)) {
    const PluginFunction* fn = plugins_.Find(task.function);
    if (fn == nullptr) {
      return system_error("function '" + task.function +
                          "' is not available on this worker (loaded: " +
                          fmt::format("{}", fmt::join(Functions(), ", ")) + ")");
    }
    runner = std::make_unique<FunctionRunner>(
        loop_, item.task, fn, std::move(item.args), key.attempt, std::move(done),
        std::move(item.checkpoint),
        EffectiveCheckpointCap(task.max_checkpoint_bytes, config_.max_checkpoint_bytes),
        std::move(save));
  } else {
    return system_error("unknown task kind " + std::to_string(task.kind));
  }
  spdlog::debug("{} starting task {}", KeyLog(key), task.name);
  TaskRunner* r = runner.get();
  bool command = task.kind == static_cast<uint8_t>(wire::TaskKind::kCommand);
  running_.emplace(key, Running{std::move(runner), WallMs(), command});
  if (command) ++running_commands_;
  r->Start();
}

void Worker::OnTaskDone(const wire::SubtaskKey& key, TaskOutcome outcome) {
  auto it = running_.find(key);
  CHECK(it != running_.end());
  bool succeeded = outcome.outcome == wire::Outcome::kSucceeded;
  wire::ResultItem r = ToResultItem(key, std::move(outcome), it->second.started_ms, WallMs());
  if (succeeded) {
    spdlog::debug("{} succeeded in {} ms", KeyLog(key), r.ended_ms - r.started_ms);
  } else {
    spdlog::info("{} {}: {}", KeyLog(key), OutcomeName(static_cast<wire::Outcome>(r.outcome)), r.error);
  }
  finished_.push_back(std::move(it->second.runner));
  if (it->second.command) --running_commands_;
  running_.erase(it);
  results_.Add(std::move(r));
  if (state_ == State::kServing) StartQueued();
}

void Worker::ReportNow(const wire::SubtaskKey& key, TaskOutcome outcome) {
  int64_t now = WallMs();
  results_.Add(ToResultItem(key, std::move(outcome), now, now));
}

void Worker::SendCheckpoint(const wire::SubtaskKey& key, std::string bytes) {
  if (running_.count(key) == 0) return;
  if (!socket_ || !welcomed_) {
    spdlog::debug("{} checkpoint of {} bytes not sent (not connected)", KeyLog(key), bytes.size());
    return;
  }
  spdlog::debug("{} sending a checkpoint of {} bytes", KeyLog(key), bytes.size());
  Send(wire::Kind::kCheckpoint, wire::EncodeBody(wire::CheckpointSave{key, std::move(bytes)}));
}

// Runs twice per loop turn. Before poll (prepare): results made by timer callbacks, such as
// builtin.sleep_ms, would otherwise wait in memory until the next wake-up (a heartbeat away),
// and with them the coordinator's next WORK. After poll (check): results made by I/O callbacks
// leave in the same turn.
void Worker::Flush() {
  finished_.clear();
  if (socket_ && welcomed_) {
    while (results_.has_unsent()) {
      wire::ResultBatch batch;
      batch.results = results_.TakeBatch(kMaxResultsPerBatch, kMaxResultBatchBytes);
      if (batch.results.empty()) break;
      if (!Send(wire::Kind::kResult, wire::EncodeBody(batch))) {
        results_.ResendAll();  // kept; retried next turn or after the next WELCOME
        break;
      }
    }
  }
  if (state_ == State::kDraining) MaybeFinishDrain();
  if (state_ == State::kShuttingDown && running_.empty() && !exiting_) Exit(1);
}

// ---- drain and shutdown -------------------------------------------------------------------

void Worker::OnSignal(int signum) {
  if (state_ == State::kServing && config_.interruptible) {
    // An interruptible (spot) worker that gets SIGTERM is being preempted: there is no time to
    // finish. Hand every attempt back as a system error so the coordinator retries it elsewhere.
    spdlog::warn("signal {}: preempted, handing back {} running and {} queued attempts", signum,
                 running_.size(), queue_.size());
    state_ = State::kDraining;
    if (welcomed_) SendHeartbeat(wire::Kind::kHeartbeat);
    while (!queue_.empty()) {
      ReportNow(queue_.front().key,
                TaskOutcome::Failure(wire::Outcome::kSystemError, "worker preempted"));
      queued_keys_.erase(queue_.front().key);
      queue_.pop_front();
    }
    StopRunning("worker preempted");
    return;
  }
  if (state_ == State::kServing) {
    spdlog::info("signal {}: draining ({} attempts running, {} queued, {} results held)", signum,
                 running_.size(), queue_.size(), results_.held());
    state_ = State::kDraining;
    if (welcomed_) SendHeartbeat(wire::Kind::kHeartbeat);
    // Queued items never started: hand them back at once.
    while (!queue_.empty()) {
      ReportNow(queue_.front().key,
                TaskOutcome::Failure(wire::Outcome::kSystemError, "worker draining"));
      queued_keys_.erase(queue_.front().key);
      queue_.pop_front();
    }
    MaybeFinishDrain();
    return;
  }
  if (state_ == State::kDraining) {
    spdlog::warn("signal {} again: stopping {} running attempts", signum, running_.size());
    StopRunning("worker shut down");
  }
}

void Worker::StopRunning(const char* why) {
  state_ = State::kShuttingDown;
  stop_reason_ = why;
  std::vector<TaskRunner*> runners;
  for (auto& [key, r] : running_) runners.push_back(r.runner.get());
  for (TaskRunner* r : runners) r->Cancel(wire::Outcome::kSystemError, why);
  // Functions stuck in user code and commands that outlive SIGKILL do not hold us forever.
  uv_timer_start(
      exit_timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<Worker*>(t->data);
        for (auto& [key, r] : self->running_) {
          TaskOutcome o = TaskOutcome::Failure(wire::Outcome::kSystemError, self->stop_reason_);
          o.checkpoint = r.runner->LastCheckpoint();
          self->ReportNow(key, std::move(o));
        }
        self->Flush();
        self->Exit(1);
      },
      static_cast<uint64_t>(config_.kill_grace_ms) + 1000, 0);
  if (running_.empty()) {
    Flush();
    Exit(1);
  }
}

void Worker::MaybeFinishDrain() {
  if (state_ != State::kDraining || exiting_ || !running_.empty()) return;
  if (results_.held() == 0) return FinishDrain();
  if (!drain_timer_started_) {
    drain_timer_started_ = true;
    uv_timer_start(
        drain_timer_.get(),
        [](uv_timer_t* t) {
          auto* self = static_cast<Worker*>(t->data);
          spdlog::warn("{} results still unacknowledged after {} s; leaving anyway",
                       self->results_.held(), kDrainAckWaitMs / 1000);
          self->FinishDrain();
        },
        kDrainAckWaitMs, 0);
  }
}

void Worker::FinishDrain() {
  if (exiting_) return;
  SendHeartbeat(wire::Kind::kBye);
  Exit(0);
}

void Worker::Exit(int code) {
  // Give the last results a moment to leave (the socket otherwise drops them with linger 0).
  if (socket_) socket_->set(zmq::sockopt::linger, 1000);
  exiting_ = true;
  exit_code_ = code;
  uv_stop(loop_);
}

}  // namespace fanout::worker
