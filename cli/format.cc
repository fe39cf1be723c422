#include "cli/format.h"

#include <ctime>

#include <fmt/format.h>

namespace fanout::cli {

namespace {

void AppendCompact(const Json& j, std::string& out) {
  if (j.is_array()) {
    out += '[';
    bool first = true;
    for (const Json& e : j) {
      if (!first) out += ", ";
      first = false;
      AppendCompact(e, out);
    }
    out += ']';
  } else if (j.is_object()) {
    out += '{';
    bool first = true;
    for (const auto& [k, v] : j.items()) {
      if (!first) out += ", ";
      first = false;
      out += Json(k).dump();
      out += ": ";
      AppendCompact(v, out);
    }
    out += '}';
  } else {
    // Replace invalid UTF-8 rather than throw: values come from user tasks.
    out += j.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

std::string FormatClock(int64_t ms) {
  if (ms <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

// Duration of an execution: ended − created, or now − created while it runs.
std::string Age(const Json& j, int64_t now_ms) {
  int64_t created = JsonInt(j, "created_ms");
  int64_t ended = JsonInt(j, "ended_ms");
  if (created <= 0) return "-";
  return FormatDurationMs((ended > 0 ? ended : now_ms) - created);
}

std::string JoinStrings(const Json& arr) {
  std::string out;
  if (!arr.is_array()) return out;
  for (const Json& e : arr) {
    if (!out.empty()) out += ",";
    out += e.is_string() ? e.get<std::string>() : e.dump();
  }
  return out;
}

}  // namespace

std::string JsonStr(const Json& j, const char* key, std::string def) {
  if (!j.is_object()) return def;
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return def;
  return it->get<std::string>();
}

int64_t JsonInt(const Json& j, const char* key, int64_t def) {
  if (!j.is_object()) return def;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return def;
  if (it->is_number_float()) return static_cast<int64_t>(it->get<double>());
  return it->get<int64_t>();
}

std::string CompactJson(const Json& j) {
  std::string out;
  AppendCompact(j, out);
  return out;
}

std::string FormatDurationMs(int64_t ms) {
  if (ms < 0) return "-";
  if (ms < 1000) return fmt::format("{}ms", ms);
  if (ms < 60'000) {
    if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
    return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
  }
  int64_t s = ms / 1000;
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

std::string FormatOutputs(const Json& outputs) {
  std::string out;
  if (!outputs.is_object()) return out;
  for (const auto& [name, value] : outputs.items()) {
    out += name;
    out += ": ";
    out += CompactJson(value);
    out += '\n';
  }
  return out;
}

std::string FormatStatus(const Json& status, int64_t now_ms) {
  std::string out = fmt::format("execution {}  workflow {}  {}  {}\n", JsonStr(status, "execution"),
                                JsonStr(status, "workflow"), JsonStr(status, "phase", "?"),
                                Age(status, now_ms));
  std::vector<std::vector<std::string>> rows = {{"  NODE", "KIND", "PHASE", "SIZE", "COUNTS"}};
  const Json& nodes = status.contains("nodes") ? status["nodes"] : Json::array();
  static constexpr const char* kCounts[] = {"succeeded", "running", "queued",  "failed",
                                            "aborted",   "retrying", "cached", "waiting_for_cache"};
  for (const Json& n : nodes) {
    std::string counts;
    const Json& c = n.contains("counts") ? n["counts"] : Json::object();
    for (const char* k : kCounts) {
      int64_t v = JsonInt(c, k);
      // Always show succeeded and failed; the rest only when non-zero, to keep lines short.
      if (v == 0 && std::string_view(k) != "succeeded" && std::string_view(k) != "failed") continue;
      if (!counts.empty()) counts += "  ";
      counts += fmt::format("{} {}", k, v);
    }
    std::string size = std::to_string(JsonInt(n, "size"));
    if (n.contains("min_successes") && JsonInt(n, "min_successes") != JsonInt(n, "size")) {
      size += fmt::format(" (min {})", JsonInt(n, "min_successes"));
    }
    rows.push_back({"  " + JsonStr(n, "id"), JsonStr(n, "kind"), JsonStr(n, "phase"), size, counts});
  }
  if (rows.size() > 1) out += FormatTable(rows);
  for (const Json& n : nodes) {
    const Json& failed = n.contains("failed") ? n["failed"] : Json::array();
    if (failed.is_array() && !failed.empty()) {
      out += fmt::format("  {}: failed subtasks\n", JsonStr(n, "id"));
      for (const Json& f : failed) {
        out += fmt::format("    [{}] attempts {}: {}\n", JsonInt(f, "index"), JsonInt(f, "attempts"),
                           JsonStr(f, "error"));
      }
    }
    std::string err = JsonStr(n, "error");
    if (!err.empty()) out += fmt::format("  {}: {}\n", JsonStr(n, "id"), err);
    std::string waiting = JsonStr(n, "waiting");
    if (!waiting.empty()) out += fmt::format("  {}: waiting: {}\n", JsonStr(n, "id"), waiting);
  }
  std::string err = JsonStr(status, "error");
  if (!err.empty()) out += fmt::format("error: {}\n", err);
  return out;
}

std::string FormatToleratedFailures(const Json& doc, const std::string& exec, size_t max_lines) {
  int64_t total = JsonInt(doc, "failed_total");
  const Json& failed = doc.contains("failed") && doc["failed"].is_array() ? doc["failed"] : Json::array();
  if (total <= 0 && failed.empty()) return "";
  total = std::max<int64_t>(total, static_cast<int64_t>(failed.size()));
  std::string out = fmt::format("tolerated {} failed subtask{} (their outputs are null):\n", total, total == 1 ? "" : "s");
  size_t shown = 0;
  for (const Json& f : failed) {
    if (shown == max_lines) break;
    out += fmt::format("  {}[{}]: {}\n", JsonStr(f, "node"), JsonInt(f, "index"), JsonStr(f, "error"));
    ++shown;
  }
  if (static_cast<int64_t>(shown) < total)
    out += fmt::format("  ... {} more: fanout status {}\n", total - static_cast<int64_t>(shown), exec);
  return out;
}

std::optional<std::pair<std::string, int64_t>> LowestFailedSubtask(const Json& status) {
  if (!status.is_object() || !status.contains("nodes") || !status["nodes"].is_array()) return std::nullopt;
  for (const Json& n : status["nodes"]) {
    if (!n.contains("failed") || !n["failed"].is_array() || n["failed"].empty()) continue;
    int64_t lowest = -1;
    for (const Json& f : n["failed"]) {
      int64_t i = JsonInt(f, "index", -1);
      if (i >= 0 && (lowest < 0 || i < lowest)) lowest = i;
    }
    if (lowest >= 0) return std::make_pair(JsonStr(n, "id"), lowest);
  }
  return std::nullopt;
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& r : rows) {
    if (widths.size() < r.size()) widths.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) widths[i] = std::max(widths[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(widths[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  return out;
}

std::string FormatExecutions(const Json& list, int64_t now_ms) {
  std::vector<std::vector<std::string>> rows = {
      {"EXECUTION", "WORKFLOW", "PHASE", "CREATED", "DURATION"}};
  const Json& execs = list.contains("executions") ? list["executions"] : Json::array();
  for (const Json& e : execs) {
    rows.push_back({JsonStr(e, "execution"), JsonStr(e, "workflow"), JsonStr(e, "phase"),
                    FormatClock(JsonInt(e, "created_ms")), Age(e, now_ms)});
  }
  return FormatTable(rows);
}

std::string FormatWorkers(const Json& workers) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "HOST", "PID", "SLOTS", "COMMANDS", "RUNNING", "HEARTBEAT", "INTERRUPTIBLE", "LABELS", "FUNCTIONS"}};
  const Json& ws = workers.contains("workers") ? workers["workers"] : Json::array();
  for (const Json& w : ws) {
    bool interruptible = w.contains("interruptible") && w["interruptible"].is_boolean() &&
                         w["interruptible"].get<bool>();
    rows.push_back({JsonStr(w, "id"), JsonStr(w, "host"), std::to_string(JsonInt(w, "pid")),
                    std::to_string(JsonInt(w, "slots")),
                    std::to_string(JsonInt(w, "command_slots", JsonInt(w, "slots"))),
                    std::to_string(JsonInt(w, "running")),
                    FormatDurationMs(JsonInt(w, "heartbeat_age_ms")) + " ago",
                    interruptible ? "yes" : "no",
                    w.contains("labels") ? JoinStrings(w["labels"]) : "",
                    w.contains("functions") ? JoinStrings(w["functions"]) : ""});
  }
  return FormatTable(rows);
}

}  // namespace fanout::cli
