// $FANOUT_HOME: where a local cluster keeps its data, logs and keys, and where the CLI, the
// workers and the coordinator look for keys they were not given. Any thread.
#pragma once

#include <string>

namespace fanout {

// $FANOUT_HOME when set and not empty, else $HOME/.fanout, else "" (neither is set). As given:
// relative when the variable is.
std::string FanoutHomeFromEnv();

}  // namespace fanout
