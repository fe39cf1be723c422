#include "tests/chaos/chaos_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "coordinator/keys.h"

namespace fanout::testing::chaos {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr const char* kNode = "double";

// Parses one RESP array of bulk strings at `pos` (a command as Redis writes it to the AOF).
// Returns false at the end or on a truncated tail (a SIGKILLed Redis may leave one).
bool NextCommand(const std::string& s, size_t& pos, std::vector<std::string>& argv) {
  argv.clear();
  auto read_line = [&](char prefix, long& value) {
    if (pos >= s.size() || s[pos] != prefix) return false;
    size_t eol = s.find("\r\n", pos);
    if (eol == std::string::npos) return false;
    value = std::strtol(s.c_str() + pos + 1, nullptr, 10);
    pos = eol + 2;
    return true;
  };
  long n = 0;
  if (!read_line('*', n)) return false;
  for (long i = 0; i < n; ++i) {
    long len = 0;
    if (!read_line('$', len) || len < 0) return false;
    if (pos + static_cast<size_t>(len) + 2 > s.size()) return false;
    argv.emplace_back(s, pos, static_cast<size_t>(len));
    pos += static_cast<size_t>(len) + 2;
  }
  return true;
}

std::string AofDir(const std::string& dir) { return dir + "/appendonlydir"; }

// The manifest's files as (name, type) in order.
std::vector<std::pair<std::string, std::string>> Manifest(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& e : fs::directory_iterator(AofDir(dir))) {
    if (e.path().extension() != ".manifest") continue;
    std::istringstream in(ReadFile(e.path().string()));
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string word, name, type;
      while (ls >> word) {
        std::string v;
        ls >> v;
        if (word == "file") name = v;
        if (word == "type") type = v;
      }
      if (!name.empty()) files.emplace_back(name, type);
    }
  }
  return files;
}

RunResult Cli(Cluster& cluster, std::vector<std::string> args, const std::string& coordinator,
              milliseconds timeout = milliseconds(60000)) {
  Env env = cluster.CliEnv();
  if (!coordinator.empty()) {
    args.push_back("--coordinator");
    args.push_back(coordinator);
    // The environment too: FANOUT_COORDINATOR overrides --coordinator on most verbs (a CLI bug
    // reported with this suite), and CliEnv() sets it to the cluster's coordinator.
    for (auto& [k, v] : env)
      if (k == "FANOUT_COORDINATOR") v = coordinator;
  }
  args.insert(args.begin(), BinDir() + "/fanout");
  return Run(args, env, SourceDir(), timeout);
}

}  // namespace

bool LongForm() {
  const char* v = std::getenv("FANOUT_CHAOS_LONG");
  return v != nullptr && std::string(v) == "1";
}

std::string Submit(Cluster& cluster, const std::string& markers, int n, int sleep_ms,
                   int concurrency, const std::string& coordinator) {
  DisableAofRewrite(cluster.redis());
  fs::create_directories(markers);
  std::string spec = cluster.dir().WriteFile("chaos.yaml", DoubleSpec(markers, sleep_ms, concurrency));
  RunResult run = Cli(cluster, {"run", spec, "-i", RangeInputArg(cluster.dir(), n), "--no-wait"}, coordinator);
  if (run.exit_code != 0) {
    ADD_FAILURE() << "submission failed: " << run;
    return {};
  }
  std::string exec = run.out.substr(0, run.out.find_first_of(" \n"));
  if (exec.empty()) ADD_FAILURE() << "no execution id in: " << run;
  return exec;
}

std::string PhaseInRedis(const RedisServer& redis, const std::string& exec) {
  std::string p = redis.Command({"HGET", keys::Exec(exec), keys::kFieldPhase});
  return p.rfind("(", 0) == 0 ? std::string() : p;
}

long CommittedInRedis(const RedisServer& redis, const std::string& exec) {
  std::string n = redis.Command({"HLEN", keys::Outputs(exec, kNode)});
  return n.empty() || n[0] == '(' ? -1 : std::atol(n.c_str());
}

std::string WaitTerminal(const RedisServer& redis, const std::string& exec, milliseconds timeout) {
  std::string phase;
  bool done = WaitFor(
      [&] {
        phase = PhaseInRedis(redis, exec);
        return !phase.empty() && phase != "RUNNING" && phase != "PENDING";
      },
      timeout, milliseconds(100));
  return done ? phase : std::string();
}

