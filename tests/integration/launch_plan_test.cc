// Launch plans and maps over workflows (issue 9) through the real CLI against a real cluster
// (redis-server, fanout-coordinator, fanout-worker processes): `fanout run` of a launch plan,
// map nodes whose elements are child executions, their failures, limits, abort, `list
// --children`, `status` of a child, `--max-parallelism`, `fanout update`, `fanout recover`, and
// a coordinator killed while children run. The rules themselves are in docs/semantics.md.
#include <gtest/gtest.h>

#include <signal.h>

#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// A command that records, in DIR, how many of its kind run at once: it creates run.PID, counts
// the run.* files (itself included), keeps the largest count in max.PID, sleeps, and removes
// run.PID before it ends. A count can only be too low (a sibling that started at the same
// moment may not be listed yet), never too high: `max` files bound what ran at once from below.
std::string CountingCommand(const std::string& dir, const std::string& sleep_s) {
  return "touch " + dir + "/run.$$; n=$(ls " + dir + " | grep -c ^run); echo $n > " + dir +
         "/max.$$; sleep " + sleep_s + "; rm -f " + dir + "/run.$$; echo {{inputs.x}}";
}

// The largest count any max.* file of DIR holds.
int MaxAtOnce(const std::string& dir) {
  int best = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.rfind("max.", 0) != 0) continue;
    std::string text = ReadFile(e.path().string());
    if (!text.empty()) best = std::max(best, std::stoi(text));
  }
  return best;
}

size_t CountFiles(const std::string& dir, const std::string& prefix) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0) ++n;
  return n;
}

nlohmann::json ParseJson(const RunResult& r) {
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << r;
  return doc.is_discarded() ? nlohmann::json() : doc;
}

class LaunchPlanTest : public SharedClusterTest<LaunchPlanTest> {
 protected:
  std::string Dir(const std::string& name) {
    std::string d = cluster_->dir().Path("lp-" + name);
    fs::create_directories(d);
    return d;
  }
  std::string Write(const std::string& name, const std::string& text) {
    return cluster_->dir().WriteFile(name + ".yaml", text);
  }
  // `fanout list [--children] -o json`: the executions' ids.
  std::set<std::string> Listed(bool children) {
    std::vector<std::string> args = {"list", "-o", "json"};
    if (children) args.push_back("--children");
    RunResult r = cluster_->Fanout(args);
    EXPECT_EQ(r.exit_code, 0) << r;
    std::set<std::string> ids;
    nlohmann::json doc = ParseJson(r);
    const nlohmann::json& list = doc.is_object() ? doc["executions"] : doc;
    if (list.is_array())
      for (const auto& e : list) ids.insert(e.value("execution", ""));
    return ids;
  }
};

// x * y + z, where y has a default in the launch plan and z is fixed by it.
const char* kAffine = R"(version: 1
tasks:
  affine:
    command: [/bin/sh, -c, 'echo $(( {{inputs.x}} * {{inputs.y}} + {{inputs.z}} ))']
    inputs: {x: int, y: int, z: int}
    outputs: {o0: int}
launch_plans:
  affine_lp:
    workflow: affine_wf
    default_inputs: {y: 3}
    fixed_inputs: {z: 100}
workflows:
  affine_wf:
    inputs: {x: int, y: int, z: int}
    nodes:
      - {id: a, task: affine, inputs: {x: $inputs.x, y: $inputs.y, z: $inputs.z}}
    outputs: {o0: $a.o0}
  outer:
    inputs:
      xs: {type: "list<int>", default: [1, 2, 3, 4, 5, 6]}
    nodes:
      - id: each
        map: affine_lp
        inputs: {x: $inputs.xs}
        concurrency: 2
    outputs: {o0: $each.o0}
)";

