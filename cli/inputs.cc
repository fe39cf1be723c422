#include "cli/inputs.h"

#include <fstream>
#include <sstream>

#include "common/json.h"

namespace fanout::cli {

namespace {

constexpr size_t kMaxInputFileBytes = 64u << 20;

bool IsStrType(const Type& t) {
  if (t.kind() == Type::Kind::kStr) return true;
  return t.kind() == Type::Kind::kOptional && t.elem().kind() == Type::Kind::kStr;
}

Result<std::string> ReadFile(const std::string& path, const std::string& flag_name) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Err(InvalidArgument("-i " + flag_name + "=@" + path + ": cannot read " + path));
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.size() > kMaxInputFileBytes) {
    return Err(InvalidArgument("-i " + flag_name + "=@" + path + ": file larger than 64 MiB"));
  }
  return text;
}

}  // namespace

Result<InputFlag> SplitInputFlag(std::string_view flag) {
  size_t eq = flag.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return Err(InvalidArgument("-i " + std::string(flag) +
                               ": expected NAME=JSON or NAME=@file.json"));
  }
  InputFlag out;
  out.name = std::string(flag.substr(0, eq));
  std::string_view rest = flag.substr(eq + 1);
  if (!rest.empty() && rest.front() == '@') {
    out.from_file = true;
    out.text = std::string(rest.substr(1));
    if (out.text.empty()) {
      return Err(InvalidArgument("-i " + std::string(flag) + ": expected a file name after '@'"));
    }
  } else {
    out.text = std::string(rest);
  }
  return out;
}

Result<Map> ParseInputFlags(const std::vector<std::string>& flags, const WorkflowDef& wf) {
  Map given;
  for (const std::string& raw : flags) {
    ASSIGN_OR_RETURN(InputFlag flag, SplitInputFlag(raw));
    const WorkflowInput* decl = nullptr;
    for (const auto& in : wf.inputs) {
      if (in.name == flag.name) decl = &in;
    }
    if (decl == nullptr) {
      std::string names;
      for (const auto& in : wf.inputs) names += (names.empty() ? "" : ", ") + in.name;
      return Err(InvalidArgument("-i " + flag.name + ": workflow '" + wf.name +
                                 "' has no such input (inputs: " +
                                 (names.empty() ? "none" : names) + ")"));
    }
    if (given.contains(flag.name)) {
      return Err(InvalidArgument("-i " + flag.name + ": given more than once"));
    }
    std::string text = flag.text;
    if (flag.from_file) {
      ASSIGN_OR_RETURN(text, ReadFile(flag.text, flag.name));
    }
    Result<Value> v = ParseJson(text);
    if (IsStrType(decl->type) && (!v || !v->is_str()) && !(v && v->is_none())) {
      // A str input takes the text as is; quoting it for the shell and for JSON is tedious.
      given.emplace(flag.name, Value(text));
      continue;
    }
    if (!v) {
      std::string where = flag.from_file ? "=@" + flag.text : "";
      return Err(InvalidArgument("-i " + flag.name + where + ": not valid JSON (" +
                                 v.error().message() + "); input '" + flag.name + "' is " +
                                 decl->type.ToString()));
    }
    given.emplace(flag.name, std::move(*v));
  }
  return given;
}

std::string InputsToJson(const Map& given) {
  nlohmann::json o = nlohmann::json::object();
  for (const auto& [k, v] : given) o[k] = ToJson(v);
  return o.dump();
}

}  // namespace fanout::cli