void DisableAofRewrite(const RedisServer& redis) {
  std::string r = redis.Command({"CONFIG", "SET", "auto-aof-rewrite-percentage", "0"});
  EXPECT_EQ(r, "OK") << "CONFIG SET auto-aof-rewrite-percentage 0";
}

std::map<std::string, std::vector<std::string>> AofFieldWrites(const std::string& dir,
                                                                const std::string& key) {
  std::map<std::string, std::vector<std::string>> out;
  auto files = Manifest(dir);
  EXPECT_FALSE(files.empty()) << "no AOF manifest in " << AofDir(dir);
  for (const auto& [name, type] : files) {
    if (type == "b") {
      // A rewrite replaces history by a snapshot: the first base is the only one allowed.
      EXPECT_NE(name.find(".1.base."), std::string::npos)
          << "the AOF was rewritten (base " << name << "): commits cannot be counted";
      if (name.size() < 4 || name.substr(name.size() - 4) != ".aof") continue;  // RDB preamble
    }
    std::string data = ReadFile(AofDir(dir) + "/" + name);
    size_t pos = 0;
    std::vector<std::string> argv;
    while (NextCommand(data, pos, argv)) {
      if (argv.size() < 4 || argv.size() % 2 != 0 || argv[1] != key) continue;
      bool hsetnx = argv[0] == "HSETNX" || argv[0] == "hsetnx";
      bool hset = argv[0] == "HSET" || argv[0] == "hset" || argv[0] == "HMSET" || argv[0] == "hmset";
      if (hsetnx && argv.size() != 4) continue;
      if (!hsetnx && !hset) continue;
      for (size_t i = 2; i + 1 < argv.size(); i += 2) out[argv[i]].push_back(argv[i + 1]);
    }
  }
  return out;
}

uintmax_t AofBytes(const std::string& dir) {
  uintmax_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(AofDir(dir), ec))
    if (e.is_regular_file()) total += e.file_size();
  return total;
}

void ExpectWorkersAlive(Cluster& cluster) {
  for (size_t i = 0; i < cluster.worker_count(); ++i) {
    Process& w = cluster.worker(i);
    EXPECT_TRUE(w.Running()) << "worker " << i << " died (exit " << w.Wait(milliseconds(0)).value_or(-1)
                             << "); last lines of its log:\n"
                             << TailFile(w.StderrPath(), 5);
  }
}

Report::~Report() {
  const char* path = std::getenv("FANOUT_CHAOS_REPORT");
  double wall = std::chrono::duration<double>(SteadyClock::now() - start).count();
  nlohmann::json j = {{"scenario", scenario},   {"form", form},
                      {"n", n},                 {"kills", kills},
                      {"reexecutions", reexecutions}, {"retry_runs", retry_runs},
                      {"duplicates", duplicates},
                      {"missing", missing},     {"wall_s", std::round(wall * 10) / 10},
                      {"pass", !::testing::Test::HasFailure()}};
  for (auto& [k, v] : extra.items()) j[k] = v;
  std::cerr << "[chaos] " << j.dump() << "\n";
  if (path == nullptr || *path == '\0') return;
  std::ofstream(path, std::ios::app) << j.dump() << "\n";
}

