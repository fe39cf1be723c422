// Issue 12, reproduction 2: the coordinator's Redis connection killed again and again
// (CLIENT KILL TYPE normal) during a map, so that some commit scripts run but their replies are
// lost with the connection. The re-sent commit must be recognised as already applied, never as
// a refusal: the execution succeeds, with every output in place.
#include <gtest/gtest.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

using std::chrono::milliseconds;

TEST(RedisConnectionKillTest, LostCommitRepliesAreAlreadyAppliedNotRefusals) {
  ClusterOptions o;
  o.workers = 2;
  o.slots = 8;
  Cluster cluster(o);
  constexpr int kN = 3000;
  std::string spec = cluster.dir().WriteFile("kill.yaml", R"(version: 1
tasks:
  echo: {function: builtin.echo, inputs: {value: json}, outputs: {o0: json}}
workflows:
  w:
    inputs: {xs: "list<int>"}
    nodes:
      - {id: m, map: echo, inputs: {value: $inputs.xs}, concurrency: 2}
    outputs: {o0: $m.o0}
)");
  std::string exec = cluster.Submit({spec, "-i", RangeInputArg(cluster.dir(), kN)});
  ASSERT_FALSE(exec.empty());

  // Kill the coordinator's connections while the map runs (at most 25 times, each after the
  // coordinator has reconnected and the map moved on, or the map ended).
  int kills = 0;
  nlohmann::json st;
  for (int i = 0; i < 25; ++i) {
    st = cluster.Status(exec);
    if (st.is_object() && st.value("phase", "") != "RUNNING" && st.value("phase", "") != "QUEUED") break;
    std::string r = cluster.redis().Command({"CLIENT", "KILL", "TYPE", "normal"});
    if (r.rfind("(error)", 0) != 0) ++kills;
    // The coordinator reconnects and answers again before the next kill.
    WaitFor([&] { return cluster.Status(exec).is_object(); }, milliseconds(20000), milliseconds(50));
  }
  RunResult r = cluster.Fanout("watch", exec, "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << r;
  EXPECT_EQ(doc["phase"], "SUCCEEDED") << r.out.substr(0, 2000);
  ASSERT_EQ(doc["outputs"]["o0"].size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) ASSERT_EQ(doc["outputs"]["o0"][i], i) << i;
  EXPECT_GT(kills, 0) << "no connection was killed: the test tested nothing";
  std::cerr << "[redis-kill] " << kills << " kills during the map\n";
}

}  // namespace
}  // namespace fanout::testing
