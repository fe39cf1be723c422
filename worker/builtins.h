// The built-in functions every worker has (DESIGN §3.3), for demos, tests and benchmarks:
//   builtin.noop      x: int                 → x
//   builtin.sleep_ms  ms: int                → ms, after sleeping ms (a uv_timer: never blocks)
//   builtin.fail_if   x: int, fail: list<int> → x, or a user error when x is in fail
//   builtin.echo      value: json            → value
// Inputs are looked up by name in TaskDesc::inputs. They run on the loop thread.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/value.h"
#include "common/wire.h"
#include "worker/task_runner.h"

namespace fanout::worker {

const std::vector<std::string>& BuiltinNames();
bool IsBuiltin(std::string_view function);

// Runs an instant built-in (all but builtin.sleep_ms) and returns its outcome.
TaskOutcome RunInstantBuiltin(const wire::TaskDesc& task, const List& args);

// A runner for any built-in. The task must name one (IsBuiltin).
std::unique_ptr<TaskRunner> MakeBuiltinRunner(uv_loop_t* loop,
                                              std::shared_ptr<const wire::TaskDesc> task, List args,
                                              DoneFn done);

}  // namespace fanout::worker
