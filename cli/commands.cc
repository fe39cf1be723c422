#include "cli/commands.h"

#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/client.h"
#include "cli/embedded_cluster.h"
#include "cli/exit_code.h"
#include "cli/format.h"
#include "cli/inputs.h"
#include "cli/keygen.h"
#include "cli/local_cluster.h"
#include "cli/progress.h"
#include "common/spec.h"
#include "common/status_doc.h"

#ifndef FANOUT_VERSION
#define FANOUT_VERSION "dev"
#endif

namespace fanout::cli {

namespace {

using std::chrono::milliseconds;

volatile std::sig_atomic_t g_interrupted = 0;

void OnInterrupt(int) {
  if (g_interrupted != 0) _exit(kExitInterrupted);  // a second Ctrl-C: leave at once
  g_interrupted = 1;
}

void InstallInterruptHandler() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking calls return EINTR and the loops check the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int64_t WallMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Sleeps up to d, returning early on Ctrl-C.
void SleepInterruptible(milliseconds d) {
  auto end = std::chrono::steady_clock::now() + d;
  while (g_interrupted == 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::min(milliseconds(50), std::chrono::duration_cast<milliseconds>(
                                                               end - std::chrono::steady_clock::now())));
  }
}

int Fail(const Status& s) {
  std::fprintf(stderr, "fanout: %s\n", s.message().c_str());
  return ExitCodeFor(s);
}

// Options shared by the verbs that talk to a coordinator.
struct Options {
  std::string coordinator;  // --coordinator / FANOUT_COORDINATOR
  std::string timeout;      // --timeout / FANOUT_TIMEOUT ("5s", "500ms", "5")
  std::string output;       // -o: "" or "json"
  std::string server_key;   // --server-key (else FANOUT_SERVER_KEY, else $FANOUT_HOME/keys/server.pub)
  std::string key;          // --key (else FANOUT_KEY, else $FANOUT_HOME/keys/client.key)
  bool json() const { return output == "json"; }
};

Result<milliseconds> TimeoutOf(const Options& o) {
  if (o.timeout.empty()) return milliseconds(5000);
  Result<int64_t> ms = ParseDurationMs(o.timeout);
  if (!ms || *ms <= 0) {
    return Err(InvalidArgument("--timeout/FANOUT_TIMEOUT: expected a duration like 5s or 500ms, got '" +
                               o.timeout + "'"));
  }
  return milliseconds(*ms);
}

// A connection to a coordinator, and the embedded cluster behind it when `run` started one.
struct Target {
  std::unique_ptr<EmbeddedCluster> cluster;  // declared first: destroyed after the client
  std::unique_ptr<Client> client;
};

// The coordinator: --coordinator, else FANOUT_COORDINATOR, else the local cluster of
// $FANOUT_HOME. start_local: `run` may start one for itself; other verbs only use a running one.
Result<Target> Connect(const Options& o, bool start_local, const std::vector<std::string>& plugins) {
  ASSIGN_OR_RETURN(milliseconds timeout, TimeoutOf(o));
  Target t;
  std::string address = o.coordinator;
  if (address.empty()) {
    if (start_local) {
      ASSIGN_OR_RETURN(t.cluster,
                       EmbeddedCluster::FindOrStart(plugins, std::chrono::seconds(60), &g_interrupted));
      address = t.cluster->address();
    } else {
      ASSIGN_OR_RETURN(std::string home, FanoutHome());
      std::optional<std::string> local = FindRunningLocalCluster(home, timeout);
      if (!local) {
        return Err(Unavailable(
            "no coordinator: set --coordinator or FANOUT_COORDINATOR, or start a local cluster with "
            "`fanout local` (none is running on FANOUT_HOME=" +
            home + ")"));
      }
      address = *local;
    }
  }
  std::string home = FanoutHomePath();
  std::optional<CurvePeerKeys> keys;
  if (o.coordinator.empty()) {
    keys = LocalClientKeys(home);  // the local cluster's own keys
  } else {
    ASSIGN_OR_RETURN(keys, ResolvePeerKeys(o.server_key, o.key, "client", home));
  }
  t.client = std::make_unique<Client>(address, timeout, std::move(keys));
  t.client->set_interrupt_flag(&g_interrupted);
  return t;
}

void PrintJson(const Json& j) {
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::fprintf(stdout, "%s\n", s.c_str());
  std::fflush(stdout);
}

// The message on Ctrl-C once an execution exists.
int Interrupted(const std::string& exec, const Target& t) {
  if (t.cluster && t.cluster->owned()) {
    std::fprintf(stderr,
                 "\nexecution %s pauses with the local cluster this run started; it resumes when a "
                 "local cluster runs again on this FANOUT_HOME (`fanout local`, then `fanout watch "
                 "%s`)\n",
                 exec.c_str(), exec.c_str());
  } else {
    std::fprintf(stderr, "\nexecution %s continues; follow it with: fanout watch %s\n", exec.c_str(),
                 exec.c_str());
  }
  return kExitInterrupted;
}

// A node of `status` that waits because no worker offers its function: "" if none.
std::string MissingFunctionWait(const Json& status) {
  auto doc = ExecutionStatus::FromJson(status);
  if (!doc) return "";
  for (const NodeStatus& n : doc->nodes)
    if (n.waiting.reason == WaitReason::kFunctionNotOffered) return "node " + n.id + ": " + n.waiting.message;
  return "";
}

// Follows the execution until it is terminal, drawing progress; then prints the outputs.
// Used by `run` (after submitting) and `watch`. Progress comes from the coordinator's events
// (ProgressSubscription); STATUS is read to start, and whenever events have been quiet for
// kQuietMs (a long task, a missed event, a restarted coordinator with a new event port). A new
// subscription gets its first document within one publisher interval (200 ms); when none has
// come after kFirstEventMs, the execution may have ended before the subscription took effect
// (an end is published once), so STATUS is read then rather than after kQuietMs.
int WaitAndReport(Target& t, const std::string& exec, const Options& o) {
  constexpr int64_t kQuietMs = 2000;
  constexpr int64_t kFirstEventMs = 500;
  int64_t quiet_ms = kQuietMs;
  Client& c = *t.client;
  const bool show_progress = !o.json();
  Progress progress(stderr, isatty(STDERR_FILENO) != 0);
  // A supervised coordinator restarts within seconds; keep polling through that.
  const milliseconds unreachable_budget = std::max(c.timeout(), milliseconds(30'000));
  int64_t unreachable_since_ms = -1;
  std::unique_ptr<ProgressSubscription> events;
  int64_t last_doc_ms = -kQuietMs;  // read STATUS first
  // A cluster this run started has all the workers it will ever have: a function none of them
  // offers will never run, so say so instead of waiting forever.
  constexpr int64_t kMissingFunctionGraceMs = 3000;
  int64_t missing_since_ms = -1;
  Json status;
  while (true) {
    if (g_interrupted != 0) return Interrupted(exec, t);
    if (t.cluster && t.cluster->owned() && !status.is_null()) {
      std::string missing = MissingFunctionWait(status);
      if (missing.empty()) {
        missing_since_ms = -1;
      } else if (missing_since_ms < 0) {
        missing_since_ms = WallMs();
      } else if (WallMs() - missing_since_ms > kMissingFunctionGraceMs) {
        if (show_progress) progress.Finish(status, WallMs());
        // Exit 2 means refused: abort it, so that it does not run by surprise the next time
        // a cluster starts on this FANOUT_HOME.
        Result<Json> aborted = c.Query(wire::Kind::kAbortExec, exec);
        std::fprintf(stderr,
                     "fanout: %s in the local cluster this run started; pass the plugin that "
                     "defines it with --plugin PATH.so. ",
                     missing.c_str());
        if (aborted) {
          std::fprintf(stderr, "Execution %s was aborted: nothing of it stays queued.\n", exec.c_str());
        } else {
          std::fprintf(stderr,
                       "Execution %s could not be aborted (%s): it stays queued in FANOUT_HOME; "
                       "remove it with `fanout local` and `fanout abort %s`.\n",
                       exec.c_str(), aborted.error().message().c_str(), exec.c_str());
        }
        return kExitUsage;
      }
    }
    if (events && WallMs() - last_doc_ms < quiet_ms) {
      std::optional<Json> ev = events->Next(milliseconds(std::min<int64_t>(250, quiet_ms)));
      if (!ev) continue;
      status = std::move(*ev);
      last_doc_ms = WallMs();
      quiet_ms = kQuietMs;
      if (IsTerminalPhase(JsonStr(status, "phase"))) break;
      if (show_progress) progress.Update(status, WallMs());
      continue;
    }
    Result<Json> st = c.Query(wire::Kind::kStatus, exec);
    if (!st) {
      if (st.error().code() == Code::kAborted) return Interrupted(exec, t);
      if (st.error().code() == Code::kUnavailable) {
        if (unreachable_since_ms < 0) {
          unreachable_since_ms = WallMs();
          std::fprintf(stderr, "fanout: the coordinator at %s is not answering; still trying\n",
                       c.address().c_str());
        } else if (WallMs() - unreachable_since_ms > unreachable_budget.count()) {
          return Fail(st.error());
        }
        SleepInterruptible(milliseconds(200));
        continue;
      }
      return Fail(st.error());
    }
    unreachable_since_ms = -1;
    status = std::move(*st);
    if (IsTerminalPhase(JsonStr(status, "phase"))) break;
    if (show_progress) progress.Update(status, WallMs());
    int port = static_cast<int>(JsonInt(status, "events_port"));
    quiet_ms = kQuietMs;
    if (port > 0 && (!events || events->port() != port)) {
      events = std::make_unique<ProgressSubscription>(c.address(), port, exec, c.keys());
      quiet_ms = kFirstEventMs;
    }
    if (events) {
      last_doc_ms = WallMs();
    } else {
      SleepInterruptible(milliseconds(200));  // a coordinator without events: poll
    }
  }
  if (show_progress) progress.Finish(status, WallMs());

  const std::string phase = JsonStr(status, "phase");
  Result<Json> out = c.Query(wire::Kind::kOutputs, exec);
  if (!out && out.error().code() == Code::kAborted) return Interrupted(exec, t);
  if (!out) return Fail(out.error());
  std::string error = JsonStr(*out, "error", JsonStr(status, "error"));
  if (o.json()) {
    Json doc = Json::object();
    doc["execution"] = exec;
    doc["phase"] = JsonStr(*out, "phase", phase);
    if (out->contains("outputs")) doc["outputs"] = (*out)["outputs"];
    doc["error"] = error;  // "" when there is none, as in `fanout outputs -o json`
    // The tolerated (or fatal) failures behind the nulls: [{"node", "index", "error"}].
    doc["failed"] = out->contains("failed") ? (*out)["failed"] : Json::array();
    doc["failed_total"] = JsonInt(*out, "failed_total");
    PrintJson(doc);
    return ExitCodeForPhase(phase);
  }
  int64_t created = JsonInt(status, "created_ms"), ended = JsonInt(status, "ended_ms");
  std::fprintf(stderr, "execution %s %s in %s\n", exec.c_str(), phase.c_str(),
               FormatDurationMs(created > 0 && ended >= created ? ended - created : -1).c_str());
  if (!error.empty()) std::fprintf(stderr, "error: %s\n", error.c_str());
  if (phase == "SUCCEEDED") std::fputs(FormatToleratedFailures(*out, exec).c_str(), stderr);
  if (phase == "FAILED") {
    // Point at what the lowest failed subtask printed, when it left a log (command tasks do;
    // C++ and builtin functions have none).
    std::optional<std::pair<std::string, int64_t>> lowest = LowestFailedSubtask(status);
    if (lowest) {
      Result<Json> log = c.Logs(exec, lowest->first, static_cast<uint32_t>(lowest->second), -1);
      if (log && log->value("found", false)) {
        std::fprintf(stderr, "its output: fanout logs %s %s %lld%s\n", exec.c_str(), lowest->first.c_str(),
                     static_cast<long long>(lowest->second),
                     t.cluster && t.cluster->owned() ? "  (after `fanout local` is started)" : "");
      }
    }
  }
  if (phase == "SUCCEEDED" && out->contains("outputs")) {
    std::fputs(FormatOutputs((*out)["outputs"]).c_str(), stdout);
    std::fflush(stdout);
  }
  return ExitCodeForPhase(phase);
}

// ---- verbs ----

struct RunArgs {
  std::string file;
  std::string workflow;
  std::vector<std::string> inputs;
  std::vector<std::string> plugins;
  bool no_wait = false;
  bool overwrite_cache = false;
  int64_t max_parallelism = -1;  // -1: the launch plan's or workflow's own
  bool wait_for_workers = false;
};

int CmdRun(const RunArgs& a, const Options& o) {
  // Validate everything we can before touching the cluster: errors name the file and field.
  Result<Spec> spec = LoadSpecFile(a.file);
  if (!spec) return Fail(spec.error());
  // A workflow, or a launch plan (a workflow with default and fixed inputs).
  Result<LaunchPlanDef> plan = spec->FindLaunchPlan(a.workflow);
  if (!plan) return Fail(Status(Code::kInvalidArgument, a.file + ": " + plan.error().message()));
  const WorkflowDef* wf = &spec->workflows.at(plan->workflow);
  Result<Map> given = ParseInputFlags(a.inputs, *wf);
  if (!given) return Fail(given.error());
  // What is sent is what was given (the coordinator applies defaults and fixed inputs); taken
  // before the check below consumes `given`, so a large input is not copied for it.
  std::string inputs_json = InputsToJson(*given);
  Result<Map> resolved = ResolveLaunchPlanInputs(*spec, *plan, std::move(*given));
  if (!resolved) return Fail(resolved.error());
  if (Status s = CheckKnownMapLengths(*wf, *resolved); !s.ok()) return Fail(s);

  std::ifstream in(a.file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();

  Result<Target> t = Connect(o, /*start_local=*/true, a.plugins);
  if (!t) {
    if (t.error().code() == Code::kAborted) return kExitInterrupted;
    return Fail(t.error());
  }
  wire::SubmitRequest req;
  req.spec_name = a.file;
  req.spec_text = text.str();
  std::error_code ec;
  if (auto abs = std::filesystem::absolute(a.file, ec); !ec) req.spec_dir = abs.parent_path().lexically_normal().string();
  req.workflow = plan->name;
  req.inputs_json = std::move(inputs_json);
  req.overwrite_cache = a.overwrite_cache;
  req.max_parallelism = a.max_parallelism;
  req.wait_for_workers = a.wait_for_workers;
  Result<Json> sub = t->client->Submit(std::move(req));
  if (!sub) {
    if (sub.error().code() == Code::kAborted) return kExitInterrupted;
    return Fail(sub.error());
  }
  std::string exec = JsonStr(*sub, "execution");
  if (exec.empty()) return Fail(Internal("the coordinator accepted the run but sent no execution id"));
  if (a.no_wait) {
    if (o.json()) {
      PrintJson(Json{{"execution", exec}});
    } else {
      std::printf("%s\n", exec.c_str());
    }
    if (t->cluster && t->cluster->owned()) {
      std::fprintf(stderr,
                   "fanout: note: the local cluster this run started stops now; execution %s resumes "
                   "when `fanout local` runs on this FANOUT_HOME\n",
                   exec.c_str());
    }
    return kExitOk;
  }
  if (!o.json()) {
    std::string what = plan->name == wf->name ? "workflow " + wf->name
                                               : "launch plan " + plan->name + " of workflow " + wf->name;
    std::fprintf(stderr, "execution %s submitted (%s)\n", exec.c_str(), what.c_str());
  }
  return WaitAndReport(*t, exec, o);
}

// `fanout recover EXEC`: a new execution of EXEC's spec and inputs that reuses every subtask
// that succeeded in EXEC and runs only the rest; then waits like run.
int CmdRecover(const std::string& exec, bool no_wait, const Options& o) {
  Result<Target> t = Connect(o, false, {});
  if (!t) return Fail(t.error());
  Result<Json> r = t->client->Query(wire::Kind::kRecover, exec);
  if (!r) return Fail(r.error());
  std::string id = JsonStr(*r, "execution");
  if (id.empty()) return Fail(Internal("the coordinator sent no execution id"));
  if (no_wait) {
    if (o.json()) {
      PrintJson(*r);
    } else {
      std::printf("%s\n", id.c_str());
    }
    return kExitOk;
  }
  if (!o.json()) std::fprintf(stderr, "execution %s recovers %s\n", id.c_str(), exec.c_str());
  return WaitAndReport(*t, id, o);
}

int CmdWatch(const std::string& exec, const Options& o) {
  Result<Target> t = Connect(o, false, {});
  if (!t) return Fail(t.error());
  return WaitAndReport(*t, exec, o);
}

// Runs one query; prints the document (-o json) or its human form.
template <typename Human>
int QueryAndPrint(wire::Kind kind, const std::string& exec, const Options& o, Human human) {
  Result<Target> t = Connect(o, false, {});
  if (!t) return Fail(t.error());
  Result<Json> r = t->client->Query(kind, exec);
  if (!r) return Fail(r.error());
  if (o.json()) {
    PrintJson(*r);
    return kExitOk;
  }
  return human(*r);
}

int CmdStatus(const std::string& exec, const Options& o) {
  return QueryAndPrint(wire::Kind::kStatus, exec, o, [](const Json& j) {
    std::fputs(FormatStatus(j, WallMs()).c_str(), stdout);
    return kExitOk;
  });
}

int CmdOutputs(const std::string& exec, const Options& o) {
  Result<Target> t = Connect(o, false, {});
  if (!t) return Fail(t.error());
  Result<Json> r = t->client->Query(wire::Kind::kOutputs, exec);
  if (!r) return Fail(r.error());
  std::string phase = JsonStr(*r, "phase");
  if (o.json()) {
    PrintJson(*r);
    return phase == "SUCCEEDED" ? kExitOk : kExitFailed;
  }
  if (phase != "SUCCEEDED") {
    std::fprintf(stderr, "fanout: execution %s is %s; it has no outputs%s\n", exec.c_str(),
                 phase.c_str(), IsTerminalPhase(phase) ? "" : " yet");
    std::string err = JsonStr(*r, "error");
    if (!err.empty()) std::fprintf(stderr, "error: %s\n", err.c_str());
    return kExitFailed;
  }
  if (r->contains("outputs")) std::fputs(FormatOutputs((*r)["outputs"]).c_str(), stdout);
  return kExitOk;
}

struct LogsArgs {
  std::string node;
  uint32_t index = 0;
  int64_t attempt = -1;
};

// A whole number in [0, max], with a message that says so (CLI11's NonNegativeNumber would print
// the bound of a double: 309 digits).
CLI::Validator WholeNumber(uint64_t max) {
  return CLI::Validator(
      [max](std::string& s) -> std::string {
        uint64_t v = 0;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v > max)
          return fmt::format("expected a whole number from 0 to {}, got '{}'", max, s);
        return "";
      },
      "NUMBER");
}

int CmdLogs(const std::string& exec, const LogsArgs& a, const Options& o) {
  Result<Target> t = Connect(o, false, {});
  if (!t) return Fail(t.error());
  Result<Json> r = t->client->Logs(exec, a.node, a.index, a.attempt);
  if (!r) return Fail(r.error());
  bool found = r->value("found", false);
  if (o.json()) {
    PrintJson(*r);
    return found ? kExitOk : kExitFailed;
  }
  std::string where =
      fmt::format("{} {}[{}] attempt {}", exec, a.node, a.index, JsonInt(*r, "attempt"));
  if (!found) {
    bool current = JsonInt(*r, "attempt") + 1 == JsonInt(*r, "attempts");
    std::string phase = JsonStr(*r, "phase");
    if (current && (phase == "running")) {
      std::fprintf(stderr, "fanout: no log for %s yet: the attempt has not ended\n", where.c_str());
    } else {
      std::fprintf(stderr,
                   "fanout: no log for %s: it printed nothing, ran a C++ function (only command tasks keep "
                   "logs), or its log expired (the coordinator's --log-ttl-s)\n",
                   where.c_str());
    }
    return kExitFailed;
  }
  std::fprintf(stderr, "== %s ==\n", where.c_str());
  std::string log = JsonStr(*r, "log");
  std::fwrite(log.data(), 1, log.size(), stdout);
  if (!log.empty() && log.back() != '\n') std::fputc('\n', stdout);
  return kExitOk;
}

int CmdAbort(const std::string& exec, const Options& o) {
  Result<Target> t = Connect(o, false, {});
  if (!t) return Fail(t.error());
  Result<Json> r = t->client->Query(wire::Kind::kAbortExec, exec);
  if (!r) return Fail(r.error());
  bool already = r->value("already_ended", false);
  if (o.json()) {
    PrintJson(*r);
  } else if (already) {
    std::fprintf(stderr, "fanout: execution %s had already ended (%s): nothing to abort\n", exec.c_str(),
                 JsonStr(*r, "phase").c_str());
  } else {
    std::printf("execution %s %s\n", exec.c_str(), JsonStr(*r, "phase", "abort requested").c_str());
  }
  return already ? kExitAlreadyEnded : kExitOk;
}

int CmdHealth(const Options& o) {
  Result<Target> t = Connect(o, false, {});
  if (!t) {
    Fail(t.error());
    return kExitUnreachable;
  }
  Result<Json> r = t->client->Query(wire::Kind::kHealth);
  if (!r) {
    Fail(r.error());
    return kExitUnreachable;
  }
  bool ok = r->is_object() && r->value("ok", false);
  if (o.json()) {
    PrintJson(*r);
  } else {
    bool redis = r->is_object() && r->value("redis", false);
    std::printf("%s: coordinator %s, redis %s, epoch %lld, %lld worker(s)\n", ok ? "ok" : "NOT OK",
                t->client->address().c_str(), redis ? "up" : "DOWN",
                static_cast<long long>(JsonInt(*r, "epoch")),
                static_cast<long long>(JsonInt(*r, "workers")));
  }
  return ok ? kExitOk : kExitUnreachable;
}

// Connection options on a verb. FANOUT_COORDINATOR/FANOUT_TIMEOUT fill them when not given.
// The environment is read after parsing (ApplyEnvDefaults), not with CLI11's envname: every
// subcommand binds the same Options, and CLI11 would let the env of an unused subcommand
// overwrite the flag given to the used one.
void AddConnectionOptions(CLI::App* sub, Options& o) {
  sub->add_option("--coordinator", o.coordinator,
                  "Coordinator address, tcp://HOST:PORT (env FANOUT_COORDINATOR). Without it, the "
                  "local cluster of $FANOUT_HOME is used");
  sub->add_option("--server-key", o.server_key,
                  "The coordinator's CurveZMQ public key, Z85 or a file (env FANOUT_SERVER_KEY; default "
                  "$FANOUT_HOME/keys/server.pub if it exists)");
  sub->add_option("--key", o.key,
                  "Your CurveZMQ secret key file (env FANOUT_KEY; default $FANOUT_HOME/keys/client.key)");
  sub->add_option("--timeout", o.timeout,
                  "How long to wait for each answer of the coordinator, e.g. 5s (env FANOUT_TIMEOUT; "
                  "default 5s)");
}

void ApplyEnvDefaults(Options& o) {
  if (o.coordinator.empty())
    if (const char* v = std::getenv("FANOUT_COORDINATOR"); v != nullptr) o.coordinator = v;
  if (o.timeout.empty())
    if (const char* v = std::getenv("FANOUT_TIMEOUT"); v != nullptr) o.timeout = v;
}

void AddOutputOption(CLI::App* sub, Options& o) {
  sub->add_option("-o,--output", o.output, "Output format: json prints one JSON document on stdout")
      ->check(CLI::IsMember({"json", "text"}));
}

// A verb about one execution, `fanout NAME EXECUTION ...`, with the connection and output
// options; further positionals are added by the caller after EXECUTION.
CLI::App* AddExecutionVerb(CLI::App& app, const std::string& name, const std::string& help,
                           std::string& exec, Options& o) {
  CLI::App* sub = app.add_subcommand(name, help);
  sub->add_option("execution", exec, "Execution id")->required();
  AddConnectionOptions(sub, o);
  AddOutputOption(sub, o);
  return sub;
}

}  // namespace

int Main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  CLI::App app{
      "fanout runs map tasks: one task applied to every element of a list, on a cluster of "
      "workers.\nWithout --coordinator or FANOUT_COORDINATOR, commands use a local cluster in "
      "$FANOUT_HOME (default ~/.fanout).\nExit codes: 0 ok, 1 execution failed or aborted, 2 usage, "
      "spec or input error, 3 cluster unreachable, 4 abort of an execution that had already ended, 130 "
      "interrupted.",
      "fanout"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every command");
  Options o;
  RunArgs run_args;
  std::string exec;
  LocalOptions local;

  CLI::App* run = app.add_subcommand(
      "run",
      "Submit a workflow from a spec file and wait for it: live progress on stderr, outputs on "
      "stdout (NAME: VALUE). Exits 0 when it succeeded, 1 when it failed or was aborted.");
  run->add_option("file", run_args.file, "Workflow spec file (YAML or JSON)")->required();
  run->add_option("workflow", run_args.workflow,
                  "Workflow or launch plan to run (every workflow is its own default launch plan); may be "
                  "left out when the file has only one workflow");
  run->add_option("--max-parallelism", run_args.max_parallelism,
                  "Subtasks and child executions running at once across the workflow's nodes (0: no bound; "
                  "default: the launch plan's or workflow's max_parallelism)")
      ->check(CLI::NonNegativeNumber);
  run->add_option("-i,--input", run_args.inputs,
                  "Workflow input: NAME=JSON (e.g. data='[1,2,3]'), or NAME=@file.json. A str input "
                  "takes plain text. Repeatable; inputs not given use their defaults")
      ->allow_extra_args(false);
  run->add_flag("--no-wait", run_args.no_wait, "Print the execution id and return at once");
  run->add_flag("--wait-for-workers", run_args.wait_for_workers,
                "Accept functions that no connected worker offers yet: the execution waits until a worker "
                "that has them joins (without it, such a spec is refused with exit 2)");
  run->add_flag("--overwrite-cache", run_args.overwrite_cache,
                "Run every subtask of cached tasks and replace their cache entries");
  run->add_option("--plugin", run_args.plugins,
                  "Task plugin (.so) for the workers of a local cluster started by this run. Repeatable")
      ->allow_extra_args(false);
  AddConnectionOptions(run, o);
  AddOutputOption(run, o);

  CLI::App* status = AddExecutionVerb(
      app, "status",
      "Show an execution: its phase, each node's phase and subtask counts, failed subtasks with "
      "their attempts and last error",
      exec, o);

  CLI::App* watch = AddExecutionVerb(
      app, "watch",
      "Follow an execution until it ends, with live progress; then print its outputs. Exits like run",
      exec, o);

  bool recover_no_wait = false;
  CLI::App* recover = AddExecutionVerb(
      app, "recover",
      "Start a new execution of an execution's spec and inputs that reuses every subtask that "
      "succeeded in it and runs only the rest (for a failed or aborted execution); waits like run",
      exec, o);
  recover->add_flag("--no-wait", recover_no_wait, "Print the new execution id and return at once");

  CLI::App* outputs = AddExecutionVerb(
      app, "outputs", "Print the outputs of a succeeded execution (NAME: VALUE per line)", exec, o);

  LogsArgs logs_args;
  CLI::App* logs = AddExecutionVerb(
      app, "logs",
      "Print what one attempt of a subtask wrote (command tasks: the end of its stderr, and of its "
      "stdout unless that was its output; at most 64 KiB). Kept in Redis for the coordinator's "
      "--log-ttl-s (7 days by default)",
      exec, o);
  logs->add_option("node", logs_args.node, "Node id")->required();
  logs->add_option("index", logs_args.index, "Subtask index (default 0; a task node has only 0)")
      ->check(WholeNumber(UINT32_MAX));
  logs->add_option("--attempt", logs_args.attempt, "Attempt number, from 0 (default: the latest)")
      ->check(WholeNumber(63));

  CLI::App* list = app.add_subcommand("list", "List executions, newest first");
  bool list_children = false;
  list->add_flag("--children", list_children,
                 "Also list child executions (the elements of maps over launch plans)");
  AddConnectionOptions(list, o);
  AddOutputOption(list, o);

  CLI::App* workers = app.add_subcommand(
      "workers", "List the connected workers: slots, running subtasks, heartbeat age, functions");
  AddConnectionOptions(workers, o);
  AddOutputOption(workers, o);

  std::string update_node;
  int64_t update_concurrency = -1, update_min_successes = -1;
  double update_ratio = -1;
  CLI::App* update = AddExecutionVerb(
      app, "update",
      "Change a running map node's concurrency or success criterion (kept across coordinator "
      "restarts). Lowering min successes may end the node now; raising it may fail it at once",
      exec, o);
  update->add_option("node", update_node, "The map node")->required();
  update->add_option("--concurrency", update_concurrency, "Subtasks (or children) running at once; 0: no bound")
      ->check(CLI::NonNegativeNumber);
  auto* ratio_opt = update->add_option("--min-success-ratio", update_ratio, "Fraction of subtasks that must succeed")
                        ->check(CLI::Range(0.0, 1.0));
  update->add_option("--min-successes", update_min_successes, "Number of subtasks that must succeed")
      ->check(CLI::NonNegativeNumber)
      ->excludes(ratio_opt);

  CLI::App* abort = AddExecutionVerb(
      app, "abort",
      "Abort an execution: running subtasks are stopped, queued ones never start. Exits 4 when it had already "
      "ended (nothing to abort)",
      exec, o);

  CLI::App* health = app.add_subcommand(
      "health", "Check that the coordinator answers and is healthy: exit 0 if so, 3 otherwise (for "
                "container healthchecks)");
  AddConnectionOptions(health, o);
  AddOutputOption(health, o);

  CLI::App* local_cmd = app.add_subcommand(
      "local",
      "Run a cluster on this machine: redis-server, a coordinator and N workers, with data and logs "
      "in $FANOUT_HOME. Prints FANOUT_COORDINATOR=ADDR when ready; restarts any daemon that dies; "
      "stops on Ctrl-C/SIGTERM");
  local_cmd->add_option("--workers", local.workers, "Number of workers (default: one per core)")
      ->check(WholeNumber(1024));
  local_cmd->add_option("--plugin", local.plugins, "Task plugin (.so) for the workers. Repeatable")
      ->allow_extra_args(false);
  local_cmd->add_option("--port", local.port, "Coordinator port (default: a free one)")
      ->check(CLI::Range(0, 65535));

  std::string cache_task, cache_version;
  CLI::App* cache = app.add_subcommand("cache", "Manage the task cache");
  CLI::App* cache_clear = cache->add_subcommand(
      "clear", "Remove cache entries: all of them, or those of one task and/or cache version");
  cache_clear->add_option("--task", cache_task, "Only entries of this task");
  cache_clear->add_option("--version", cache_version, "Only entries of this cache version");
  AddConnectionOptions(cache_clear, o);
  AddOutputOption(cache_clear, o);
  cache->require_subcommand(1);

  KeygenOptions keygen_opts;
  CLI::App* keygen = app.add_subcommand(
      "keygen",
      "Make a CurveZMQ key pair NAME.key (secret, 0600) + NAME.pub (public) and print the public key; "
      "or, with --coordinator-dir, a coordinator's key directory (docs/security.md)");
  keygen->add_option("name", keygen_opts.name, "Name of the key pair (e.g. alice, worker-3)");
  keygen->add_option("--dir", keygen_opts.dir, "Where to write the pair (default: .)");
  keygen->add_option("--allow", keygen_opts.allow,
                     "Also list the public key in this directory (a coordinator's clients/ or workers/)");
  keygen->add_option("--coordinator-dir", keygen_opts.coordinator_dir,
                     "Make a coordinator key directory: server.key/.pub, clients/, workers/");
  keygen->add_flag("--if-missing", keygen_opts.if_missing, "Keep an existing pair instead of failing");

  CLI::App* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  if (*version) {
    std::printf("fanout %s\n", FANOUT_VERSION);
    return kExitOk;
  }
  if (*local_cmd) return RunLocalCluster(local);
  if (*keygen) return RunKeygen(keygen_opts);

  ApplyEnvDefaults(o);
  InstallInterruptHandler();
  if (*run) return CmdRun(run_args, o);
  if (*status) return CmdStatus(exec, o);
  if (*watch) return CmdWatch(exec, o);
  if (*recover) return CmdRecover(exec, recover_no_wait, o);
  if (*cache_clear) {
    Result<Target> t = Connect(o, false, {});
    if (!t) return Fail(t.error());
    Result<Json> r = t->client->CacheClear(cache_task, cache_version);
    if (!r) return Fail(r.error());
    if (o.json()) {
      PrintJson(*r);
    } else {
      std::printf("removed %lld cache entr%s\n", static_cast<long long>(JsonInt(*r, "deleted")),
                  JsonInt(*r, "deleted") == 1 ? "y" : "ies");
    }
    return kExitOk;
  }
  if (*outputs) return CmdOutputs(exec, o);
  if (*logs) return CmdLogs(exec, logs_args, o);
  if (*abort) return CmdAbort(exec, o);
  if (*health) return CmdHealth(o);
  if (*list) {
    Result<Target> t = Connect(o, false, {});
    if (!t) return Fail(t.error());
    Result<Json> r = t->client->Query(wire::Kind::kList, "", list_children);
    if (!r) return Fail(r.error());
    if (o.json()) {
      PrintJson(*r);
    } else {
      std::fputs(FormatExecutions(*r, WallMs()).c_str(), stdout);
    }
    return kExitOk;
  }
  if (*update) {
    if (update_concurrency < 0 && update_ratio < 0 && update_min_successes < 0)
      return Fail(InvalidArgument("update: give --concurrency, --min-success-ratio or --min-successes"));
    Result<Target> t = Connect(o, false, {});
    if (!t) return Fail(t.error());
    wire::UpdateRequest req;
    req.exec = exec;
    req.node = update_node;
    req.concurrency = update_concurrency;
    req.min_success_ratio = update_ratio;
    req.min_successes = update_min_successes;
    Result<Json> r = t->client->Update(std::move(req));
    if (!r) return Fail(r.error());
    if (o.json()) {
      PrintJson(*r);
    } else {
      std::printf("execution %s node %s: concurrency %lld, min successes %lld (%s)\n", exec.c_str(),
                  update_node.c_str(), static_cast<long long>(JsonInt(*r, "concurrency")),
                  static_cast<long long>(JsonInt(*r, "min_successes")), JsonStr(*r, "phase").c_str());
    }
    return kExitOk;
  }
  if (*workers) {
    return QueryAndPrint(wire::Kind::kWorkers, "", o, [](const Json& j) {
      std::fputs(FormatWorkers(j).c_str(), stdout);
      return kExitOk;
    });
  }
  return kExitUsage;
}

}  // namespace fanout::cli
