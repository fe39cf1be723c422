#include "worker/command_runner.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include "worker/checkpoint.h"
#include "worker/command_argv.h"
#include "worker/subtask_key.h"
#include "worker/task_env.h"
#include "worker/task_io.h"
#include "worker/task_shim.h"

namespace fanout::worker {
namespace {

// How long to wait for stdout/stderr EOF after the shim exited. The shim exits only once the
// command's tree is gone, so this only matters for a process that escaped it.
constexpr uint64_t kEofWaitMs = 1000;
constexpr size_t kMaxOutputsFileBytes = 64u << 20;
// Where a shim finds the lifeline (stdio slot 3).
constexpr int kShimLifelineFd = 3;

std::string Sanitize(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    out += ok ? c : '_';
  }
  return out;
}

void AppendCapped(std::string* buf, const char* data, size_t n) {
  buf->append(data, n);
  // Amortised: trim to the tail only when twice over the cap.
  if (buf->size() > 2 * kMaxCapturedBytes) buf->erase(0, buf->size() - kMaxCapturedBytes);
}

// The file's contents, or nullopt when it does not exist; an error when it cannot be read.
Result<std::optional<std::string>> ReadOptionalFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<std::string>();
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return Err(Internal("cannot stat " + path.string() + ": " + ec.message()));
  if (size > kMaxOutputsFileBytes) {
    return Err(InvalidArgument("$FANOUT_OUTPUTS is larger than " +
                               std::to_string(kMaxOutputsFileBytes) + " bytes"));
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return Err(Internal("cannot open " + path.string()));
  std::ostringstream ss;
  ss << f.rdbuf();
  return std::optional<std::string>(ss.str());
}

// glibc 2.36's <sys/pidfd.h> declares these without C linkage: the system calls themselves.
int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }
int PidfdSignal(int pidfd, int sig) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// The worker's ends of a started shim: its pid, a pidfd that becomes readable when it exits,
// and the pipes of its stdin, stdout and stderr.
struct SpawnedShim {
  pid_t pid = -1;
  int pidfd = -1;
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
};

// A pipe (both ends close-on-exec) whose ends are above the stdio slots and the lifeline's
// slot, so that the dup2s of the spawn never overwrite a source they still need.
bool HighPipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  for (int i = 0; i < 2; ++i) {
    if (fds[i] > kShimLifelineFd) continue;
    int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, kShimLifelineFd + 1);
    close(fds[i]);
    fds[i] = moved;
  }
  return fds[0] >= 0 && fds[1] >= 0;
}

// Starts the shim with posix_spawn, whose glibc implementation is a vfork-like clone: the
// worker's page tables are not copied. uv_spawn forks (libuv 1.44), and on this VM that fork
// and the copy-on-write faults it leaves behind in the worker cost more CPU than running the
// command (measured with an 8 MiB process: 8 ms per fork+exec against 0.3 ms per spawn). What
// uv_spawn's child did is asked of the spawn here: a session of its own, every signal unblocked
// and at its default action, the working directory, stdio and the lifeline at slot 3.
Result<SpawnedShim> SpawnShim(const std::string& exe, char* const* argv, char* const* envp,
                              const char* cwd, int lifeline_fd) {
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  auto close_all = [&] {
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) {
      if (fd >= 0) close(fd);
    }
  };
  if (!HighPipe(in) || !HighPipe(out) || !HighPipe(err)) {
    std::string why = std::strerror(errno);
    close_all();
    return Err(Internal("cannot create the pipes of a command: " + why));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // The lifeline first, in case it sits in a stdio slot (a worker started with stdio closed).
  // dup2 onto the same slot clears close-on-exec too (glibc >= 2.29).
  if (lifeline_fd >= 0) posix_spawn_file_actions_adddup2(&actions, lifeline_fd, kShimLifelineFd);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  if (cwd != nullptr) posix_spawn_file_actions_addchdir_np(&actions, cwd);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  SpawnedShim shim;
  int rc = posix_spawn(&shim.pid, exe.c_str(), &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  for (int* fd : {&in[0], &out[1], &err[1]}) {  // the shim's ends
    close(*fd);
    *fd = -1;
  }
  if (rc != 0) {
    close_all();
    return Err(Internal(fmt::format("cannot start the task shim {}: {}", exe, std::strerror(rc))));
  }
  shim.pidfd = PidfdOpen(shim.pid);
  if (shim.pidfd < 0) {  // Linux < 5.3: no way to watch it without a SIGCHLD handler
    std::string why = std::strerror(errno);
    kill(shim.pid, SIGKILL);
    waitpid(shim.pid, nullptr, 0);
    close_all();
    return Err(Internal("cannot watch the task shim (pidfd_open): " + why));
  }
  shim.stdin_fd = in[1];
  shim.stdout_fd = out[0];
  shim.stderr_fd = err[0];
  return shim;
}

}  // namespace