TEST_F(LaunchPlanTest, ALaunchPlanRunsWithItsDefaultsAndAGivenDefaultWins) {
  std::string spec = Write("affine", kAffine);
  RunResult r = cluster_->Fanout("run", spec, "affine_lp", "-i", "x=2", "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(ParseJson(r)["outputs"]["o0"], 106) << r;  // 2 * 3 + 100
  r = cluster_->Fanout("run", spec, "affine_lp", "-i", "x=2", "-i", "y=5", "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(ParseJson(r)["outputs"]["o0"], 110) << r;  // 2 * 5 + 100
}

TEST_F(LaunchPlanTest, GivingAFixedInputIsRefusedWithExitTwoNamingIt) {
  std::string spec = Write("affine", kAffine);
  RunResult r = cluster_->Fanout("run", spec, "affine_lp", "-i", "x=2", "-i", "z=1");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("'z'"), std::string::npos) << r;
  EXPECT_NE(r.err.find("fixed"), std::string::npos) << r;
  EXPECT_NE(r.err.find("affine_lp"), std::string::npos) << r;
}

TEST_F(LaunchPlanTest, EveryWorkflowIsItsOwnDefaultLaunchPlan) {
  std::string spec = Write("affine", kAffine);
  RunResult r = cluster_->Fanout("run", spec, "affine_wf", "-i", "x=2", "-i", "y=1", "-i", "z=0",
                                 "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(ParseJson(r)["outputs"]["o0"], 2) << r;
}

TEST_F(LaunchPlanTest, AMapOverALaunchPlanListsEachChildsOutputInOrder) {
  std::string spec = Write("affine", kAffine);
  RunResult r = cluster_->Fanout("run", spec, "outer", "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  nlohmann::json doc = ParseJson(r);
  EXPECT_EQ(doc["outputs"]["o0"], (nlohmann::json{103, 106, 109, 112, 115, 118})) << r;

  // Each element was a child execution with its own id, status and node; `list` hides them
  // unless asked.
  std::string exec = doc["execution"];
  std::set<std::string> all = Listed(true), roots = Listed(false);
  for (int i = 0; i < 6; ++i) {
    std::string child = exec + ".each." + std::to_string(i);
    EXPECT_TRUE(all.count(child)) << child;
    EXPECT_FALSE(roots.count(child)) << child;
    nlohmann::json st = cluster_->Status(child);
    ASSERT_TRUE(st.is_object()) << child;
    EXPECT_EQ(st["phase"], "SUCCEEDED");
    EXPECT_EQ(st["workflow"], "affine_wf");
    EXPECT_EQ(st["launch_plan"], "affine_lp");
    EXPECT_EQ(st["parent"], exec);
    EXPECT_EQ(st["parent_node"], "each");
    EXPECT_EQ(st["parent_index"], i);
    EXPECT_EQ(st["nodes"][0]["id"], "a");
  }
  EXPECT_TRUE(roots.count(exec));
  nlohmann::json st = cluster_->Status(exec);
  EXPECT_EQ(st["nodes"][0]["target"], "launch_plan") << st.dump();
  EXPECT_EQ(st["nodes"][0]["child_prefix"], exec + ".each.") << st.dump();
  EXPECT_EQ(st["nodes"][0]["counts"]["succeeded"], 6) << st.dump();
}

TEST_F(LaunchPlanTest, ConcurrencyCapsTheChildrenRunningAtOnce) {
  std::string dir = Dir("concurrency");
  std::string spec = Write("concurrency", R"(version: 1
tasks:
  t: {command: [/bin/sh, -c, ")" + CountingCommand(dir, "0.3") + R"("], inputs: {x: int}, outputs: {o0: int}}
workflows:
  child:
    inputs: {x: int}
    nodes: [{id: n, task: t, inputs: {x: $inputs.x}}]
    outputs: {o0: $n.o0}
  outer:
    inputs: {xs: {type: "list<int>", default: [0, 1, 2, 3, 4, 5, 6, 7]}}
    nodes:
      - {id: each, map: child, inputs: {x: $inputs.xs}, concurrency: 2}
    outputs: {o0: $each.o0}
)");
  RunResult r = cluster_->Fanout("run", spec, "outer", "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(ParseJson(r)["outputs"]["o0"], (nlohmann::json{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(CountFiles(dir, "max."), 8u);
  EXPECT_LE(MaxAtOnce(dir), 2);
}

// One child fails: tolerated by min_success_ratio it is a null in the outputs; not tolerated,
// the execution fails with the child's error (its id, node and subtask) carried up.
const char* kFailing = R"(version: 1
tasks:
  t:
    command: [/bin/sh, -c, 'if [ {{inputs.x}} = 3 ]; then echo "three is bad" >&2; exit 1; fi; echo $(( {{inputs.x}} * 10 ))']
    inputs: {x: int}
    outputs: {o0: int}
workflows:
  child:
    inputs: {x: int}
    nodes: [{id: inner, task: t, inputs: {x: $inputs.x}}]
    outputs: {o0: $inner.o0}
  tolerant:
    inputs: {xs: {type: "list<int>", default: [1, 2, 3, 4]}}
    nodes:
      - {id: each, map: child, inputs: {x: $inputs.xs}, min_success_ratio: 0.75}
    outputs: {o0: $each.o0}
  strict:
    inputs: {xs: {type: "list<int>", default: [1, 2, 3, 4]}}
    nodes:
      - {id: each, map: child, inputs: {x: $inputs.xs}}
    outputs: {o0: $each.o0}
)";

TEST_F(LaunchPlanTest, AToleratedChildFailureIsANullInTheOutputs) {
  std::string spec = Write("failing", kFailing);
  RunResult r = cluster_->Fanout("run", spec, "tolerant", "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  nlohmann::json doc = ParseJson(r);
  EXPECT_EQ(doc["outputs"]["o0"], (nlohmann::json{10, 20, nullptr, 40})) << r;
  nlohmann::json child = cluster_->Status(doc["execution"].get<std::string>() + ".each.2");
  EXPECT_EQ(child["phase"], "FAILED") << child.dump();
}

TEST_F(LaunchPlanTest, AChildsFailureCarriesItsErrorUpNamingTheChildNodeAndSubtask) {
  std::string spec = Write("failing", kFailing);
  RunResult r = cluster_->Fanout("run", spec, "strict", "-o", "json");
  ASSERT_EQ(r.exit_code, 1) << r;
  nlohmann::json doc = ParseJson(r);
  EXPECT_EQ(doc["phase"], "FAILED") << r;
  std::string exec = doc["execution"];
  nlohmann::json st = cluster_->Status(exec);
  std::string error = st["nodes"][0]["error"].get<std::string>() + " " + st.value("error", "");
  EXPECT_NE(error.find(exec + ".each.2"), std::string::npos) << error;
  EXPECT_NE(error.find("inner"), std::string::npos) << error;
  EXPECT_NE(error.find("three is bad"), std::string::npos) << error;
}

TEST_F(LaunchPlanTest, MapsOfMapsRunAChildMapPerElement) {
  RunResult r = cluster_->Fanout("run", "examples/map_tasks.yaml", "map_over_workflow_of_maps",
                                 "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(ParseJson(r)["outputs"]["o0"],
            (nlohmann::json{{false, true, false}, {false, true}, {true, true, false, true, false}}));
}

TEST_F(LaunchPlanTest, AbortCascadesToRunningChildrenAndTheirCommands) {
  std::string dir = Dir("abort");
  std::string spec = Write("abort", R"(version: 1
tasks:
  t: {command: [/bin/sh, -c, 'echo $$ > )" + dir + R"(/$FANOUT_EXECUTION.pid; exec sleep 60'], inputs: {x: int}, outputs: {o0: int}}
workflows:
  child:
    inputs: {xs: "list<int>"}
    nodes: [{id: inner, map: t, inputs: {x: $inputs.xs}, concurrency: 1}]
    outputs: {o0: $inner.o0}
  outer:
    inputs: {xss: {type: "list<list<int>>", default: [[1, 2], [3, 4], [5, 6], [7, 8]]}}
    nodes:
      - {id: each, map: child, inputs: {xs: $inputs.xss}, concurrency: 2}
    outputs: {o0: $each.o0}
)");
  std::string exec = cluster_->Submit({spec, "outer"});
  ASSERT_FALSE(exec.empty());
  // The shell creates a pid file before it writes the pid: wait for two whole lines.
  std::vector<int> pids;
  ASSERT_TRUE(WaitFor([&] {
    pids.clear();
    for (const auto& e : fs::directory_iterator(dir)) {
      std::string line = ReadFile(e.path().string());
      if (line.empty() || line.back() != '\n') return false;
      pids.push_back(std::stoi(line));
    }
    return pids.size() == 2;
  }, milliseconds(60000)));

  RunResult r = cluster_->Fanout("abort", exec);
  EXPECT_EQ(r.exit_code, 0) << r;
  nlohmann::json st;
  ASSERT_TRUE(WaitFor([&] {
    st = cluster_->Status(exec);
    return st.is_object() && st["phase"] == "ABORTED";
  }, milliseconds(30000))) << st.dump();
  for (int i = 0; i < 2; ++i) {
    nlohmann::json child;
    std::string id = exec + ".each." + std::to_string(i);
    EXPECT_TRUE(WaitFor([&] {
      child = cluster_->Status(id);
      return child.is_object() && child["phase"] == "ABORTED";
    }, milliseconds(30000))) << id << " " << child.dump();
  }
  // The children never started are not started later.
  EXPECT_FALSE(Listed(true).count(exec + ".each.3"));
  for (int pid : pids)
    EXPECT_TRUE(WaitFor([&] { return kill(pid, 0) != 0; }, milliseconds(30000))) << pid;
}

TEST_F(LaunchPlanTest, MaxParallelismBoundsWhatRunsAcrossTheExecutionsNodes) {
  std::string dir = Dir("maxpar");
  std::string spec = Write("maxpar", R"(version: 1
tasks:
  t: {command: [/bin/sh, -c, ")" + CountingCommand(dir, "0.2") + R"("], inputs: {x: int}, outputs: {o0: int}}
workflows:
  w:
    inputs: {xs: {type: "list<int>", default: [0, 1, 2, 3, 4, 5]}}
    nodes:
      - {id: first, map: t, inputs: {x: $inputs.xs}}
      - {id: second, map: t, inputs: {x: $inputs.xs}}
    outputs: {a: $first.o0, b: $second.o0}
)");
  RunResult r = cluster_->Fanout("run", spec, "w", "--max-parallelism", "2", "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(CountFiles(dir, "max."), 12u);
  EXPECT_LE(MaxAtOnce(dir), 2);
}

TEST_F(LaunchPlanTest, ABadMaxParallelismOrUpdateIsAClearError) {
  std::string spec = Write("affine", kAffine);
  RunResult r = cluster_->Fanout("run", spec, "outer", "--max-parallelism", "-1");
  EXPECT_EQ(r.exit_code, 2) << r;
  r = cluster_->Fanout("update", "nosuchexec", "each", "--concurrency", "3");
  EXPECT_NE(r.exit_code, 0) << r;
  EXPECT_NE(r.err.find("nosuchexec"), std::string::npos) << r;
  r = cluster_->Fanout("update", "nosuchexec", "each", "--min-success-ratio", "1.5");
  EXPECT_EQ(r.exit_code, 2) << r;
}

TEST_F(LaunchPlanTest, CachingWorksInsideChildren) {
  std::string dir = Dir("cache");
  std::string spec = Write("cache", R"(version: 1
tasks:
  t:
    command: [/bin/sh, -c, 'touch )" + dir + R"(/ran.$FANOUT_EXECUTION.{{inputs.x}}; echo $(( {{inputs.x}} + 1 ))']
    inputs: {x: int}
    outputs: {o0: int}
    cache: {enabled: true, version: "lp-cache-1"}
workflows:
  child:
    inputs: {xs: "list<int>"}
    nodes: [{id: inner, map: t, inputs: {x: $inputs.xs}}]
    outputs: {o0: $inner.o0}
  outer:
    inputs: {xss: {type: "list<list<int>>", default: [[1, 2], [3, 4], [5, 6]]}}
    nodes:
      - {id: each, map: child, inputs: {xs: $inputs.xss}}
    outputs: {o0: $each.o0}
)");
  RunResult first = cluster_->Fanout("run", spec, "outer", "-o", "json");
  ASSERT_EQ(first.exit_code, 0) << first;
  ASSERT_EQ(CountFiles(dir, "ran."), 6u);
  RunResult second = cluster_->Fanout("run", spec, "outer", "-o", "json");
  ASSERT_EQ(second.exit_code, 0) << second;
  EXPECT_EQ(ParseJson(second)["outputs"]["o0"], (nlohmann::json{{2, 3}, {4, 5}, {6, 7}}));
  EXPECT_EQ(CountFiles(dir, "ran."), 6u) << "a cached subtask ran again";
  std::string exec = ParseJson(second)["execution"];
  nlohmann::json child = cluster_->Status(exec + ".each.1");
  EXPECT_EQ(child["nodes"][0]["counts"]["cached"], 2) << child.dump();
}

// Tests that restart the coordinator have a cluster of their own (2 workers x 4 slots).
class LaunchPlanRestartTest : public ::testing::Test {
 protected:
  static ClusterOptions Options() {
    ClusterOptions o;
    o.workers = 2;
    o.slots = 4;
    return o;
  }
  // A fresh directory for a test's markers.
  std::string Dir(const std::string& name) {
    std::string d = cluster_.dir().Path(name);
    fs::create_directories(d);
    return d;
  }
  Cluster cluster_{Options()};
};

// The issue's "beyond the anchors": a running map's concurrency and success criterion
// changed, and the change survives a coordinator restart (it is in Redis).
TEST_F(LaunchPlanRestartTest, UpdateChangesARunningMapAndSurvivesACoordinatorRestart) {
  std::string dir = Dir("update");
  std::string spec = cluster_.dir().WriteFile("update.yaml", R"(version: 1
tasks:
  t: {command: [/bin/sh, -c, ")" + CountingCommand(dir, "0.4") + R"("], inputs: {x: int}, outputs: {o0: int}}
workflows:
  w:
    inputs: {xs: {type: "list<int>", default: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}}
    nodes:
      - {id: m, map: t, inputs: {x: $inputs.xs}, concurrency: 1}
    outputs: {o0: $m.o0}
)");
  std::string exec = cluster_.Submit({spec});
  ASSERT_FALSE(exec.empty());
  ASSERT_TRUE(WaitFor([&] { return CountFiles(dir, "max.") >= 1; }, milliseconds(60000)));
  RunResult r = cluster_.Fanout("update", exec, "m", "--concurrency", "3", "--min-successes", "10");
  ASSERT_EQ(r.exit_code, 0) << r;
  nlohmann::json st = cluster_.Status(exec);
  EXPECT_EQ(st["nodes"][0]["concurrency"], 3) << st.dump();
  EXPECT_EQ(st["nodes"][0]["min_successes"], 10) << st.dump();

  cluster_.KillCoordinator(SIGKILL);
  ASSERT_TRUE(cluster_.StartCoordinator());
  st = cluster_.Status(exec);
  EXPECT_EQ(st["nodes"][0]["concurrency"], 3) << st.dump();
  EXPECT_EQ(st["nodes"][0]["min_successes"], 10) << st.dump();

  r = cluster_.Fanout("watch", exec, "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_LE(MaxAtOnce(dir), 3);
  // The raise took effect: more than one ran at once at some point (the count can only be too
  // low, so seeing 2 or 3 proves it; 12 subtasks of 0.4 s give it many chances).
  EXPECT_GE(MaxAtOnce(dir), 2);
}

// A failed outer execution recovered: the children that succeeded are not run again.
TEST_F(LaunchPlanRestartTest, RecoverReusesTheChildrenThatSucceeded) {
  std::string dir = Dir("recover");
  cluster_.dir().WriteFile("recover/fail", "2\n");
  std::string spec = cluster_.dir().WriteFile("recover.yaml", R"(version: 1
tasks:
  t:
    command: [/bin/sh, -c, 'd=)" + dir + R"(; touch $d/ran.{{inputs.x}}.$$; if grep -qx {{inputs.x}} $d/fail; then for i in $(seq 600); do [ $(ls $d | grep -c "^done") -ge 3 ] && break; sleep 0.05; done; sleep 0.5; exit 1; fi; touch $d/done.{{inputs.x}}; echo {{inputs.x}}']
    inputs: {x: int}
    outputs: {o0: int}
workflows:
  child:
    inputs: {x: int}
    nodes: [{id: n, task: t, inputs: {x: $inputs.x}}]
    outputs: {o0: $n.o0}
  outer:
    inputs: {xs: {type: "list<int>", default: [0, 1, 2, 3]}}
    nodes:
      - {id: each, map: child, inputs: {x: $inputs.xs}}
    outputs: {o0: $each.o0}
)");
  RunResult failed = cluster_.Fanout("run", spec, "outer", "-o", "json");
  ASSERT_EQ(failed.exit_code, 1) << failed;
  std::string exec = ParseJson(failed)["execution"];
  size_t runs_before = CountFiles(dir, "ran.");
  cluster_.dir().WriteFile("recover/fail", "\n");

  RunResult r = cluster_.Fanout("recover", exec, "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(ParseJson(r)["outputs"]["o0"], (nlohmann::json{0, 1, 2, 3})) << r;
  // Only index 2 ran again: never a child that had succeeded.
  // The failing child waits for the others to finish first, so they all succeeded.
  for (int x : {0, 1, 3}) {
    nlohmann::json child = cluster_.Status(exec + ".each." + std::to_string(x));
    ASSERT_TRUE(child.is_object()) << x;
    if (child["phase"] == "SUCCEEDED") {
      EXPECT_EQ(CountFiles(dir, "ran." + std::to_string(x) + "."), 1u) << x;
    } else {
      ADD_FAILURE() << "child " << x << " did not succeed in the first run: " << child.dump();
    }
  }
  EXPECT_EQ(CountFiles(dir, "ran.2."), 2u);
  EXPECT_GT(CountFiles(dir, "ran."), runs_before);
}

// A coordinator SIGKILLed while children (themselves maps) run: after the restart every child
// resumes, and no inner subtask that had committed runs again.
TEST_F(LaunchPlanRestartTest, AKilledCoordinatorResumesEveryChildWithoutRerunningCommittedWork) {
  std::string dir = Dir("restart");
  std::string spec = cluster_.dir().WriteFile("restart.yaml", R"(version: 1
tasks:
  t:
    command: [/bin/sh, -c, 'touch )" + dir + R"(/ran.$FANOUT_EXECUTION.$FANOUT_INDEX.$FANOUT_ATTEMPT; sleep 0.2; echo $(( {{inputs.x}} + 1 ))']
    inputs: {x: int}
    outputs: {o0: int}
workflows:
  child:
    inputs: {xs: "list<int>"}
    nodes: [{id: inner, map: t, inputs: {x: $inputs.xs}, concurrency: 2}]
    outputs: {o0: $inner.o0}
  outer:
    inputs: {xss: {type: "list<list<int>>", default: [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11], [12, 13, 14], [15, 16, 17]]}}
    nodes:
      - {id: each, map: child, inputs: {xs: $inputs.xss}, concurrency: 3}
    outputs: {o0: $each.o0}
)");
  std::string exec = cluster_.Submit({spec, "outer"});
  ASSERT_FALSE(exec.empty());
  // Killed once some inner subtasks have committed and others run.
  auto committed_in_first_children = [&] {
    int n = 0;
    for (int c = 0; c < 3; ++c)
      n += std::atoi(cluster_.redis().Command({"HLEN", "fo:{" + exec + ".each." + std::to_string(c) + "}:n:inner:out"}).c_str());
    return n;
  };
  ASSERT_TRUE(WaitFor([&] { return CountFiles(dir, "ran.") >= 5 && committed_in_first_children() > 0; },
                      milliseconds(60000)));
  cluster_.KillCoordinator(SIGKILL);
  // What Redis holds as committed at the kill: "child.index" of each inner output stored.
  std::set<std::string> committed;
  for (int c = 0; c < 6; ++c) {
    std::string child = exec + ".each." + std::to_string(c);
    std::istringstream keys(cluster_.redis().Command({"HKEYS", "fo:{" + child + "}:n:inner:out"}));
    for (std::string k; std::getline(keys, k);)
      if (!k.empty() && std::isdigit(static_cast<unsigned char>(k[0]))) committed.insert(std::to_string(c) + "." + k);
  }
  ASSERT_TRUE(cluster_.StartCoordinator());

  RunResult r = cluster_.Fanout("watch", exec, "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  nlohmann::json want = nlohmann::json::array();
  for (int c = 0; c < 6; ++c) want.push_back({3 * c + 1, 3 * c + 2, 3 * c + 3});
  EXPECT_EQ(ParseJson(r)["outputs"]["o0"], want) << r;
  // What had committed was not dispatched again: it ran once. The rest ran at least once (the
  // workers lived on and claim back what they ran; on a loaded machine one may miss its
  // heartbeats, and its attempts then run again as system retries, which is correct).
  for (int c = 0; c < 6; ++c)
    for (int i = 0; i < 3; ++i) {
      std::string prefix = "ran." + exec + ".each." + std::to_string(c) + "." + std::to_string(i) + ".";
      if (committed.contains(std::to_string(c) + "." + std::to_string(i))) {
        EXPECT_EQ(CountFiles(dir, prefix), 1u) << prefix << " had committed before the kill";
      } else {
        EXPECT_GE(CountFiles(dir, prefix), 1u) << prefix;
      }
    }
}

}  // namespace
}  // namespace fanout::testing
