#include "worker/plugin_loader.h"

#include <dlfcn.h>
#include <sodium.h>

#include <fstream>

#include "worker/builtins.h"

namespace fanout::worker {
namespace {

// "b2:" and the first 16 bytes of the BLAKE2b hash of the file, in hex.
Result<std::string> BuildId(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Err(InvalidArgument("cannot read plugin " + path + " to hash it"));
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 16);
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0)
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(buf), static_cast<size_t>(in.gcount()));
  if (in.bad()) return Err(InvalidArgument("cannot read plugin " + path + " to hash it"));
  unsigned char digest[16];
  crypto_generichash_final(&st, digest, sizeof digest);
  char hex[2 * sizeof digest + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return std::string("b2:") + hex;
}

}  // namespace

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
  auto build = BuildId(path);
  if (!build) return build.error();
  // Optional (plugins built with an older header have names only).
  const char* const* signatures = nullptr;
  if (void* s = dlsym(handle, "fanout_plugin_signatures_v1"))
    signatures = reinterpret_cast<fanout_plugin_signatures_v1_fn>(s)();
  std::vector<PluginFunction> found;
  for (uint32_t i = 0; i < table->count; ++i) {
    const fanout_entry& e = table->entries[i];
    if (e.name == nullptr || e.invoke == nullptr)
      return fail("malformed entry " + std::to_string(i));
    PluginFunction fn{e.name, path, e.invoke, *build, ""};
    if (signatures != nullptr && signatures[i] != nullptr) fn.signature = signatures[i];
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

}  // namespace fanout::worker
