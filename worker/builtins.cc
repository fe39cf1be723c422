#include "worker/builtins.h"

#include <algorithm>
#include <optional>

#include "common/status.h"
#include "common/uv_handle.h"
#include "worker/task_io.h"

namespace fanout::worker {
namespace {

constexpr std::string_view kNoop = "builtin.noop";
constexpr std::string_view kSleepMs = "builtin.sleep_ms";
constexpr std::string_view kFailIf = "builtin.fail_if";
constexpr std::string_view kEcho = "builtin.echo";

TaskOutcome UserError(std::string msg) {
  return TaskOutcome::Failure(wire::Outcome::kUserError, std::move(msg));
}

// The input `name` of a built-in; the error explains what the built-in expects.
Result<const Value*> Input(const wire::TaskDesc& task, const List& args, std::string_view name,
                           std::string_view expects) {
  auto idx = FindInput(task, name);
  if (!idx || *idx >= args.size()) {
    return Err(InvalidArgument(task.function + " expects an input named '" + std::string(name) +
                               "' (" + std::string(expects) + ")"));
  }
  return &args[*idx];
}

Result<int64_t> IntInput(const wire::TaskDesc& task, const List& args, std::string_view name) {
  ASSIGN_OR_RETURN(const Value* v, Input(task, args, name, std::string(name) + ": int"));
  if (!v->is_int()) {
    return Err(InvalidArgument(task.function + " expects input '" + std::string(name) +
                               "' to be an int, got " + v->kind_name()));
  }
  return v->as_int();
}

TaskOutcome Finish(const wire::TaskDesc& task, Value v) {
  auto out = EncodeSingleOutput(task.outputs, std::move(v));
  if (!out) return UserError(out.error().message());
  return TaskOutcome::Success(std::move(*out));
}

// builtin.sleep_ms: a uv_timer, so the loop keeps running.
class SleepRunner : public TaskRunner {
 public:
  SleepRunner(uv_loop_t* loop, std::shared_ptr<const wire::TaskDesc> task, List args, DoneFn done)
      : loop_(loop), task_(std::move(task)), args_(std::move(args)), done_(std::move(done)) {}

  void Start() override {
    auto ms = IntInput(*task_, args_, "ms");
    if (!ms) return End(UserError(ms.error().message()));
    if (*ms < 0)
      return End(UserError("builtin.sleep_ms expects ms >= 0, got " + std::to_string(*ms)));
    ms_ = *ms;
    uv_timer_init(loop_, timer_.get());
    timer_->data = this;
    uv_timer_start(
        timer_.get(),
        [](uv_timer_t* t) {
          auto* self = static_cast<SleepRunner*>(t->data);
          self->End(Finish(*self->task_, Value(self->ms_)));
        },
        static_cast<uint64_t>(ms_), 0);
  }

  void Cancel(wire::Outcome outcome, std::string reason) override {
    End(TaskOutcome::Failure(outcome, std::move(reason)));
  }

 private:
  void End(TaskOutcome outcome) {
    if (ended_) return;
    ended_ = true;
    if (timer_->loop != nullptr) uv_timer_stop(timer_.get());
    done_(std::move(outcome));
  }

  uv_loop_t* loop_;
  std::shared_ptr<const wire::TaskDesc> task_;
  List args_;
  DoneFn done_;
  UvHandle<uv_timer_t> timer_;
  int64_t ms_ = 0;
  bool ended_ = false;
};

// The instant built-ins finish inside Start().
class InstantRunner : public TaskRunner {
 public:
  InstantRunner(std::shared_ptr<const wire::TaskDesc> task, List args, DoneFn done)
      : task_(std::move(task)), args_(std::move(args)), done_(std::move(done)) {}
  void Start() override { done_(RunInstantBuiltin(*task_, args_)); }
  void Cancel(wire::Outcome, std::string) override {}

 private:
  std::shared_ptr<const wire::TaskDesc> task_;
  List args_;
  DoneFn done_;
};

}  // namespace

const std::vector<std::string>& BuiltinNames() {
  static const std::vector<std::string> kNames = {std::string(kNoop), std::string(kSleepMs),
                                                  std::string(kFailIf), std::string(kEcho)};
  return kNames;
}

bool IsBuiltin(std::string_view function) {
  const auto& names = BuiltinNames();
  return std::find(names.begin(), names.end(), function) != names.end();
}

TaskOutcome RunInstantBuiltin(const wire::TaskDesc& task, const List& args) {
  if (task.function == kNoop) {
    auto x = IntInput(task, args, "x");
    if (!x) return UserError(x.error().message());
    return Finish(task, Value(*x));
  }
  if (task.function == kEcho) {
    auto v = Input(task, args, "value", "value: json");
    if (!v) return UserError(v.error().message());
    return Finish(task, **v);
  }
  if (task.function == kFailIf) {
    auto x = IntInput(task, args, "x");
    if (!x) return UserError(x.error().message());
    auto fail = Input(task, args, "fail", "fail: list<int>");
    if (!fail) return UserError(fail.error().message());
    if (!(*fail)->is_list()) {
      return UserError(std::string("builtin.fail_if expects input 'fail' to be a list<int>, got ") +
                       (*fail)->kind_name());
    }
    for (const Value& e : (*fail)->as_list()) {
      if (e.is_int() && e.as_int() == *x) {
        return UserError("x=" + std::to_string(*x) + " is in the fail list");
      }
    }
    return Finish(task, Value(*x));
  }
  return TaskOutcome::Failure(wire::Outcome::kSystemError,
                              "'" + task.function + "' is not an instant built-in");
}

std::unique_ptr<TaskRunner> MakeBuiltinRunner(uv_loop_t* loop,
                                              std::shared_ptr<const wire::TaskDesc> task, List args,
                                              DoneFn done) {
  if (task->function == kSleepMs) {
    return std::make_unique<SleepRunner>(loop, task, std::move(args), std::move(done));
  }
  return std::make_unique<InstantRunner>(task, std::move(args), std::move(done));
}

}  // namespace fanout::worker
