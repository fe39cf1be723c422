// CommandRunner: runs a command task (DESIGN §3.3) as a child process (posix_spawn).
//
// The command runs below a task shim (task_shim.h), in its own session and process group, in
// the worker's working directory, with {{inputs.NAME}} replaced in its argv (as data, never as
// shell code: command_argv.h), the inputs JSON object on stdin and in $FANOUT_INPUTS (a 0600
// file), and an allow-listed environment (task_env.h) with FANOUT_EXECUTION/NODE/INDEX/ATTEMPT/
// OUTPUTS/CHECKPOINT_DIR. Each attempt gets a fresh private scratch directory (mkdtemp, 0700,
// never reused) below CommandOptions::scratch_root. stdout/stderr are captured (the last 1 MiB of each). Exit 0:
// outputs from $FANOUT_OUTPUTS, else stdout as the single output; exit 42: non-retryable; other
// exits and signals: user errors. What it printed goes back as the attempt's log (CommandLog).
// Nothing the command started outlives the attempt: on timeout or Cancel its whole process tree
// gets SIGTERM, then SIGKILL after the grace period; when the command exits, whatever it left
// running is SIGKILLed; when the worker dies (any signal) the tree is SIGKILLed. The attempt
// ends once the tree is gone. The per-attempt scratch directory is removed when it ends.
//
// Checkpoints (DESIGN §3.3): $FANOUT_CHECKPOINT_DIR starts empty. When the WorkItem carries a
// checkpoint it is decoded (DecodeCheckpointDir) into a fresh directory named by
// $FANOUT_PREV_CHECKPOINT_DIR (unset otherwise). Every checkpoint_interval_ms while the command
// runs, the directory is encoded and, when non-empty and changed since the last save, handed to
// the CheckpointFn (a kCheckpoint message); when the attempt ends, however it ends, it is encoded
// once more into TaskOutcome::checkpoint (nothing for an empty directory). Over the cap
// (task max_checkpoint_bytes, else CommandOptions::max_checkpoint_bytes) the attempt fails as a
// user error "checkpoint of N bytes exceeds the cap of M bytes" (a running command is stopped).
// Encoding reads the files on the loop thread, so tasks should keep checkpoints small and
// write them atomically (write a temporary file, then rename it). Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/uv_handle.h"
#include "common/value.h"
#include "common/wire.h"
#include "worker/checkpoint.h"
#include "worker/task_runner.h"

namespace fanout::worker {

struct CommandOptions {
  std::string cwd;                     // where commands without a workdir run: the worker's working directory
  std::filesystem::path scratch_root;  // per-attempt directories are created below it
  int64_t kill_grace_ms = 5000;        // SIGTERM → SIGKILL
  // The task shim binary (task_shim.h: TaskShimExe()).
  std::string shim_exe = "/proc/self/exe";
  int lifeline_fd = -1;  // Lifeline::read_fd() of the worker; -1: shims do not watch one
  std::vector<std::string> base_env;   // the worker's environment, "K=V" (see task_env.h)
  std::vector<std::string> task_env;   // names declared with --task-env (task_env.h)
  int64_t max_checkpoint_bytes = kDefaultMaxCheckpointBytes;  // when the task sets none
};

inline constexpr size_t kMaxCapturedBytes = 1u << 20;

// The log of an attempt (ResultItem::log): the end of its stderr, after the end of its stdout
// unless stdout was the output; "[stdout]"/"[stderr]" headings when both have text, a
// "[... N bytes cut]" line where the start was dropped; at most wire::kMaxLogBytes in all.
std::string CommandLog(const std::string& stdout_text, const std::string& stderr_text,
                       bool stdout_is_output);

// The outcome of a command that exited (not cancelled, not timed out).
TaskOutcome CommandOutcome(const wire::TaskDesc& task, int64_t exit_status, int term_signal,
                           const std::optional<std::string>& outputs_file,
                           const std::string& stdout_text, const std::string& stderr_text);

class CommandRunner : public TaskRunner {
 public:
  CommandRunner(uv_loop_t* loop, const CommandOptions& options,
                std::shared_ptr<const wire::TaskDesc> task, wire::SubtaskKey key, List args,
                DoneFn done, std::optional<std::string> previous_checkpoint = std::nullopt,
                CheckpointFn on_checkpoint = nullptr);
  ~CommandRunner() override;

  void Start() override;
  void Cancel(wire::Outcome outcome, std::string reason) override;
  std::optional<std::string> LastCheckpoint() const override { return last_saved_; }

  int pid() const { return pid_; }  // the shim's

 private:
  struct Stream {
    UvHandle<uv_pipe_t> pipe;
    std::string data;
    bool eof = false;
  };
  struct WriteReq;

  Status Prepare(std::vector<std::string>* argv, std::vector<std::string>* env);
  void StartRead(Stream* s);
  void DrainNow(Stream* s);
  void Reap();
  void CloseExitWatch();
  void OnExit(int64_t exit_status, int term_signal);
  void Terminate();
  void MaybeFinish();
  void Finish();
  void SaveOnInterval();
  void SaveAtEnd(TaskOutcome* outcome);
  void End(TaskOutcome outcome);

  uv_loop_t* loop_;
  const CommandOptions& options_;
  std::shared_ptr<const wire::TaskDesc> task_;
  wire::SubtaskKey key_;
  List args_;
  DoneFn done_;
  std::optional<std::string> previous_;  // until decoded
  CheckpointFn on_checkpoint_;
  int64_t checkpoint_cap_;
  std::optional<std::string> last_saved_;  // the last checkpoint sent

  std::filesystem::path dir_;  // per-attempt scratch
  int pidfd_ = -1;                // the shim's, until reaped
  UvHandle<uv_poll_t> exit_watch_;  // readable pidfd_: the shim exited
  UvHandle<uv_pipe_t> stdin_;
  WriteReq* write_ = nullptr;
  Stream out_, err_;
  UvHandle<uv_timer_t> timeout_timer_, eof_timer_, checkpoint_timer_;
  int pid_ = 0;
  bool exited_ = false;
  int64_t exit_status_ = 0;
  int term_signal_ = 0;
  bool terminating_ = false;
  std::optional<TaskOutcome> cancel_;  // set by Cancel or the timeout
  bool ended_ = false;
};

}  // namespace fanout::worker
