// Redis that stays connected but refuses writes (here: -OOM under maxmemory; in the field also
// -MISCONF, -READONLY, -BUSY). Results whose commit was refused are still held by their workers;
// the coordinator asks those workers for them again on its next tick, so once Redis accepts
// writes the execution completes: nothing lost, each output committed once.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

TEST(RedisRefusalTest, ResultsRefusedByRedisAreAskedForAgainAndCommittedOnce) {
  ClusterOptions o;
  o.slots = 4;
  Cluster cluster(o);
  std::string gate = cluster.dir().Path("gate");
  std::string spec = cluster.dir().WriteFile(
      "gated.yaml", MapSpec("while [ ! -e " + gate + " ]; do sleep 0.02; done; echo $(( {{inputs.x}} * 3 ))",
                            4, "", "", "gated"));
  std::string exec = cluster.Submit({spec});
  ASSERT_FALSE(exec.empty());
  ASSERT_TRUE(WaitFor(
      [&] {
        nlohmann::json st = cluster.Status(exec);
        return st.is_object() && st["nodes"][0]["counts"]["running"] == 4;
      },
      milliseconds(30000)));
  // Give the dispatch records time to reach Redis, then make it refuse every write.
  ASSERT_TRUE(WaitFor(
      [&] { return cluster.redis().Command({"EXISTS", "fo:{" + exec + "}:n:gated:ph"}) == "1"; },
      milliseconds(10000)));
  ASSERT_EQ(cluster.redis().Command({"CONFIG", "SET", "maxmemory-policy", "noeviction"}), "OK");
  ASSERT_EQ(cluster.redis().Command({"CONFIG", "SET", "maxmemory", "1"}), "OK");

  cluster.dir().WriteFile("gate", "");
  std::string coordinator_log = cluster.dir().Path("coordinator.err");
  ASSERT_TRUE(WaitFor([&] { return ReadFile(coordinator_log).find("OOM") != std::string::npos; },
                      milliseconds(30000)))
      << "no write was refused";
  EXPECT_EQ(cluster.redis().Command({"HLEN", "fo:{" + exec + "}:n:gated:out"}), "0");

  ASSERT_EQ(cluster.redis().Command({"CONFIG", "SET", "maxmemory", "0"}), "OK");
  nlohmann::json st;
  ASSERT_TRUE(WaitFor(
      [&] {
        st = cluster.Status(exec);
        return st.is_object() && st.value("phase", "") != "RUNNING";
      },
      milliseconds(60000), milliseconds(100)))
      << "the execution never ended: refused results were not sent again";
  EXPECT_EQ(st["phase"], "SUCCEEDED") << st.dump(2);
  RunResult out = cluster.Fanout("outputs", exec, "-o", "json");
  ASSERT_EQ(out.exit_code, 0) << out;
  EXPECT_EQ(nlohmann::json::parse(out.out)["outputs"]["o0"], nlohmann::json({0, 3, 6, 9}));
  EXPECT_EQ(cluster.redis().Command({"HLEN", "fo:{" + exec + "}:n:gated:out"}), "4");
}

}  // namespace
}  // namespace fanout::testing