std::string CommandLog(const std::string& stdout_text, const std::string& stderr_text,
                       bool stdout_is_output) {
  auto tail = [](std::string_view text, size_t cap) {
    if (text.size() <= cap) return std::string(text);
    size_t cut = text.size() - cap;
    // Start at a line boundary when there is one near, so the first line is whole.
    size_t nl = text.find('\n', cut);
    if (nl != std::string_view::npos && nl - cut < 256) cut = nl + 1;
    return fmt::format("[... {} bytes cut]\n", cut) + std::string(text.substr(cut));
  };
  std::string_view out = stdout_is_output ? std::string_view() : std::string_view(stdout_text);
  if (out.empty()) return tail(stderr_text, wire::kMaxLogBytes - 64);
  if (stderr_text.empty()) return tail(out, wire::kMaxLogBytes - 64);
  // Both: stderr (where failures explain themselves) gets three quarters of the room.
  size_t err_cap = wire::kMaxLogBytes * 3 / 4 - 64;
  size_t out_cap = wire::kMaxLogBytes - err_cap - 128;
  std::string o = tail(out, out_cap);
  if (!o.ends_with('\n')) o += '\n';
  return "[stdout]\n" + o + "[stderr]\n" + tail(stderr_text, err_cap);
}

TaskOutcome CommandOutcome(const wire::TaskDesc& task, int64_t exit_status, int term_signal,
                           const std::optional<std::string>& outputs_file,
                           const std::string& stdout_text, const std::string& stderr_text) {
  if (term_signal != 0) {
    return TaskOutcome::Failure(wire::Outcome::kUserError,
                                "killed by signal " + std::to_string(term_signal));
  }
  if (exit_status == 42) {
    return TaskOutcome::Failure(wire::Outcome::kNonRetryable, "exit code 42");
  }
  if (exit_status != 0) {
    std::string msg = "exit code " + std::to_string(exit_status);
    std::string line = LastNonEmptyLine(stderr_text);
    if (!line.empty()) msg += ": " + line;
    return TaskOutcome::Failure(wire::Outcome::kUserError, std::move(msg));
  }
  auto outputs = ParseCommandOutputs(task.outputs, outputs_file, stdout_text);
  if (!outputs) return TaskOutcome::Failure(wire::Outcome::kUserError, outputs.error().message());
  return TaskOutcome::Success(std::move(*outputs));
}

struct CommandRunner::WriteReq {
  uv_write_t req{};
  std::string data;
  CommandRunner* owner = nullptr;  // null once the runner is gone
};

