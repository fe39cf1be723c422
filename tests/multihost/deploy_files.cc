#include "tests/multihost/deploy_files.h"

#include <cctype>
#include <sstream>

namespace fanout::testing::multihost {
namespace {

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

bool ValidKey(const std::string& k) {
  if (k.empty() || !(std::isalpha(static_cast<unsigned char>(k[0])) || k[0] == '_')) return false;
  for (char c : k)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

Status LineError(const std::string& what, int line, const std::string& msg) {
  return InvalidArgument(what + ":" + std::to_string(line) + ": " + msg);
}

// A value as written after '=' in an EnvironmentFile: unquoted or one quoted string.
Result<std::string> EnvValue(const std::string& raw, const std::string& what, int line) {
  std::string v = Trim(raw);
  if (v.empty()) return v;
  if (v.back() == '\\')
    return Err(LineError(what, line, "line continuations are not supported here: keep one line"));
  if (v[0] == '"' || v[0] == '\'') {
    if (v.size() < 2 || v.back() != v[0] ||
        v.find(v[0], 1) != v.size() - 1)
      return Err(LineError(what, line, "a quoted value must be one quoted string"));
    std::string inner = v.substr(1, v.size() - 2);
    if (inner.find('\\') != std::string::npos)
      return Err(LineError(what, line, "backslash escapes are not supported here"));
    return inner;
  }
  if (v.find_first_of("\"'\\") != std::string::npos)
    return Err(LineError(what, line, "quotes or backslashes inside an unquoted value"));
  // systemd keeps a trailing comment as part of the value: FANOUT_SLOTS=4 # cores → "4 # cores".
  if (v.find(" #") != std::string::npos || v.find("\t#") != std::string::npos)
    return Err(LineError(what, line,
                         "a '#' after the value is not a comment for systemd (it becomes part of "
                         "the value): put comments on their own lines"));
  return v;
}

// Replaces %i, %H and %%; any other specifier is an error.
Result<std::string> Specifiers(const std::string& s, const std::string& instance,
                               const std::string& hostname, const std::string& what, int line) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 1 >= s.size()) return Err(LineError(what, line, "a lone % at the end"));
    char c = s[++i];
    if (c == 'i') {
      out += instance;
    } else if (c == 'H') {
      out += hostname;
    } else if (c == '%') {
      out += '%';
    } else {
      return Err(LineError(what, line, std::string("specifier %") + c + " is not supported here"));
    }
  }
  return out;
}

// Splits Environment= into words: whitespace separates, a word may be one quoted string.
Result<std::vector<std::string>> Words(const std::string& s, const std::string& what, int line) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i >= s.size()) break;
    std::string word;
    if (s[i] == '"' || s[i] == '\'') {
      char q = s[i];
      size_t end = s.find(q, i + 1);
      if (end == std::string::npos) return Err(LineError(what, line, "unterminated quote"));
      word = s.substr(i + 1, end - i - 1);
      i = end + 1;
      if (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])))
        return Err(LineError(what, line, "text right after a closing quote"));
    } else {
      size_t end = i;
      while (end < s.size() && !std::isspace(static_cast<unsigned char>(s[end]))) ++end;
      word = s.substr(i, end - i);
      if (word.find_first_of("\"'\\") != std::string::npos)
        return Err(LineError(what, line, "quotes or backslashes inside a word"));
      i = end;
    }
    words.push_back(std::move(word));
  }
  return words;
}

}  // namespace

Result<EnvList> ParseEnvFile(const std::string& text, const std::string& what) {
  EnvList env;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    size_t eq = t.find('=');
    if (eq == std::string::npos) return Err(LineError(what, n, "expected KEY=VALUE"));
    std::string key = Trim(t.substr(0, eq));
    if (!ValidKey(key)) return Err(LineError(what, n, "'" + key + "' is not a variable name"));
    auto value = EnvValue(t.substr(eq + 1), what, n);
    if (!value) return Err(value.error());
    env.emplace_back(key, *value);
  }
  return env;
}

Result<UnitService> ParseUnit(const std::string& text, const std::string& what,
                              const std::string& instance, const std::string& hostname) {
  UnitService svc;
  std::istringstream in(text);
  std::string line, section;
  int n = 0;
  bool has_exec = false;
  while (std::getline(in, line)) {
    ++n;
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[') {
      section = t;
      continue;
    }
    if (section != "[Service]") continue;
    if (t.back() == '\\') return Err(LineError(what, n, "line continuations are not supported here"));
    size_t eq = t.find('=');
    if (eq == std::string::npos) return Err(LineError(what, n, "expected Key=Value"));
    std::string key = Trim(t.substr(0, eq));
    auto value = Specifiers(Trim(t.substr(eq + 1)), instance, hostname, what, n);
    if (!value) return Err(value.error());
    if (key == "Environment") {
      auto words = Words(*value, what, n);
      if (!words) return Err(words.error());
      for (const auto& w : *words) {
        size_t weq = w.find('=');
        if (weq == std::string::npos || !ValidKey(w.substr(0, weq)))
          return Err(LineError(what, n, "Environment= word '" + w + "' is not KEY=VALUE"));
        svc.environment.emplace_back(w.substr(0, weq), w.substr(weq + 1));
      }
    } else if (key == "EnvironmentFile") {
      std::string path = *value;
      if (!path.empty() && path[0] == '-') path.erase(0, 1);  // "-": optional file
      svc.environment_files.push_back(path);
    } else if (key == "ExecStart") {
      if (has_exec) return Err(LineError(what, n, "more than one ExecStart="));
      has_exec = true;
      auto words = Words(*value, what, n);
      if (!words) return Err(words.error());
      if (words->empty() || (*words)[0].empty() || (*words)[0][0] != '/')
        return Err(LineError(what, n, "ExecStart= must start with an absolute path (no prefixes)"));
      svc.exec_start = *words;
    } else if (key == "WorkingDirectory") {
      svc.working_directory = *value;
    }
  }
  if (!has_exec) return Err(InvalidArgument(what + ": no ExecStart= in [Service]"));
  return svc;
}

std::string Lookup(const EnvList& env, const std::string& key) {
  std::string v;
  for (const auto& [k, val] : env)
    if (k == key) v = val;
  return v;
}

void Set(EnvList& env, const std::string& key, const std::string& value) {
  std::erase_if(env, [&](const auto& p) { return p.first == key; });
  env.emplace_back(key, value);
}

bool SplitEndpoint(const std::string& endpoint, std::string* scheme, std::string* host, int* port) {
  std::string rest = endpoint;
  scheme->clear();
  size_t sep = rest.find("://");
  if (sep != std::string::npos) {
    *scheme = rest.substr(0, sep);
    rest = rest.substr(sep + 3);
  }
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = rest.substr(0, colon);
  std::string p = rest.substr(colon + 1);
  if (p.empty() || p.find_first_not_of("0123456789") != std::string::npos) return false;
  *port = std::atoi(p.c_str());
  return *port > 0 && *port < 65536;
}

}  // namespace fanout::testing::multihost
