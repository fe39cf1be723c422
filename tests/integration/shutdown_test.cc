// Shutdown order (issue 8): a coordinator stopped by SIGTERM while Redis writes are in flight
// flushes and exits cleanly (no use of a destroyed room: `make sanitize` runs this under ASan),
// and a coordinator started again finishes the execution with every output correct.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

constexpr int kN = 20000;

constexpr const char* kNoopSpec = R"(version: 1
tasks:
  noop:
    function: builtin.noop
    inputs:  {x: int}
    outputs: {o0: int}
workflows:
  w:
    inputs:
      xs: {type: "list<int>"}
    nodes:
      - id: m
        map: noop
        inputs: {x: $inputs.xs}
    outputs: {o0: $m.o0}
)";

TEST(ShutdownTest, SigtermWithWritesInFlightExitsCleanlyAndLosesNothing) {
  ClusterOptions o;
  o.workers = 2;
  o.slots = 64;
  Cluster cluster(o);
  std::string spec = cluster.dir().WriteFile("noop.yaml", kNoopSpec);
  std::string exec = cluster.Submit({spec, "-i", RangeInputArg(cluster.dir(), kN)});
  ASSERT_FALSE(exec.empty());
  ASSERT_TRUE(WaitFor(
      [&] {
        nlohmann::json s = cluster.Status(exec);
        return s.is_object() && s["nodes"][0]["counts"]["succeeded"].get<int>() >= 1000;
      },
      std::chrono::milliseconds(120000), std::chrono::milliseconds(20)))
      << "the map never got going";

  int rc = cluster.coordinator()->Stop(SIGTERM, std::chrono::milliseconds(20000));
  EXPECT_EQ(rc, 0) << cluster.coordinator()->Stderr();
  std::string err = cluster.coordinator()->Stderr();
  EXPECT_EQ(err.find("AddressSanitizer"), std::string::npos) << err;
  EXPECT_EQ(err.find("runtime error:"), std::string::npos) << err;
  EXPECT_NE(err.find("flushing and stopping"), std::string::npos) << err;

  ASSERT_TRUE(cluster.StartCoordinator());
  RunResult r = cluster.Fanout({"watch", exec, "-o", "json"}, std::chrono::milliseconds(180000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json out = nlohmann::json::parse(r.out);
  EXPECT_EQ(out["phase"], "SUCCEEDED");
  EXPECT_EQ(out["outputs"]["o0"], nlohmann::json::parse(Range(kN)));
}

}  // namespace
}  // namespace fanout::testing
