// Chaos 6: the coordinator is killed with SIGKILL every 2 s during a map over a workflow whose
// children are themselves maps (issue 9), and started again each time on the same port and
// Redis. Proves, for child executions as for plain maps: a restarted coordinator adopts every
// child where it was, work in flight is claimed by its worker or run again, every inner index
// of every child is committed exactly once with the reference output (one write of its output field in the AOF), and every child's result
// is committed into the outer node exactly once.
#include <gtest/gtest.h>

#include "coordinator/keys.h"
#include "tests/chaos/chaos_util.h"

namespace fanout::testing::chaos {
namespace {

using std::chrono::milliseconds;

// Child c maps `double` over xs = [c*k, c*k + 1, ..., c*k + k-1]: the global index g of a
// subtask is its input, so the markers (g.ATTEMPT.PID) and the reference (2g) are those of the
// other scenarios.
std::string Spec(const std::string& markers) {
  return R"(version: 1
tasks:
  double:
    command: [/bin/sh, -c, ': > "{{inputs.dir}}/{{inputs.x}}.$FANOUT_ATTEMPT.$$"; sleep 0.005; echo $(( {{inputs.x}} * 2 ))']
    inputs: {x: int, dir: str}
    outputs: {o0: int}
workflows:
  child:
    inputs: {xs: "list<int>"}
    nodes:
      - {id: double, map: double, inputs: {x: $inputs.xs}, bind: {dir: ")" + markers + R"("}, concurrency: 8}
    outputs: {o0: $double.o0}
  outer:
    inputs: {xss: "list<list<int>>"}
    nodes:
      - {id: each, map: child, inputs: {xs: $inputs.xss}, concurrency: 6}
    outputs: {o0: $each.o0}
)";
}

long CommittedChildren(const RedisServer& redis, const std::string& exec) {
  std::string n = redis.Command({"HLEN", keys::Outputs(exec, "each")});
  return n.empty() || n[0] == '(' ? -1 : std::atol(n.c_str());
}

void LaunchPlanKill(bool long_form) {
  const int children = long_form ? 400 : 40;
  const int k = long_form ? 50 : 25;
  const int n = children * k;
  const int max_kills = long_form ? 1000 : 3;
  Report report("launch-plan-coordinator-kill", long_form, n);
  report.extra["children"] = children;
  ClusterOptions o;
  o.workers = 4;
  o.slots = 4;
  o.coordinator_args = {"--system-retries", "15"};
  Cluster cluster(o);
  ASSERT_FALSE(::testing::Test::HasFailure()) << "the cluster did not start";
  DisableAofRewrite(cluster.redis());
  std::string markers = cluster.dir().Path("markers");
  std::filesystem::create_directories(markers);
  std::string spec = cluster.dir().WriteFile("lp-chaos.yaml", Spec(markers));
  nlohmann::json xss = nlohmann::json::array();
  for (int c = 0; c < children; ++c) {
    nlohmann::json xs = nlohmann::json::array();
    for (int i = 0; i < k; ++i) xs.push_back(c * k + i);
    xss.push_back(xs);
  }
  std::string inputs = cluster.dir().WriteFile("xss.json", xss.dump());
  std::string exec = cluster.Submit({spec, "outer", "-i", "xss=@" + inputs});
  ASSERT_FALSE(exec.empty());

  // Progress is the inner subtasks that ran (markers): children commit inner outputs long
  // before they commit into the outer node.
  auto progress = [&] {
    long total = 0;
    for (const auto& [i, runs] : CountMarkers(markers)) total += runs > 0;
    return total;
  };
  nlohmann::json kill_at = nlohmann::json::array();
  ASSERT_TRUE(KillCoordinatorRepeatedly(cluster, exec, max_kills, report, progress, [&](long ran) {
    kill_at.push_back({{"inner_ran", ran}, {"children_committed", CommittedChildren(cluster.redis(), exec)}});
  }));
  report.extra["at_kills"] = kill_at;

  std::string phase = WaitTerminal(cluster.redis(), exec, TerminalDeadline(long_form));
  ASSERT_EQ(phase, "SUCCEEDED");

  // Commits, counted in the AOF: each inner index once per child, each child once in the outer node.
  long duplicates = 0, missing = 0, wrong = 0;
  for (int c = 0; c < children; ++c) {
    std::string child = exec + ".each." + std::to_string(c);
    auto commits = AofFieldWrites(cluster.redis().Dir(), keys::Outputs(child, "double"));
    for (int i = 0; i < k; ++i) {
      auto it = commits.find(std::to_string(i));
      if (it == commits.end()) {
        if (++missing <= 5) ADD_FAILURE() << child << " index " << i << ": no output write in the AOF";
        continue;
      }
      if (it->second.size() != 1 && ++duplicates <= 5)
        ADD_FAILURE() << child << " index " << i << ": committed " << it->second.size() << " times";
      for (const std::string& v : it->second) {
        auto doc = nlohmann::json::from_msgpack(v, true, false);
        if (!(doc.is_array() && doc.size() == 1 && doc[0] == 2 * (c * k + i)) && ++wrong <= 5)
          ADD_FAILURE() << child << " index " << i << ": committed " << doc.dump();
      }
    }
  }
  auto outer = AofFieldWrites(cluster.redis().Dir(), keys::Outputs(exec, "each"));
  for (int c = 0; c < children; ++c) {
    auto it = outer.find(std::to_string(c));
    if (it == outer.end()) {
      ++missing;
      ADD_FAILURE() << "child " << c << ": its result never committed into the outer node";
    } else if (it->second.size() != 1) {
      ++duplicates;
      ADD_FAILURE() << "child " << c << ": committed " << it->second.size() << " times into the outer node";
    }
  }
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(wrong, 0);
  report.duplicates = duplicates;
  report.missing = missing;
  long total = 0;
  auto runs = CountMarkers(markers);
  for (int g = 0; g < n; ++g) {
    total += runs[g];
    if (runs[g] < 1) ADD_FAILURE() << "inner subtask " << g << " never ran";
  }
  report.reexecutions = total - n;

  // What the user sees.
  RunResult out = cluster.Fanout("outputs", exec, "-o", "json");
  ASSERT_EQ(out.exit_code, 0) << out;
  auto doc = nlohmann::json::parse(out.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << out.out.substr(0, 2000);
  for (int c = 0; c < children; ++c)
    for (int i = 0; i < k; ++i)
      EXPECT_EQ(doc["outputs"]["o0"][c][i], 2 * (c * k + i)) << c << "/" << i;
  ExpectWorkersAlive(cluster);
  EXPECT_GE(report.kills, long_form ? 5 : 2) << "the map ended before the planned kills";
}

FANOUT_CHAOS_SCENARIO(TEST, ChaosLaunchPlanKill, LaunchPlanKill)

}  // namespace
}  // namespace fanout::testing::chaos
