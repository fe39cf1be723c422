// `fanout recover EXEC` (beyond Flyte, DESIGN §4): a new execution of the same spec and inputs
// that reuses every subtask output that succeeded in EXEC and runs only the rest.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

namespace fs = std::filesystem;

std::set<int> Lines(const std::string& text) {
  std::set<int> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.insert(std::stoi(line));
  return out;
}

TEST(RecoverTest, RecoverRunsOnlyTheSubtasksThatDidNotSucceed) {
  ClusterOptions o;
  o.workers = 2;
  o.slots = 8;
  Cluster cluster(o);
  std::string dir = cluster.dir().Path("markers");
  fs::create_directories(dir);
  cluster.dir().WriteFile("markers/fail", "4\n");
  std::string spec = cluster.dir().WriteFile("recover.yaml", R"(version: 1
tasks:
  triple:
    command: [/bin/sh, -c, 'touch "{{inputs.dir}}/$FANOUT_INDEX.$FANOUT_ATTEMPT.$$"; if grep -qx "{{inputs.x}}" "{{inputs.dir}}/fail"; then exit 1; fi; echo $(( {{inputs.x}} * 3 ))']
    inputs: {x: int, dir: str}
    outputs: {o0: int}
workflows:
  w:
    inputs:
      xs: {type: "list<int>", default: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}
    nodes:
      - id: triple
        map: triple
        inputs: {x: $inputs.xs}
        bind: {dir: ")" + dir + R"("}
        min_success_ratio: 0.9
    outputs: {o0: $triple.o0}
)");
  // 0.9 × 12 → 11 successes needed; index 4 fails, so the node fails once all 12 are done.
  RunResult first = cluster.Fanout("run", spec, "-o", "json");
  ASSERT_EQ(first.exit_code, 0) << first;  // one failure is tolerated...
  cluster.dir().WriteFile("markers/fail", "4\n5\n");
  RunResult failed = cluster.Fanout("run", spec, "-o", "json");
  ASSERT_EQ(failed.exit_code, 1) << failed;  // ...two are not
  std::string exec = nlohmann::json::parse(failed.out)["execution"];
  std::set<int> succeeded =
      Lines(cluster.redis().Command({"HKEYS", "fo:{" + exec + "}:n:triple:out"}));
  ASSERT_FALSE(succeeded.count(4));
  ASSERT_FALSE(succeeded.count(5));
  ASSERT_FALSE(succeeded.empty());

  // The cause is fixed; recover.
  cluster.dir().WriteFile("markers/fail", "\n");
  std::map<int, int> before = CountMarkers(dir);
  RunResult rec = cluster.Fanout("recover", exec, "-o", "json");
  ASSERT_EQ(rec.exit_code, 0) << rec;
  auto doc = nlohmann::json::parse(rec.out);
  EXPECT_EQ(doc["phase"], "SUCCEEDED");
  ASSERT_NE(doc["execution"], exec);
  nlohmann::json want = nlohmann::json::array();
  for (int i = 0; i < 12; ++i) want.push_back(3 * i);
  EXPECT_EQ(doc["outputs"]["o0"], want);

  std::map<int, int> after = CountMarkers(dir);
  for (int i = 0; i < 12; ++i) {
    if (succeeded.count(i)) {
      EXPECT_EQ(after[i], before[i]) << "index " << i << " had succeeded and ran again";
    } else {
      EXPECT_EQ(after[i], before[i] + 1) << "index " << i << " should have run once more";
    }
  }
  RunResult status = cluster.Fanout("status", doc["execution"].get<std::string>(), "-o", "json");
  EXPECT_EQ(nlohmann::json::parse(status.out)["recovered_from"], exec) << status;
}

TEST(RecoverTest, RecoveringAnUnknownExecutionExitsTwo) {
  Cluster cluster;
  RunResult r = cluster.Fanout("recover", "fnosuchexec");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("fnosuchexec"), std::string::npos) << r;
}

}  // namespace
}  // namespace fanout::testing
