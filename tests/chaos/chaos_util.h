// Shared pieces of the chaos suite (tests/chaos/README.md): the workload, submission and
// progress read straight from Redis (so they work while a coordinator is down), and the
// product-independent checks: commits counted in Redis's AOF, executions counted with marker
// files, outputs compared with a reference computed here (2 * x).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace fanout::testing::chaos {

using SteadyClock = std::chrono::steady_clock;

// True when FANOUT_CHAOS_LONG=1: the long forms run, otherwise they skip.
bool LongForm();

// The two tests of a scenario `fn(bool long_form)`: SUITE.Short (in `make test`) and
// SUITE.Long (in `make chaos`; skipped unless FANOUT_CHAOS_LONG=1). TEST_KIND is TEST, or
// TEST_F for a suite that is a fixture.
#define FANOUT_CHAOS_SCENARIO(TEST_KIND, SUITE, fn)                                                \
  TEST_KIND(SUITE, Short) { fn(false); }                                                           \
  TEST_KIND(SUITE, Long) {                                                                         \
    if (!::fanout::testing::chaos::LongForm())                                                     \
      GTEST_SKIP() << "set FANOUT_CHAOS_LONG=1 to run the long form";                              \
    fn(true);                                                                                      \
  }

// Turns AOF rewriting off (DisableAofRewrite), writes the spec and the inputs 0..n-1 into the
// cluster dir, submits with --no-wait through `coordinator` (empty: the cluster's) and returns
// the execution id ("" + gtest failure).
std::string Submit(Cluster& cluster, const std::string& markers, int n, int sleep_ms,
                   int concurrency, const std::string& coordinator = {});

// Read from Redis directly: the execution's phase ("" when unknown) and the number of
// committed outputs of node `double`.
std::string PhaseInRedis(const RedisServer& redis, const std::string& exec);
long CommittedInRedis(const RedisServer& redis, const std::string& exec);
// How long a scenario's map may take to end: 900 s for the long form, 180 s for the short one,
// four times that under ASan/TSan, where every process start and every message costs several
// times more (a short run of 3,000 commands took 211 s under `make sanitize`).
std::chrono::milliseconds TerminalDeadline(bool long_form);
// Waits until the execution is terminal in Redis; returns its phase ("" on timeout).
std::string WaitTerminal(const RedisServer& redis, const std::string& exec,
                         std::chrono::milliseconds timeout);

// CONFIG SET auto-aof-rewrite-percentage 0 (again after every Redis restart): the AOF keeps
// every write since the start, so commits can be counted in it.
void DisableAofRewrite(const RedisServer& redis);

// Every write of a field of hash `key` in the AOF files of a Redis with data dir `dir`, by
// field, in AOF order: each HSETNX that took effect (only those reach the AOF) and each field of
// every HSET (the commit script writes a batch's outputs with one multi-field HSET). Fails the
// test when the AOF was rewritten (its base is not the first one).
std::map<std::string, std::vector<std::string>> AofFieldWrites(const std::string& dir,
                                                                const std::string& key);
// Total size in bytes of the AOF files (to tell whether anything was written meanwhile).
uintmax_t AofBytes(const std::string& dir);

// Every worker of the cluster still runs (a worker must survive the chaos it is not the target
// of); names the dead ones and their last log lines.
void ExpectWorkersAlive(Cluster& cluster);

// The figures of one scenario run, written as one JSON line to $FANOUT_CHAOS_REPORT (when
// set) on destruction, with pass = the test has no failure.
struct Report {
  std::string scenario;
  std::string form;  // "short" or "long"
  int n = 0;
  int kills = 0;
  long reexecutions = -1;
  long duplicates = -1;  // indexes committed more than once (must be 0)
  long missing = -1;     // indexes never committed (must be 0)
  long retry_runs = -1;  // runs of an attempt >= 1 (CountMarkers' retry_runs)
  SteadyClock::time_point start = SteadyClock::now();
  nlohmann::json extra = nlohmann::json::object();
  Report(std::string s, bool long_form, int n_)
      : scenario(std::move(s)), form(long_form ? "long" : "short"), n(n_) {}
  ~Report();
  // Whether the faults made work run again: a run beyond one per index, or a retry's run. The
  // second counts a run killed before its shell wrote its marker (it leaves none; its retry
  // does).
  bool RanAgain() const { return reexecutions > 0 || retry_runs > 0; }
};

// The end checks every scenario shares, through coordinator `coordinator` (empty: the
// cluster's): the execution SUCCEEDED, its outputs are [2*0, ..., 2*(n-1)], the AOF has exactly
// one write per index of the output hash and it equals the stored output, every index ran at
// least once. Fills the report's reexecutions, retry_runs, duplicates and missing.
void CheckOutcome(Cluster& cluster, const std::string& exec, const std::string& markers, int n,
                  Report& report, const std::string& coordinator = {});

// The end of the scenarios whose workers must all survive: waits for the execution to end
// (15 min for a long form, 3 for a short one), requires SUCCEEDED (naming dead workers if not),
// then CheckOutcome and ExpectWorkersAlive.
void ExpectSucceededOnce(Cluster& cluster, const std::string& exec, const std::string& markers,
                         int n, Report& report);

// The coordinator-kill chaos loop: every 2 s (cut short when the execution ends in Redis) the
// coordinator is SIGKILLed and started again, at most `max_kills` times (report.kills counts
// them). `progress()` must grow between two kills; when it does not, the kills stop with a test
// failure (report.extra["stalled_at"]), so that attempts nobody claims (their worker is gone)
// can outlive the restart grace window and run again. `after_kill(progress)` records figures.
// False when a restart failed (a test failure too).
bool KillCoordinatorRepeatedly(Cluster& cluster, const std::string& exec, int max_kills, Report& report,
                               const std::function<long()>& progress,
                               const std::function<void(long)>& after_kill);

}  // namespace fanout::testing::chaos