void CheckOutcome(Cluster& cluster, const std::string& exec, const std::string& markers, int n,
                  Report& report, const std::string& coordinator) {
  // Commits, counted in the AOF. Redis writes its AOF buffer before replying, so what the
  // coordinator saw committed is in the file (fsync only matters for a host crash).
  std::string key = keys::Outputs(exec, kNode);
  auto commits = AofFieldWrites(cluster.redis().Dir(), key);
  long duplicates = 0, missing = 0, wrong = 0;
  for (int i = 0; i < n; ++i) {
    auto it = commits.find(std::to_string(i));
    if (it == commits.end()) {
      ++missing;
      ADD_FAILURE() << "index " << i << ": no output write in the AOF";
      continue;
    }
    if (it->second.size() != 1) {
      ++duplicates;
      ADD_FAILURE() << "index " << i << ": committed " << it->second.size() << " times";
    }
    for (const std::string& v : it->second) {
      auto doc = nlohmann::json::from_msgpack(v, true, false);
      if (!(doc.is_array() && doc.size() == 1 && doc[0] == 2 * i)) {
        if (++wrong <= 5) ADD_FAILURE() << "index " << i << ": committed " << doc.dump();
      }
    }
  }
  EXPECT_EQ(commits.size(), static_cast<size_t>(n)) << "output writes on fields outside 0..n-1";
  EXPECT_EQ(wrong, 0) << "committed values that differ from 2x";
  EXPECT_EQ(CommittedInRedis(cluster.redis(), exec), n);
  report.duplicates = duplicates;
  report.missing = missing;

  // Executions, counted with markers.
  int retry_runs = 0;
  auto runs = CountMarkers(markers, &retry_runs);
  long total = 0, never = 0;
  for (int i = 0; i < n; ++i) {
    total += runs[i];
    if (runs[i] < 1 && ++never <= 5) ADD_FAILURE() << "index " << i << " never ran";
  }
  report.reexecutions = total - n;
  report.retry_runs = retry_runs;

  // What the user sees: the execution succeeded with the reference outputs.
  RunResult status = Cli(cluster, {"status", exec, "-o", "json"}, coordinator);
  ASSERT_EQ(status.exit_code, 0) << status;
  auto s = nlohmann::json::parse(status.out, nullptr, false);
  ASSERT_TRUE(s.is_object()) << status.out;
  EXPECT_EQ(s.value("phase", ""), "SUCCEEDED") << status.out.substr(0, 2000);
  RunResult outputs = Cli(cluster, {"outputs", exec, "-o", "json"}, coordinator);
  ASSERT_EQ(outputs.exit_code, 0) << outputs;
  auto doc = nlohmann::json::parse(outputs.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << outputs.out.substr(0, 2000);
  const auto& o0 = doc["outputs"]["o0"];
  ASSERT_TRUE(o0.is_array()) << outputs.out.substr(0, 2000);
  ASSERT_EQ(o0.size(), static_cast<size_t>(n));
  long bad = 0;
  for (int i = 0; i < n; ++i)
    if (o0[i] != 2 * i && ++bad <= 5) ADD_FAILURE() << "output " << i << " = " << o0[i].dump();
  EXPECT_EQ(bad, 0) << "outputs that differ from the reference";
}

std::chrono::milliseconds TerminalDeadline(bool long_form) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr int kScale = 4;
#else
  constexpr int kScale = 1;
#endif
  return std::chrono::milliseconds((long_form ? 900000 : 180000) * kScale);
}

void ExpectSucceededOnce(Cluster& cluster, const std::string& exec, const std::string& markers,
                         int n, Report& report) {
  std::string phase = WaitTerminal(cluster.redis(), exec, TerminalDeadline(report.form == "long"));
  if (phase != "SUCCEEDED") ExpectWorkersAlive(cluster);
  ASSERT_EQ(phase, "SUCCEEDED");
  CheckOutcome(cluster, exec, markers, n, report);
  ExpectWorkersAlive(cluster);
}

bool KillCoordinatorRepeatedly(Cluster& cluster, const std::string& exec, int max_kills, Report& report,
                               const std::function<long()>& progress,
                               const std::function<void(long)>& after_kill) {
  long last = -1;
  while (report.kills < max_kills) {
    // The chaos interval: 2 s, cut short when the execution ends.
    bool ended = WaitFor(
        [&] {
          std::string p = PhaseInRedis(cluster.redis(), exec);
          return !p.empty() && p != "RUNNING";
        },
        milliseconds(2000), milliseconds(50));
    if (ended) return true;
    long now = progress();
    if (now == last) {
      report.extra["stalled_at"] = now;
      ADD_FAILURE() << "no progress in the 2 s after restart " << report.kills << " (at " << now
                    << "): the kills stop here";
      return true;
    }
    last = now;
    cluster.KillCoordinator(SIGKILL);
    ++report.kills;
    after_kill(now);
    if (!cluster.StartCoordinator()) {
      ADD_FAILURE() << "restart " << report.kills << " failed";
      return false;
    }
  }
  return true;
}

}  // namespace fanout::testing::chaos
