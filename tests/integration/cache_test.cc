// Per-subtask caching (DESIGN §4, issue 5): hits complete without any worker, only
// successful results are cached, the key covers the task interface, the cache version and
// each subtask's own inputs (bound ones included) minus ignore_inputs; --overwrite-cache runs
// and replaces; `fanout cache clear` removes entries.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

namespace fs = std::filesystem;

class CacheTest : public SharedClusterTest<CacheTest> {
 protected:
  void SetUp() override {
    markers_ = cluster_->dir().Path(::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(markers_);
  }

  // A spec whose task leaves a marker per execution and returns x * k + (note length).
  std::string Spec(const std::string& version, const std::string& extra_cache = "") {
    return cluster_->dir().WriteFile(
        "cache-" + version + ".yaml",
        R"(version: 1
tasks:
  t:
    command: [/bin/sh, -c, 'touch "{{inputs.dir}}/$FANOUT_INDEX.$$"; echo $(( {{inputs.x}} * {{inputs.k}} ))']
    inputs: {x: int, k: int, dir: str, note: str}
    outputs: {o0: int}
    cache: {enabled: true, version: ")" + version + R"(", ignore_inputs: [note, dir])" + extra_cache + R"(}
workflows:
  w:
    inputs:
      xs: {type: "list<int>", default: [1, 2, 3, 4]}
      k: {type: int, default: 10}
      note: {type: str, default: "a"}
    nodes:
      - id: n
        map: t
        inputs: {x: $inputs.xs}
        bind: {k: $inputs.k, dir: ")" + markers_ + R"(", note: $inputs.note}
    outputs: {o0: $n.o0}
)");
  }

  int Markers() {
    int n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(markers_)) ++n;
    return n;
  }

  nlohmann::json Run(const std::string& spec, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"run", spec, "-o", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = cluster_->Fanout(args);
    EXPECT_EQ(r.exit_code, 0) << r;
    auto doc = nlohmann::json::parse(r.out, nullptr, false);
    if (doc.is_discarded()) return nullptr;
    RunResult s = cluster_->Fanout("status", doc["execution"].get<std::string>(), "-o", "json");
    doc["status"] = nlohmann::json::parse(s.out, nullptr, false);
    return doc;
  }

  static int Cached(const nlohmann::json& doc) { return doc["status"]["nodes"][0]["counts"]["cached"]; }

  std::string markers_;
};

TEST_F(CacheTest, SecondIdenticalRunExecutesNothingAndReturnsIdenticalOutputs) {
  std::string spec = Spec("same");
  auto first = Run(spec);
  EXPECT_EQ(Markers(), 4);
  EXPECT_EQ(Cached(first), 0);
  auto second = Run(spec);
  EXPECT_EQ(Markers(), 4) << "a cached subtask ran";
  EXPECT_EQ(Cached(second), 4);
  EXPECT_EQ(second["outputs"], first["outputs"]);
  EXPECT_EQ(second["outputs"]["o0"], nlohmann::json({10, 20, 30, 40}));
}

TEST_F(CacheTest, ChangingOneElementRerunsExactlyOneSubtask) {
  std::string spec = Spec("one");
  Run(spec);
  auto changed = Run(spec, {"-i", "xs=[1, 2, 7, 4]"});
  EXPECT_EQ(Markers(), 5);
  EXPECT_EQ(Cached(changed), 3);
  EXPECT_EQ(changed["outputs"]["o0"], nlohmann::json({10, 20, 70, 40}));
}

TEST_F(CacheTest, NewCacheVersionRerunsEverything) {
  Run(Spec("v1"));
  auto v2 = Run(Spec("v2"));
  EXPECT_EQ(Markers(), 8);
  EXPECT_EQ(Cached(v2), 0);
}

TEST_F(CacheTest, IgnoredInputsDoNotChangeTheKeyButBoundInputsDo) {
  std::string spec = Spec("bound");
  Run(spec);
  auto ignored = Run(spec, {"-i", "note=\"b\""});
  EXPECT_EQ(Markers(), 4);
  EXPECT_EQ(Cached(ignored), 4);
  auto bound = Run(spec, {"-i", "k=3"});
  EXPECT_EQ(Markers(), 8);
  EXPECT_EQ(Cached(bound), 0);
  EXPECT_EQ(bound["outputs"]["o0"], nlohmann::json({3, 6, 9, 12}));
}

