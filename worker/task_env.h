// The environment of a command task (DESIGN §7: "tasks see an allow-listed environment"; issue
// 10). A task never inherits the worker's environment wholesale, which holds its secrets
// (FANOUT_REDIS_PASSWORD, key files' passphrases, cloud credentials). From the worker's
// environment it gets only
//   - PATH, HOME, LANG, LC_*, TZ and TMPDIR (PATH defaults to /usr/local/bin:/usr/bin:/bin);
//   - the names the operator declares with --task-env / FANOUT_TASK_ENV (comma-separated),
//     which may not look like secrets (LooksSecret): a worker refuses to start with one;
// and then the task variables the worker sets for the attempt (FANOUT_EXECUTION, FANOUT_NODE,
// FANOUT_INDEX, FANOUT_ATTEMPT, FANOUT_INPUTS, FANOUT_OUTPUTS, FANOUT_CHECKPOINT_DIR,
// FANOUT_PREV_CHECKPOINT_DIR), which replace any inherited value. Pure functions, any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace fanout::worker {

// True when a variable name looks like it holds a secret: it contains KEY, SECRET, PASSWORD,
// PASSWD, TOKEN or CREDENTIAL, in any case.
bool LooksSecret(std::string_view name);

// Ok when every declared name is a valid variable name that does not look like a secret;
// otherwise kInvalidArgument naming the first offender and why.
Status CheckDeclaredTaskEnv(const std::vector<std::string>& names);

// The "K=V" environment of a task: the allow-listed and declared entries of `worker_env` ("K=V"
// each, in their order), then `set`.
std::vector<std::string> TaskEnv(const std::vector<std::string>& worker_env,
                                 const std::vector<std::string>& declared,
                                 const std::vector<std::pair<std::string, std::string>>& set);

}  // namespace fanout::worker
