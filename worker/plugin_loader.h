// PluginRegistry: task functions loaded from plugin shared objects (sdk/include/fanout/task.h).
//
// Load() dlopens a plugin with RTLD_NOW | RTLD_LOCAL, calls its `fanout_plugin_v1()` entry,
// checks the ABI version and registers its functions, each with a build id hashed from the
// file's bytes and its signature when the plugin exports `fanout_plugin_signatures_v1()`. A
// name defined twice (by two plugins, or by a plugin and a built-in) is refused. Plugins are
// never unloaded: a function may be running on the thread pool until the process exits.
// Loading is done at start-up, before the loop.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#define FANOUT_SDK_NO_ENTRY
#include "common/status.h"
#include "fanout/task.h"

namespace fanout::worker {

struct PluginFunction {
  std::string name;
  std::string path;  // the plugin that defines it
  void (*invoke)(const fanout_call* call) = nullptr;
  std::string build;      // "b2:" + hash of the plugin file (wire::FunctionInfo::build)
  std::string signature;  // "int,str->bool", or empty when the plugin does not say
};

class PluginRegistry {
 public:
  // Loads every function of the plugin at `path`. On error nothing of it is registered and
  // the message names the file.
  Status Load(const std::string& path);

  // Registers one function directly (tests, and statically linked tasks).
  Status Register(PluginFunction fn);

  const PluginFunction* Find(std::string_view name) const;
  // Every function, by name.
  const std::map<std::string, PluginFunction, std::less<>>& functions() const { return functions_; }

 private:
  std::map<std::string, PluginFunction, std::less<>> functions_;
};

}  // namespace fanout::worker
