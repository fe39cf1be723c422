// Cache keys (DESIGN §4, issue 5): BLAKE2b-256 over the task name, what it runs (its command
// argv, or its function name), its interface (input and output names and types), the cache
// version, and the canonical msgpack of the subtask's own inputs, bound ones included, minus
// `ignore_inputs`. What runs is part of the key (issue 10): two specs that give one task name
// and interface different commands never share entries, so a spec cannot plant outputs for
// another's command. The build of a plugin is not part of it: bump the cache version when a
// function's code changes.
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
std::string CacheKey(const TaskDef& task, const CacheConfig& cache,
                     const std::vector<std::string_view>& args);

}  // namespace fanout
