#include "worker/task_io.h"

#include <cctype>

#include "common/codec.h"
#include "common/json.h"
#include "common/type.h"

namespace fanout::worker {
namespace {

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string Names(const std::vector<wire::Param>& params) {
  std::string out;
  for (const auto& p : params) {
    if (!out.empty()) out += ", ";
    out += p.name;
  }
  return out;
}

}  // namespace

Result<List> DecodeArgs(const wire::TaskDesc& task, std::string_view args) {
  if (args.empty() && task.inputs.empty()) return List{};
  auto v = DecodeMsgpack(args);
  if (!v) return Err(InvalidArgument("malformed task arguments: " + v.error().message()));
  if (!v->is_list()) return Err(InvalidArgument("task arguments are not a list"));
  List list = std::move(v->as_list());
  if (list.size() != task.inputs.size()) {
    return Err(InvalidArgument("task " + task.name + " declares " +
                               std::to_string(task.inputs.size()) + " input(s) but got " +
                               std::to_string(list.size()) + " argument(s)"));
  }
  return list;
}

std::optional<size_t> FindInput(const wire::TaskDesc& task, std::string_view name) {
  for (size_t i = 0; i < task.inputs.size(); ++i) {
    if (task.inputs[i].name == name) return i;
  }
  return std::nullopt;
}

nlohmann::json InputsJson(const wire::TaskDesc& task, const List& args) {
  nlohmann::json obj = nlohmann::json::object();
  for (size_t i = 0; i < task.inputs.size() && i < args.size(); ++i) {
    obj[task.inputs[i].name] = ToJson(args[i]);
  }
  return obj;
}

std::optional<std::string_view> PlaceholderInput(std::string_view placeholder) {
  if (!placeholder.starts_with("{{") || !placeholder.ends_with("}}") || placeholder.size() < 4) {
    return std::nullopt;
  }
  std::string_view inner = TrimSpace(placeholder.substr(2, placeholder.size() - 4));
  constexpr std::string_view kPrefix = "inputs.";
  if (!inner.starts_with(kPrefix)) return std::nullopt;
  return inner.substr(kPrefix.size());
}

std::string PlaceholderText(const Value& v) { return v.is_str() ? v.as_str() : ToJson(v).dump(); }

Status UnknownInputError(std::string_view arg, std::string_view name, const wire::TaskDesc& task) {
  return InvalidArgument("command argument '" + std::string(arg) + "' refers to unknown input '" +
                         std::string(name) + "' (inputs: " + Names(task.inputs) + ")");
}

Result<std::string> SubstitutePlaceholders(std::string_view arg, const wire::TaskDesc& task,
                                           const List& args) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t open = arg.find("{{", pos);
    if (open == std::string_view::npos) break;
    size_t close = arg.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    auto name = PlaceholderInput(arg.substr(open, close + 2 - open));
    if (!name) {
      // Not ours: keep the text as is.
      out.append(arg.substr(pos, close + 2 - pos));
      pos = close + 2;
      continue;
    }
    auto idx = FindInput(task, *name);
    if (!idx || *idx >= args.size()) return Err(UnknownInputError(arg, *name, task));
    out.append(arg.substr(pos, open - pos));
    out += PlaceholderText(args[*idx]);
    pos = close + 2;
  }
  out.append(arg.substr(pos));
  return out;
}

Result<std::string> EncodeOutputs(const std::vector<wire::Param>& outputs,
                                  std::vector<Value> values) {
  if (values.size() != outputs.size()) {
    return Err(InvalidArgument("expected " + std::to_string(outputs.size()) + " output(s), got " +
                               std::to_string(values.size())));
  }
  std::string out = MsgpackArrayHeader(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    auto type = Type::Parse(outputs[i].type);
    if (!type) {
      return Err(InvalidArgument("output '" + outputs[i].name +
                                 "' has an invalid type: " + type.error().message()));
    }
    Status st = type->Check(values[i]);
    if (!st.ok()) {
      return Err(InvalidArgument("output '" + outputs[i].name + "': " + st.message()));
    }
    EncodeMsgpackTo(type->Coerce(std::move(values[i])), &out);
  }
  return out;
}

Result<std::string> EncodeSingleOutput(const std::vector<wire::Param>& outputs, Value value) {
  if (outputs.empty()) return EncodeOutputs(outputs, {});
  if (outputs.size() > 1) {
    return Err(InvalidArgument("the task declares " + std::to_string(outputs.size()) +
                               " outputs (" + Names(outputs) +
                               ") but the function returns one value"));
  }
  std::vector<Value> values;
  values.push_back(std::move(value));
  return EncodeOutputs(outputs, std::move(values));
}

Result<std::string> ParseCommandOutputs(const std::vector<wire::Param>& outputs,
                                        const std::optional<std::string>& outputs_file,
                                        std::string_view stdout_text) {
  if (outputs_file) {
    auto parsed = ParseJson(*outputs_file);
    if (!parsed) {
      return Err(InvalidArgument("$FANOUT_OUTPUTS is not valid JSON: " + parsed.error().message()));
    }
    if (!parsed->is_map()) {
      return Err(InvalidArgument(std::string("$FANOUT_OUTPUTS must hold a JSON object, got ") +
                                 parsed->kind_name()));
    }
    Map& m = parsed->as_map();
    std::vector<Value> values;
    for (const auto& p : outputs) {
      auto it = m.find(p.name);
      if (it == m.end()) {
        return Err(InvalidArgument("output '" + p.name + "' is missing from $FANOUT_OUTPUTS"));
      }
      values.push_back(std::move(it->second));
      m.erase(it);
    }
    if (!m.empty()) {
      return Err(InvalidArgument("$FANOUT_OUTPUTS has undeclared output '" + m.begin()->first +
                                 "' (declared: " + Names(outputs) + ")"));
    }
    return EncodeOutputs(outputs, std::move(values));
  }
  if (outputs.empty()) return EncodeOutputs(outputs, {});
  if (outputs.size() > 1) {
    return Err(InvalidArgument("the task declares " + std::to_string(outputs.size()) +
                               " outputs (" + Names(outputs) +
                               ") but wrote no $FANOUT_OUTPUTS file"));
  }
  std::string_view text = TrimSpace(stdout_text);
  if (text.empty()) {
    return Err(InvalidArgument("output '" + outputs[0].name +
                               "': the task wrote no $FANOUT_OUTPUTS file and nothing on stdout"));
  }
  auto parsed = ParseJson(text);
  if (!parsed) {
    return Err(InvalidArgument("output '" + outputs[0].name +
                               "': stdout is not one JSON value: " + parsed.error().message()));
  }
  std::vector<Value> values;
  values.push_back(std::move(*parsed));
  return EncodeOutputs(outputs, std::move(values));
}

std::string LastNonEmptyLine(std::string_view text, size_t max_len) {
  while (!text.empty()) {
    size_t nl = text.rfind('\n');
    std::string_view line = nl == std::string_view::npos ? text : text.substr(nl + 1);
    line = TrimSpace(line);
    if (!line.empty()) return std::string(line.substr(0, max_len));
    if (nl == std::string_view::npos) break;
    text = text.substr(0, nl);
  }
  return "";
}

}  // namespace fanout::worker