TEST_F(CacheTest, OverwriteRunsEverySubtaskAndReplacesTheEntries) {
  std::string spec = Spec("over");
  Run(spec);
  auto over = Run(spec, {"--overwrite-cache"});
  EXPECT_EQ(Markers(), 8);
  EXPECT_EQ(Cached(over), 0);
  auto after = Run(spec);
  EXPECT_EQ(Markers(), 8);
  EXPECT_EQ(Cached(after), 4);
}

TEST_F(CacheTest, FailedSubtasksAreNotCached) {
  std::string spec = cluster_->dir().WriteFile("cache-fail.yaml", R"(version: 1
tasks:
  f:
    command: [/bin/sh, -c, 'touch "{{inputs.dir}}/$FANOUT_INDEX.$$"; [ {{inputs.x}} -ne 2 ] && echo {{inputs.x}}']
    inputs: {x: int, dir: str}
    outputs: {o0: int}
    cache: {enabled: true, version: "f1", ignore_inputs: [dir]}
workflows:
  w:
    nodes:
      - {id: n, map: f, inputs: {x: [1, 2, 3]}, bind: {dir: ")" + markers_ + R"("}, min_successes: 2}
    outputs: {o0: $n.o0}
)");
  auto first = Run(spec);
  EXPECT_EQ(first["outputs"]["o0"], nlohmann::json({1, nullptr, 3}));
  auto second = Run(spec);
  EXPECT_EQ(Cached(second), 2);
  EXPECT_EQ(Markers(), 4);  // index 1 (x=2) ran again
}

TEST_F(CacheTest, CacheClearRemovesTheEntriesOfOneVersion) {
  std::string spec = Spec("clear");
  Run(spec);
  RunResult clear = cluster_->Fanout("cache", "clear", "--task", "t", "--version", "clear", "-o", "json");
  ASSERT_EQ(clear.exit_code, 0) << clear;
  EXPECT_EQ(nlohmann::json::parse(clear.out)["deleted"], 4);
  auto again = Run(spec);
  EXPECT_EQ(Cached(again), 0);
  EXPECT_EQ(Markers(), 8);
}

}  // namespace
}  // namespace fanout::testing

namespace fanout::testing {
namespace {

// Cache serialization: subtasks with the same key, in any execution, run once.
class CacheSerializeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions o;
    o.workers = 2;
    o.slots = 4;
    cluster_ = std::make_unique<Cluster>(o);
    dir_ = cluster_->dir().Path("serialize");
    fs::create_directories(dir_);
    // Sleeps long while the file "slow" exists, briefly otherwise.
    spec_ = cluster_->dir().WriteFile("serialize.yaml", R"(version: 1
tasks:
  t:
    command: [/bin/sh, -c, 'touch "{{inputs.dir}}/run.$FANOUT_EXECUTION.$FANOUT_INDEX"; if [ -e "{{inputs.dir}}/slow" ]; then sleep 30; else sleep 1; fi; echo $(( {{inputs.x}} * 2 ))']
    inputs: {x: int, dir: str}
    outputs: {o0: int}
    cache: {enabled: true, version: "s1", serialize: true, ignore_inputs: [dir]}
workflows:
  w:
    nodes:
      - {id: n, map: t, inputs: {x: [1, 2, 3]}, bind: {dir: ")" + dir_ + R"("}}
    outputs: {o0: $n.o0}
)");
  }

  std::string Submit() { return cluster_->Submit({spec_}); }
  int Runs(const std::string& exec) {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().filename().string().rfind("run." + exec + ".", 0) == 0) ++n;
    return n;
  }

  std::unique_ptr<Cluster> cluster_;
  std::string dir_, spec_;
};

TEST_F(CacheSerializeTest, TwoConcurrentExecutionsRunEachKeyOnce) {
  std::string a = Submit();
  ASSERT_TRUE(WaitFor([&] { return Runs(a) == 3; }, std::chrono::milliseconds(20000)));
  std::string b = Submit();
  // B's subtasks wait for A's results instead of running.
  ASSERT_TRUE(WaitFor([&] {
    nlohmann::json s = cluster_->Status(b);
    return s.is_object() && (s["nodes"][0]["counts"]["waiting_for_cache"] == 3 || s["phase"] == "SUCCEEDED");
  }, std::chrono::milliseconds(20000), std::chrono::milliseconds(50)));
  RunResult wa = cluster_->Fanout("watch", a, "-o", "json");
  RunResult wb = cluster_->Fanout("watch", b, "-o", "json");
  ASSERT_EQ(wa.exit_code, 0) << wa;
  ASSERT_EQ(wb.exit_code, 0) << wb;
  EXPECT_EQ(nlohmann::json::parse(wb.out)["outputs"]["o0"], nlohmann::json({2, 4, 6}));
  EXPECT_EQ(Runs(a), 3);
  EXPECT_EQ(Runs(b), 0) << "B computed keys A was computing";
  EXPECT_EQ(cluster_->Status(b)["nodes"][0]["counts"]["cached"], 3);
}

