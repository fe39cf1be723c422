// Cache keys (DESIGN §4, issue 5): BLAKE2b-256 over the task name, what it runs (its command
// argv, or its function name), its interface (input and output names and types), the cache
// version, and the canonical msgpack of the subtask's own inputs, bound ones included, minus
// `ignore_inputs`. What runs is part of the key (issue 10): two specs that give one task name
// and interface different commands never share entries, so a spec cannot plant outputs for
// another's command. For a function, the build that runs it is part of it too (the hash of
// its plugin file, or the fanout version for a built-in; wire::FunctionInfo::build): a new
// build of a plugin does not get the results of the old one, with no version bump. A command's
// key does not cover the programs it runs (bump the cache version when they change).
//
// The key string is "TASK:VERSION:HEX", so that entries of one task and version can be listed
// and cleared (`fanout cache clear --task T --version V`).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/spec.h"

namespace fanout {

// `args`: the msgpack encoding of each input of the subtask, in the task's declared order.
// `build`: for a function task, the build of the function that runs (or ran) it; ignored for
// commands.
std::string CacheKey(const TaskDef& task, const CacheConfig& cache,
                     const std::vector<std::string_view>& args, std::string_view build);

}  // namespace fanout
