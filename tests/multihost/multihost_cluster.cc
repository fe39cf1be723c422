#include "tests/multihost/multihost_cluster.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace fanout::testing::multihost {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// Where deploy/systemd expects things, and where the build has them.
constexpr const char* kInstallRoot = "/opt/fanout";
constexpr const char* kEnvFileInstalled = "/etc/fanout/fanout.env";

std::string SystemdDir() { return SourceDir() + "/deploy/systemd"; }

// An install path of deploy/ (/opt/fanout/bin/X, /opt/fanout/lib/X, /opt/fanout) → the build
// tree's; "" for a path outside the install layout.
std::string MapInstallPath(const std::string& path) {
  const std::string root = kInstallRoot;
  if (path == root) return SourceDir();  // WorkingDirectory: examples' relative paths resolve
  for (const std::string& dir : {root + "/bin/", root + "/lib/"})
    if (path.rfind(dir, 0) == 0) return BinDir() + "/" + path.substr(dir.size());
  return {};
}

// The worker log line (worker.cc, OnHeartbeatTimer) when the coordinator has been silent for a
// liveness window and the worker drops the connection to reconnect.
constexpr const char* kWorkerLostCoordinator = "no message from the coordinator for";

int CountOccurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

}  // namespace

HostSecurity MakeHostSecurity(const std::string& keys_dir) {
  // The keys an operator makes (docs/security.md): the coordinator's directory with its
  // allow-lists, one client key pair and one worker key pair, listed there. They are given as
  // flags, which win over the env file's FANOUT_KEYS_DIR / FANOUT_SERVER_KEY / FANOUT_KEY paths.
  HostSecurity s;
  const std::string fanout = BinDir() + "/fanout";
  const std::string coord = keys_dir + "/coordinator";
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{fanout, "keygen", "--coordinator-dir", coord},
        std::vector<std::string>{fanout, "keygen", "client", "--dir", keys_dir, "--allow", coord + "/clients"},
        std::vector<std::string>{fanout, "keygen", "worker", "--dir", keys_dir, "--allow", coord + "/workers"}}) {
    RunResult r = Run(argv, {}, {}, milliseconds(20000));
    if (r.exit_code != 0) {
      ADD_FAILURE() << "fanout keygen failed: " << r;
      return s;
    }
  }
  s.coordinator_args = {"--keys-dir", coord};
  s.worker_args = {"--server-key", coord + "/server.pub", "--key", keys_dir + "/worker.key"};
  s.client_env = {{"FANOUT_SERVER_KEY", coord + "/server.pub"}, {"FANOUT_KEY", keys_dir + "/client.key"}};
  return s;
}

