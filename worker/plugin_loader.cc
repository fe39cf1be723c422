#include "worker/plugin_loader.h"

#include <dlfcn.h>

#include "worker/builtins.h"

namespace fanout::worker {

Status PluginRegistry::Load(const std::string& path) {
  auto fail = [&](const std::string& why) {
    return InvalidArgument("cannot load plugin " + path + ": " + why);
  };
  // Never dlclose'd: see the header.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* err = dlerror();
    return fail(err != nullptr ? err : "dlopen failed");
  }
  dlerror();
  void* sym = dlsym(handle, "fanout_plugin_v1");
  if (sym == nullptr) {
    return fail(
        "no fanout_plugin_v1 entry point (is it built with fanout/task.h and "
        "FANOUT_TASK?)");
  }
  auto entry = reinterpret_cast<fanout_plugin_v1_fn>(sym);
  const fanout_plugin* table = entry();
  if (table == nullptr) return fail("fanout_plugin_v1 returned no table");
  if (table->abi_version != FANOUT_PLUGIN_ABI_VERSION) {
    return fail("plugin ABI version " + std::to_string(table->abi_version) +
                ", this worker supports " + std::to_string(FANOUT_PLUGIN_ABI_VERSION));
  }
  std::vector<PluginFunction> found;
  for (uint32_t i = 0; i < table->count; ++i) {
    const fanout_entry& e = table->entries[i];
    if (e.name == nullptr || e.invoke == nullptr)
      return fail("malformed entry " + std::to_string(i));
    PluginFunction fn{e.name, path, e.invoke};
    if (IsBuiltin(fn.name)) return fail("function '" + fn.name + "' is a built-in name");
    if (auto it = functions_.find(fn.name); it != functions_.end()) {
      return fail("function '" + fn.name + "' is already defined by " + it->second.path);
    }
    for (const auto& f : found) {
      if (f.name == fn.name) return fail("function '" + fn.name + "' is defined twice");
    }
    found.push_back(std::move(fn));
  }
  for (auto& fn : found) {
    std::string name = fn.name;
    functions_.emplace(std::move(name), std::move(fn));
  }
  return Status::Ok();
}

Status PluginRegistry::Register(PluginFunction fn) {
  if (IsBuiltin(fn.name)) return InvalidArgument("function '" + fn.name + "' is a built-in name");
  if (auto it = functions_.find(fn.name); it != functions_.end()) {
    return InvalidArgument("function '" + fn.name + "' is already defined by " + it->second.path);
  }
  std::string name = fn.name;
  functions_.emplace(std::move(name), std::move(fn));
  return Status::Ok();
}

const PluginFunction* PluginRegistry::Find(std::string_view name) const {
  auto it = functions_.find(name);
  return it == functions_.end() ? nullptr : &it->second;
}

std::vector<std::string> PluginRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, fn] : functions_) names.push_back(name);
  return names;
}

}  // namespace fanout::worker