CommandRunner::CommandRunner(uv_loop_t* loop, const CommandOptions& options,
                             std::shared_ptr<const wire::TaskDesc> task, wire::SubtaskKey key,
                             List args, DoneFn done,
                             std::optional<std::string> previous_checkpoint,
                             CheckpointFn on_checkpoint)
    : loop_(loop),
      options_(options),
      task_(std::move(task)),
      key_(std::move(key)),
      args_(std::move(args)),
      done_(std::move(done)),
      previous_(std::move(previous_checkpoint)),
      on_checkpoint_(std::move(on_checkpoint)),
      checkpoint_cap_(
          EffectiveCheckpointCap(task_->max_checkpoint_bytes, options_.max_checkpoint_bytes)) {}

CommandRunner::~CommandRunner() {
  if (write_ != nullptr) write_->owner = nullptr;
  // Gone before its shim (the worker stops): the shim goes with the worker's lifeline; reap it
  // now if it has exited already.
  if (pidfd_ >= 0) {
    CloseExitWatch();
    waitpid(pid_, nullptr, WNOHANG);
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

Status CommandRunner::Prepare(std::vector<std::string>* argv, std::vector<std::string>* env) {
  if (task_->command.empty()) return InvalidArgument("the task has an empty command");
  if (std::error_code ec; !task_->workdir.empty() && !std::filesystem::is_directory(task_->workdir, ec))
    return InvalidArgument("its workdir " + task_->workdir + " is not a directory on this worker" +
                           (ec ? " (" + ec.message() + ")" : ""));
  auto built = BuildCommandArgv(*task_, args_);
  if (!built) return built.error();
  *argv = std::move(*built);
  // A fresh private directory (0700), never one that existed before.
  std::string tmpl = (options_.scratch_root / fmt::format("{}-{}-{}-{}-XXXXXX", Sanitize(key_.exec),
                                                           Sanitize(key_.node), key_.index,
                                                           key_.attempt))
                         .string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    return Internal("cannot create a scratch directory in " + options_.scratch_root.string() +
                    ": " + std::strerror(errno));
  }
  dir_ = tmpl;
  std::error_code ec;
  std::filesystem::create_directory(dir_ / "checkpoint", ec);
  if (ec) return Internal("cannot create " + (dir_ / "checkpoint").string() + ": " + ec.message());
  std::string inputs = InputsJson(*task_, args_).dump();
  Status st = WriteFile(dir_ / "inputs.json", inputs);
  if (!st.ok()) return st;
  std::vector<std::pair<std::string, std::string>> vars = {
      {"FANOUT_EXECUTION", key_.exec},
      {"FANOUT_NODE", key_.node},
      {"FANOUT_INDEX", std::to_string(key_.index)},
      {"FANOUT_ATTEMPT", std::to_string(key_.attempt)},
      {"FANOUT_INPUTS", (dir_ / "inputs.json").string()},
      {"FANOUT_OUTPUTS", (dir_ / "outputs.json").string()},
      {"FANOUT_CHECKPOINT_DIR", (dir_ / "checkpoint").string()}};
  if (previous_) {
    std::filesystem::path prev = dir_ / "prev_checkpoint";
    Status restored = DecodeCheckpointDir(*previous_, prev);
    previous_.reset();
    if (!restored.ok()) {
      std::string msg = "cannot restore the previous checkpoint: " + restored.message();
      return restored.code() == Code::kInvalidArgument ? InvalidArgument(msg) : Internal(msg);
    }
    vars.emplace_back("FANOUT_PREV_CHECKPOINT_DIR", prev.string());
  }
  *env = TaskEnv(options_.base_env, options_.task_env, vars);
  write_ = new WriteReq;
  write_->data = std::move(inputs);
  write_->owner = this;
  return Status::Ok();
}

void CommandRunner::Start() {
  std::vector<std::string> argv, env;
  Status st = Prepare(&argv, &env);
  if (!st.ok()) {
    auto outcome = st.code() == Code::kInvalidArgument ? wire::Outcome::kUserError
                                                       : wire::Outcome::kSystemError;
    return End(TaskOutcome::Failure(outcome, st.message()));
  }

  // The command runs below a task shim (task_shim.h), which ends its whole tree with the
  // attempt and with this worker.
  std::string program = argv[0];
  argv = TaskShimArgv(options_.kill_grace_ms, options_.lifeline_fd >= 0 ? kShimLifelineFd : -1,
                      getpid(), argv);
  std::vector<char*> cargv, cenv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  // The task's workdir (absolute, from the spec), else the worker's working directory.
  const std::string& cwd = task_->workdir.empty() ? options_.cwd : task_->workdir;
  auto shim = SpawnShim(options_.shim_exe, cargv.data(), cenv.data(),
                        cwd.empty() ? nullptr : cwd.c_str(), options_.lifeline_fd);
  if (!shim) {
    delete write_;
    write_ = nullptr;
    return End(TaskOutcome::Failure(wire::Outcome::kSystemError, shim.error().message()));
  }
  pid_ = shim->pid;
  pidfd_ = shim->pidfd;
  uv_pipe_init(loop_, stdin_.get(), 0);
  uv_pipe_init(loop_, out_.pipe.get(), 0);
  uv_pipe_init(loop_, err_.pipe.get(), 0);
  for (auto [pipe, fd] : {std::pair{stdin_.get(), shim->stdin_fd},
                          std::pair{out_.pipe.get(), shim->stdout_fd},
                          std::pair{err_.pipe.get(), shim->stderr_fd}}) {
    if (int rc = uv_pipe_open(pipe, fd); rc != 0) {  // not seen; the attempt goes on without it
      spdlog::warn("{} cannot watch a pipe of the command: {}", KeyLog(key_), uv_strerror(rc));
      close(fd);
      if (pipe == out_.pipe.get()) out_.eof = true;
      if (pipe == err_.pipe.get()) err_.eof = true;
    }
  }
  uv_poll_init(loop_, exit_watch_.get(), pidfd_);
  exit_watch_->data = this;
  uv_poll_start(exit_watch_.get(), UV_READABLE, [](uv_poll_t* w, int, int) {
    static_cast<CommandRunner*>(w->data)->Reap();
  });
  spdlog::info("{} started command {} (shim pid {})", KeyLog(key_), program, pid_);

  // The inputs on stdin, then EOF. A child that exits without reading gets EPIPE: ignored.
  write_->req.data = write_;
  uv_buf_t buf = uv_buf_init(write_->data.data(), static_cast<unsigned>(write_->data.size()));
  int rc = uv_write(&write_->req, reinterpret_cast<uv_stream_t*>(stdin_.get()), &buf, 1,
                [](uv_write_t* req, int) {
                  auto* w = static_cast<WriteReq*>(req->data);
                  if (w->owner != nullptr) {
                    w->owner->write_ = nullptr;
                    w->owner->stdin_.Close();
                  }
                  delete w;
                });
  if (rc != 0) {
    delete write_;
    write_ = nullptr;
    stdin_.Close();
  }

  StartRead(&out_);
  StartRead(&err_);

  if (task_->timeout_ms > 0) {
    uv_timer_init(loop_, timeout_timer_.get());
    timeout_timer_->data = this;
    uv_timer_start(
        timeout_timer_.get(),
        [](uv_timer_t* t) {
          auto* self = static_cast<CommandRunner*>(t->data);
          if (self->exited_ || self->cancel_) return;
          spdlog::info("{} timed out after {} ms", KeyLog(self->key_), self->task_->timeout_ms);
          self->cancel_ = TaskOutcome::Failure(
              wire::Outcome::kUserError,
              fmt::format("timed out after {:g}s", self->task_->timeout_ms / 1000.0));
          self->Terminate();
        },
        static_cast<uint64_t>(task_->timeout_ms), 0);
  }

  if (task_->checkpoint_interval_ms > 0) {
    uv_timer_init(loop_, checkpoint_timer_.get());
    checkpoint_timer_->data = this;
    auto interval = static_cast<uint64_t>(task_->checkpoint_interval_ms);
    uv_timer_start(
        checkpoint_timer_.get(),
        [](uv_timer_t* t) { static_cast<CommandRunner*>(t->data)->SaveOnInterval(); }, interval,
        interval);
  }
}

void CommandRunner::SaveOnInterval() {
  if (exited_ || cancel_ || ended_ || dir_.empty()) return;
  auto bytes = EncodeCheckpointDir(dir_ / "checkpoint", checkpoint_cap_);
  if (!bytes) {
    if (bytes.error().code() == Code::kInvalidArgument) {
      spdlog::info("{} {}: stopping the command", KeyLog(key_), bytes.error().message());
      cancel_ = TaskOutcome::Failure(wire::Outcome::kUserError, bytes.error().message());
      Terminate();
    } else {
      spdlog::warn("{} cannot save the checkpoint: {}", KeyLog(key_), bytes.error().message());
    }
    return;
  }
  if (CheckpointDirIsEmpty(*bytes) || (last_saved_ && *last_saved_ == *bytes)) return;
  spdlog::debug("{} checkpoint of {} bytes", KeyLog(key_), bytes->size());
  last_saved_ = *bytes;
  if (on_checkpoint_) on_checkpoint_(std::move(*bytes));
}

void CommandRunner::SaveAtEnd(TaskOutcome* outcome) {
  if (dir_.empty()) return;
  auto bytes = EncodeCheckpointDir(dir_ / "checkpoint", checkpoint_cap_);
  if (bytes) {
    if (!CheckpointDirIsEmpty(*bytes)) outcome->checkpoint = std::move(*bytes);
    return;
  }
  // Not saved: the result carries the last save that was sent, if any.
  outcome->checkpoint = last_saved_;
  const std::string& why = bytes.error().message();
  if (bytes.error().code() != Code::kInvalidArgument) {
    spdlog::warn("{} cannot save the checkpoint: {}", KeyLog(key_), why);
    return;
  }
  if (outcome->outcome == wire::Outcome::kSucceeded) {
    *outcome = TaskOutcome::Failure(wire::Outcome::kUserError, why);
    outcome->checkpoint = last_saved_;
  } else if (outcome->error.find(" exceeds the cap of ") == std::string::npos) {
    // Already a failure (its kind is kept: an abort or a shutdown is not the task's doing).
    outcome->error += "; " + why;
  }
}

void CommandRunner::StartRead(Stream* s) {
  s->pipe->data = this;
  int rc = uv_read_start(
      reinterpret_cast<uv_stream_t*>(s->pipe.get()),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = static_cast<char*>(std::malloc(suggested));
        buf->len = buf->base != nullptr ? suggested : 0;
      },
      [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
        auto* self = static_cast<CommandRunner*>(stream->data);
        Stream* st = reinterpret_cast<uv_pipe_t*>(stream) == self->out_.pipe.get() ? &self->out_
                                                                                   : &self->err_;
        if (nread > 0) AppendCapped(&st->data, buf->base, static_cast<size_t>(nread));
        std::free(buf->base);
        if (nread < 0) {  // UV_EOF or an error: this stream is done
          uv_read_stop(stream);
          st->eof = true;
          self->MaybeFinish();
        }
      });
  if (rc != 0) s->eof = true;
}