MultiHostCluster::MultiHostCluster(MultiHostOptions options) : options_(std::move(options)) {
  for (const char* bin : {"fanout-coordinator", "fanout-worker", "fanout"}) {
    if (access((BinDir() + "/" + bin).c_str(), X_OK) != 0) {
      ADD_FAILURE() << BinDir() << "/" << bin << " is not built";
      return;
    }
  }
  std::vector<std::string> hosts = {"coord"};
  for (int i = 1; i <= options_.worker_hosts; ++i) hosts.push_back("w" + std::to_string(i));
  topology_ = std::make_unique<Topology>(hosts, options_.subnet);
  if (!topology_->ok()) return;
  in_coordinator_host_ = std::make_unique<NetnsScope>(topology_->Namespace(kCoordinatorHost));
  if (!in_coordinator_host_->ok()) return;

  security_ = MakeHostSecurity(keys_dir_.path());
  // Redis starts on 127.0.0.1 of the coordinator host (this thread is there now). The base
  // cluster starts no daemons, so its env reaches only the CLI: the client credentials.
  ClusterOptions base;
  base.start = false;
  base.env = security_.client_env;
  base_ = std::make_unique<Cluster>(base);
  if (::testing::Test::HasFailure()) return;

  // The env file, as an operator would install it, with this cluster's addresses.
  const std::string env_path = SystemdDir() + "/fanout.env.example";
  auto parsed = ParseEnvFile(ReadFile(env_path), env_path);
  if (!parsed) {
    ADD_FAILURE() << parsed.error().ToString();
    return;
  }
  env_file_ = *parsed;
  for (const char* key : {"FANOUT_REDIS", "FANOUT_BIND", "FANOUT_EVENTS_BIND",
                          "FANOUT_COORDINATOR", "FANOUT_PLUGINS", "FANOUT_HEARTBEAT_MS",
                          "FANOUT_LIVENESS"}) {
    if (Lookup(env_file_, key).empty()) {
      ADD_FAILURE() << env_path << " no longer sets " << key << ": the multi-host tests and "
                    << "docs/deploy-workers.md rely on it";
      return;
    }
  }
  const std::string coord = topology_->Address(kCoordinatorHost);
  std::string scheme, host;
  int port = 0, events_port = 0, worker_port = 0;
  if (!SplitEndpoint(Lookup(env_file_, "FANOUT_REDIS"), &scheme, &host, &port) ||
      (host != "127.0.0.1" && host != "localhost")) {
    ADD_FAILURE() << env_path << ": FANOUT_REDIS should be Redis on the coordinator's own host";
    return;
  }
  Set(env_file_, "FANOUT_REDIS", host + ":" + std::to_string(base_->redis().Port()));
  if (!SplitEndpoint(Lookup(env_file_, "FANOUT_BIND"), &scheme, &host, &port) ||
      !SplitEndpoint(Lookup(env_file_, "FANOUT_EVENTS_BIND"), &scheme, &host, &events_port) ||
      !SplitEndpoint(Lookup(env_file_, "FANOUT_COORDINATOR"), &scheme, &host, &worker_port)) {
    ADD_FAILURE() << env_path << ": FANOUT_BIND, FANOUT_EVENTS_BIND and FANOUT_COORDINATOR must "
                  << "be tcp://HOST:PORT";
    return;
  }
  if (worker_port != port) {
    ADD_FAILURE() << env_path << ": workers connect to port " << worker_port
                  << " but the coordinator binds " << port;
    return;
  }
  Set(env_file_, "FANOUT_BIND", "tcp://" + coord + ":" + std::to_string(port));
  Set(env_file_, "FANOUT_EVENTS_BIND", "tcp://" + coord + ":" + std::to_string(events_port));
  Set(env_file_, "FANOUT_COORDINATOR", "tcp://" + coord + ":" + std::to_string(port));
  std::string plugins, item;
  std::stringstream list(Lookup(env_file_, "FANOUT_PLUGINS"));
  while (std::getline(list, item, ':')) {
    std::string mapped = MapInstallPath(item);
    if (mapped.empty()) {
      ADD_FAILURE() << env_path << ": plugin " << item << " is outside " << kInstallRoot;
      return;
    }
    plugins += (plugins.empty() ? "" : ":") + mapped;
  }
  Set(env_file_, "FANOUT_PLUGINS", plugins);
  liveness_ = milliseconds(std::atol(Lookup(env_file_, "FANOUT_HEARTBEAT_MS").c_str()) *
                           std::atol(Lookup(env_file_, "FANOUT_LIVENESS").c_str()));

  if (!StartCoordinator()) return;
  for (int i = 0; i < options_.worker_hosts; ++i) {
    workers_.emplace_back();
    worker_ids_.emplace_back();
    if (!StartWorker(static_cast<size_t>(i))) return;
  }
  ok_ = WaitWorkers(
      [&](const auto& listed) {
        for (const auto& id : worker_ids_)
          if (!listed.contains(id)) return false;
        return true;
      },
      milliseconds(60000));
  if (!ok_) ADD_FAILURE() << "the workers did not all join the coordinator over the bridge";
}

