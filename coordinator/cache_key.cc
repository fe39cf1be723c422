#include "coordinator/cache_key.h"

#include <sodium.h>

#include <algorithm>

namespace fanout {
namespace {

void Update(crypto_generichash_state* st, std::string_view part) {
  // Length-prefixed, so that ("ab","c") and ("a","bc") differ.
  uint64_t n = part.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  crypto_generichash_update(st, len, sizeof len);
  crypto_generichash_update(st, reinterpret_cast<const unsigned char*>(part.data()), part.size());
}

}  // namespace

std::string CacheKey(const TaskDef& task, const CacheConfig& cache,
                     const std::vector<std::string_view>& args, std::string_view build) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 32);
  Update(&st, "fanout-cache-v2");
  Update(&st, task.name);
  if (task.is_command()) {
    Update(&st, "command");
    Update(&st, std::to_string(task.command.size()));
    for (const std::string& arg : task.command) Update(&st, arg);
    // Where it runs decides what a relative path in it names. Only when set: the keys of
    // commands without one stay what they were.
    if (!task.workdir.empty()) {
      Update(&st, "workdir");
      Update(&st, task.workdir);
    }
  } else {
    Update(&st, "function");
    Update(&st, task.function);
    Update(&st, "build");
    Update(&st, build);
  }
  for (const auto& p : task.inputs) {
    Update(&st, p.name);
    Update(&st, p.type.ToString());
  }
  Update(&st, "->");
  for (const auto& p : task.outputs) {
    Update(&st, p.name);
    Update(&st, p.type.ToString());
  }
  Update(&st, cache.version);
  for (size_t i = 0; i < task.inputs.size() && i < args.size(); ++i) {
    const std::string& name = task.inputs[i].name;
    if (std::find(cache.ignore_inputs.begin(), cache.ignore_inputs.end(), name) !=
        cache.ignore_inputs.end())
      continue;
    Update(&st, name);
    Update(&st, args[i]);
  }
  unsigned char digest[32];
  crypto_generichash_final(&st, digest, sizeof digest);
  char hex[2 * sizeof digest + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return task.name + ":" + cache.version + ":" + hex;
}

}  // namespace fanout
