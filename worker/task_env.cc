#include "worker/task_env.h"

#include <algorithm>
#include <cctype>

namespace fanout::worker {
namespace {

constexpr std::string_view kAllowed[] = {"PATH", "HOME", "LANG", "TZ", "TMPDIR"};
constexpr std::string_view kSecretWords[] = {"KEY", "SECRET", "PASSWORD", "PASSWD", "TOKEN",
                                             "CREDENTIAL"};
constexpr std::string_view kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

bool Allowed(std::string_view name, const std::vector<std::string>& declared) {
  if (name.starts_with("LC_")) return true;
  for (std::string_view a : kAllowed) {
    if (name == a) return true;
  }
  return std::find(declared.begin(), declared.end(), name) != declared.end();
}

}  // namespace

bool LooksSecret(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (std::string_view w : kSecretWords) {
    if (upper.find(w) != std::string::npos) return true;
  }
  return false;
}

Status CheckDeclaredTaskEnv(const std::vector<std::string>& names) {
  for (const std::string& n : names) {
    bool valid = !n.empty() && !std::isdigit(static_cast<unsigned char>(n[0]));
    for (char c : n) valid = valid && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!valid) return InvalidArgument("'" + n + "' is not an environment variable name");
    if (LooksSecret(n)) {
      return InvalidArgument("'" + n +
                             "' looks like a secret (KEY, SECRET, PASSWORD, PASSWD, TOKEN or "
                             "CREDENTIAL): tasks never get the worker's secrets");
    }
  }
  return Status::Ok();
}

std::vector<std::string> TaskEnv(const std::vector<std::string>& worker_env,
                                 const std::vector<std::string>& declared,
                                 const std::vector<std::pair<std::string, std::string>>& set) {
  std::vector<std::string> env;
  bool has_path = false;
  for (const std::string& kv : worker_env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string_view name = std::string_view(kv).substr(0, eq);
    if (!Allowed(name, declared)) continue;
    bool replaced = std::any_of(set.begin(), set.end(), [&](const auto& s) { return s.first == name; });
    if (replaced) continue;
    has_path = has_path || name == "PATH";
    env.push_back(kv);
  }
  if (!has_path) env.push_back("PATH=" + std::string(kDefaultPath));
  for (const auto& [k, v] : set) env.push_back(k + "=" + v);
  return env;
}

}  // namespace fanout::worker