MultiHostCluster::~MultiHostCluster() {
  if (::testing::Test::HasFailure()) DumpLogs(std::cerr);
  workers_.clear();
  coordinator_.reset();
  // What the daemons left behind (commands of killed workers), before their directory goes;
  // the coordinator's host after Redis (which its owner stops).
  auto kill_leftovers = [&](size_t h) {
    int n = KillAllInNamespace(topology_->Namespace(h));
    if (n > 0)
      std::cerr << "[multihost] killed " << n << " leftover process(es) on host "
                << topology_->Role(h) << "\n";
  };
  if (topology_)
    for (size_t h = 0; h < topology_->size(); ++h)
      if (h != kCoordinatorHost) kill_leftovers(h);
  base_.reset();
  if (topology_) kill_leftovers(kCoordinatorHost);
  in_coordinator_host_.reset();
  topology_.reset();
}

std::string MultiHostCluster::CoordinatorAddress() const { return Lookup(env_file_, "FANOUT_BIND"); }

bool MultiHostCluster::Launch(const std::string& unit_file, const std::string& instance,
                              const std::string& host, std::vector<std::string>* argv, Env* env,
                              std::string* cwd) {
  const std::string path = SystemdDir() + "/" + unit_file;
  auto unit = ParseUnit(ReadFile(path), path, instance, host);
  if (!unit) {
    ADD_FAILURE() << unit.error().ToString();
    return false;
  }
  if (unit->environment_files != std::vector<std::string>{kEnvFileInstalled}) {
    ADD_FAILURE() << path << ": expected EnvironmentFile=-" << kEnvFileInstalled
                  << " (the installed fanout.env.example)";
    return false;
  }
  *argv = unit->exec_start;
  std::string exe = MapInstallPath((*argv)[0]);
  if (exe.empty()) {
    ADD_FAILURE() << path << ": ExecStart " << (*argv)[0] << " is outside " << kInstallRoot;
    return false;
  }
  (*argv)[0] = exe;
  // systemd: Environment= first, the EnvironmentFile overrides it.
  *env = unit->environment;
  env->insert(env->end(), env_file_.begin(), env_file_.end());
  *cwd = unit->working_directory.empty() ? base_->dir().path()
                                         : MapInstallPath(unit->working_directory);
  if (cwd->empty()) {
    ADD_FAILURE() << path << ": WorkingDirectory " << unit->working_directory << " is outside "
                  << kInstallRoot;
    return false;
  }
  return true;
}

bool MultiHostCluster::StartCoordinator() {
  std::vector<std::string> argv;
  Env env;
  std::string cwd;
  if (!Launch("fanout-coordinator.service", "", "coord", &argv, &env, &cwd)) return false;
  argv.insert(argv.end(), security_.coordinator_args.begin(), security_.coordinator_args.end());
  argv.insert(argv.end(), options_.coordinator_args.begin(), options_.coordinator_args.end());
  env.insert(env.end(), security_.coordinator_env.begin(), security_.coordinator_env.end());
  if (coordinator_) coordinator_->Stop(SIGKILL, milliseconds(10000));
  // This thread is in the coordinator's host: the child starts there.
  coordinator_ = std::make_unique<Process>(argv, base_->dir().path(), env, cwd, "coordinator");
  bool healthy = WaitFor(
      [&] {
        if (!coordinator_->Running()) return true;  // stop waiting: it died
        return Fanout({"health"}, milliseconds(10000)).exit_code == 0;
      },
      milliseconds(30000), milliseconds(100));
  if (healthy && coordinator_->Running()) return true;
  ADD_FAILURE() << "the coordinator did not become healthy at " << CoordinatorAddress()
                << "; stderr:\n"
                << TailFile(coordinator_->StderrPath(), 50);
  return false;
}

void MultiHostCluster::KillCoordinator(int sig) {
  if (coordinator_) coordinator_->Stop(sig, milliseconds(10000));
}