TEST_F(CacheSerializeTest, WaiterTakesTheReservationOverWhenTheHolderGoesAway) {
  cluster_->dir().WriteFile("serialize/slow", "");
  std::string a = Submit();
  ASSERT_TRUE(WaitFor([&] { return Runs(a) == 3; }, std::chrono::milliseconds(20000)));
  std::string b = Submit();
  ASSERT_TRUE(WaitFor([&] {
    nlohmann::json s = cluster_->Status(b);
    return s.is_object() && s["nodes"][0]["counts"]["waiting_for_cache"] == 3;
  }, std::chrono::milliseconds(20000), std::chrono::milliseconds(50)));
  fs::remove(dir_ + "/slow");
  RunResult abort = cluster_->Fanout("abort", a);
  ASSERT_EQ(abort.exit_code, 0) << abort;
  // Within the reservation TTL (3 s) and one renewal interval (1 s), with slack for a loaded
  // machine: this is a deadline, not a timing assertion.
  ASSERT_TRUE(WaitFor([&] { return Runs(b) == 3; }, std::chrono::milliseconds(20000)));
  RunResult wb = cluster_->Fanout("watch", b, "-o", "json");
  ASSERT_EQ(wb.exit_code, 0) << wb;
  EXPECT_EQ(nlohmann::json::parse(wb.out)["outputs"]["o0"], nlohmann::json({2, 4, 6}));
}

}  // namespace
}  // namespace fanout::testing

namespace fanout::testing {
namespace {

// A function's cached results belong to the build of its plugin (issue 10): a worker with a
// rebuilt plugin runs the subtasks again instead of being served the old build's results, and
// the new build's results are cached in turn.
TEST(CachePluginBuildTest, ANewBuildOfThePluginDoesNotGetTheOldBuildsResults) {
  TempDir plugins("fanout-plugin-build");
  std::string plugin = plugins.Path("libtasks.so");
  fs::copy_file(BinDir() + "/libfanout_examples.so", plugin);
  ClusterOptions o;
  o.workers = 1;
  o.plugin = plugin;
  Cluster cluster(o);
  std::string spec = cluster.dir().WriteFile("build.yaml", R"(version: 1
tasks:
  detect: {function: detect_anomalies, inputs: {x: int}, outputs: {o0: bool}, cache: {enabled: true, version: "1"}}
workflows:
  w:
    nodes:
      - {id: n, map: detect, inputs: {x: [5, 12, 20]}}
    outputs: {o0: $n.o0}
)");
  auto run = [&] {
    RunResult r = cluster.Fanout("run", spec, "-o", "json");
    EXPECT_EQ(r.exit_code, 0) << r;
    auto doc = nlohmann::json::parse(r.out, nullptr, false);
    if (!doc.is_object()) return -1;
    EXPECT_EQ(doc["outputs"]["o0"], nlohmann::json({false, true, true}));
    return cluster.Status(doc["execution"].get<std::string>())["nodes"][0]["counts"]["cached"].get<int>();
  };
  EXPECT_EQ(run(), 0);
  EXPECT_EQ(run(), 3);

  // The same plugin rebuilt: one more byte at the end of the file (the loader ignores it).
  cluster.KillWorker(0, SIGTERM);  // drains and says BYE: the coordinator forgets it at once
  {
    std::ofstream out(plugin, std::ios::binary | std::ios::app);
    out.put('\0');
  }
  cluster.RestartWorker(0);
  ASSERT_TRUE(cluster.WaitForWorkers(1, std::chrono::milliseconds(30000)));
  EXPECT_EQ(run(), 0) << "the new build was served the old build's results";
  EXPECT_EQ(run(), 3);
}

}  // namespace
}  // namespace fanout::testing