// Reads what the pipe holds without blocking (its fd is non-blocking under libuv).
void CommandRunner::DrainNow(Stream* s) {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(s->pipe.get()), &fd) != 0) return;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      AppendCapped(&s->data, buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return;  // 0 (EOF), EAGAIN (nothing more now) or an error
  }
}

void CommandRunner::Cancel(wire::Outcome outcome, std::string reason) {
  if (ended_ || exited_ || pid_ == 0) return;
  if (!cancel_) cancel_ = TaskOutcome::Failure(outcome, std::move(reason));
  Terminate();
}

// The shim does the rest: SIGTERM to the command's whole tree, SIGKILL after the grace period,
// and it exits once nothing of the tree is left.
void CommandRunner::Terminate() {
  if (terminating_ || exited_) return;
  terminating_ = true;
  PidfdSignal(pidfd_, SIGTERM);  // by pidfd: never a reused pid
}

// The pidfd is readable: the shim has exited (a zombie until reaped here).
void CommandRunner::Reap() {
  int wstatus = 0;
  pid_t r = waitpid(pid_, &wstatus, WNOHANG);
  if (r == 0 || (r < 0 && errno == EINTR)) return;  // not yet: the watch stays
  CloseExitWatch();
  if (r < 0) {  // ECHILD: someone else reaped it; its status is lost
    spdlog::warn("{} cannot reap the task shim {}: {}", KeyLog(key_), pid_, std::strerror(errno));
    return OnExit(-1, 0);
  }
  OnExit(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 0,
         WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
}

void CommandRunner::CloseExitWatch() {
  exit_watch_.Close();  // off epoll before the fd is closed
  if (pidfd_ >= 0) close(pidfd_);
  pidfd_ = -1;
}

void CommandRunner::OnExit(int64_t exit_status, int term_signal) {
  exited_ = true;
  exit_status_ = exit_status;
  term_signal_ = term_signal;
  if (timeout_timer_->loop != nullptr) uv_timer_stop(timeout_timer_.get());
  if (checkpoint_timer_->loop != nullptr) uv_timer_stop(checkpoint_timer_.get());
  // The shim has exited: nothing of the command's tree is left (it exits only then).
  if (!out_.eof || !err_.eof) {
    uv_timer_init(loop_, eof_timer_.get());
    eof_timer_->data = this;
    uv_timer_start(
        eof_timer_.get(),
        [](uv_timer_t* t) {
          auto* self = static_cast<CommandRunner*>(t->data);
          // A loop that was late (a busy machine) may fire this before it polled the pipes:
          // take what they hold now, so that output written before the exit is never lost.
          for (Stream* st : {&self->out_, &self->err_}) {
            if (!st->eof) self->DrainNow(st);
            st->eof = true;
          }
          self->MaybeFinish();
        },
        kEofWaitMs, 0);
  }
  MaybeFinish();
}

void CommandRunner::MaybeFinish() {
  if (ended_ || !exited_ || !out_.eof || !err_.eof) return;
  Finish();
}

void CommandRunner::Finish() {
  if (eof_timer_->loop != nullptr) uv_timer_stop(eof_timer_.get());
  out_.pipe.Close();
  err_.pipe.Close();
  stdin_.Close();
  for (Stream* s : {&out_, &err_}) {
    if (s->data.size() > kMaxCapturedBytes) s->data.erase(0, s->data.size() - kMaxCapturedBytes);
  }
  TaskOutcome outcome;
  bool stdout_is_output = false;
  if (cancel_) {
    outcome = std::move(*cancel_);
  } else {
    auto file = ReadOptionalFile(dir_ / "outputs.json");
    if (!file) {
      outcome = TaskOutcome::Failure(wire::Outcome::kUserError, file.error().message());
    } else {
      outcome = CommandOutcome(*task_, exit_status_, term_signal_, *file, out_.data, err_.data);
      stdout_is_output = !file->has_value() && exit_status_ == 0 && term_signal_ == 0;
    }
  }
  outcome.log = CommandLog(out_.data, err_.data, stdout_is_output);
  if (!err_.data.empty()) {
    spdlog::debug("{} stderr tail: {}", KeyLog(key_), LastNonEmptyLine(err_.data));
  }
  SaveAtEnd(&outcome);
  End(std::move(outcome));
}

void CommandRunner::End(TaskOutcome outcome) {
  if (ended_) return;
  ended_ = true;
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }
  done_(std::move(outcome));
}

}  // namespace fanout::worker