bool MultiHostCluster::StartWorker(size_t w) {
  const size_t host = HostOfWorker(w);
  const std::string role = topology_->Role(host);
  std::vector<std::string> argv;
  Env env;
  std::string cwd;
  // One worker per host, instance 1: fanout-worker@1 on machine "wI".
  if (!Launch("fanout-worker@.service", "1", role, &argv, &env, &cwd)) return false;
  std::string scratch = base_->dir().Path("scratch-" + role);
  std::error_code ec;
  fs::create_directories(scratch, ec);
  argv.insert(argv.end(), security_.worker_args.begin(), security_.worker_args.end());
  argv.insert(argv.end(), {"--slots", std::to_string(options_.slots), "--scratch", scratch});
  argv.insert(argv.end(), options_.worker_args.begin(), options_.worker_args.end());
  env.insert(env.end(), security_.worker_env.begin(), security_.worker_env.end());
  worker_ids_.at(w) = Lookup(env, "FANOUT_ID");
  if (worker_ids_[w].empty()) {
    ADD_FAILURE() << "fanout-worker@.service gives the worker no FANOUT_ID";
    return false;
  }
  if (workers_.at(w)) workers_[w]->Stop(SIGKILL, milliseconds(10000));
  NetnsScope on_host(topology_->Namespace(host));
  if (!on_host.ok()) return false;
  workers_[w] = std::make_unique<Process>(argv, base_->dir().path(), env, cwd, "worker-" + role);
  if (!workers_[w]->SpawnError().empty()) {
    ADD_FAILURE() << "worker " << role << ": " << workers_[w]->SpawnError();
    return false;
  }
  return true;
}

int MultiHostCluster::PowerOff(size_t w, bool* empty) {
  const size_t host = HostOfWorker(w);
  CutOff(host);
  int killed = KillAllInNamespace(topology_->Namespace(host), empty);
  // The worker was our child: reap it (it is dead already).
  workers_.at(w)->Wait(milliseconds(10000));
  return killed;
}

bool MultiHostCluster::PowerOn(size_t w) { return Heal(HostOfWorker(w)) && StartWorker(w); }

std::optional<std::map<std::string, long>> MultiHostCluster::Workers() {
  RunResult r = Fanout({"workers", "-o", "json"}, milliseconds(10000));
  if (r.exit_code != 0) return std::nullopt;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_object() && j.contains("workers")) j = j["workers"];
  if (!j.is_array()) return std::nullopt;
  std::map<std::string, long> out;
  for (const auto& w : j)
    if (w.is_object()) out[w.value("id", "")] = w.value("running", 0L);
  return out;
}

bool MultiHostCluster::WaitWorkers(
    const std::function<bool(const std::map<std::string, long>&)>& pred, milliseconds timeout) {
  return WaitFor(
      [&] {
        auto listed = Workers();
        return listed && pred(*listed);
      },
      timeout, milliseconds(200));
}

int MultiHostCluster::CoordinatorLossesSeenBy(size_t w) {
  return CountOccurrences(workers_.at(w)->Stderr(), kWorkerLostCoordinator);
}

RunResult MultiHostCluster::Fanout(std::vector<std::string> args, milliseconds timeout) {
  args.insert(args.begin(), BinDir() + "/fanout");
  args.push_back("--coordinator");
  args.push_back(CoordinatorAddress());
  Env env = base_->CliEnv();
  Set(env, "FANOUT_COORDINATOR", CoordinatorAddress());
  return Run(args, env, SourceDir(), timeout);
}

void MultiHostCluster::DumpLogs(std::ostream& os, size_t lines) const {
  std::vector<const Process*> procs;
  if (coordinator_) procs.push_back(coordinator_.get());
  for (const auto& w : workers_)
    if (w) procs.push_back(w.get());
  if (base_) os << "[multihost] cluster dir " << base_->dir().path() << "\n";
  for (const Process* p : procs) {
    for (const std::string& path : {p->StdoutPath(), p->StderrPath()}) {
      std::string tail = TailFile(path, lines);
      if (tail.empty()) continue;
      os << "===== " << path << " (last " << lines << " lines) =====\n" << tail;
    }
  }
}

}  // namespace fanout::testing::multihost
