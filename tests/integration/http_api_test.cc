// HTTP on the coordinator (coordinator/http_server.h) against a real cluster: the JSON API
// answers with the CLI's `-o json` documents, the subtask grid and detail come from memory
// while an execution runs and from Redis once it ended, /metrics passes `promtool check
// metrics`, the probes answer, and a bind beyond loopback needs a token.
#include <httplib.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/harness.h"
#include "tests/prometheus_text.h"

namespace fanout::testing {
namespace {

using Json = nlohmann::json;

// The coordinator's HTTP port, from `fanout health -o json`.
int HttpPort(Cluster& c) {
  Json h = ParseJsonOrNull(c.Fanout("health", "-o", "json").out);
  return h.is_object() ? h.value("http_port", 0) : 0;
}

struct Got {
  int status = 0;
  std::string body;
  Json json() const { return ParseJsonOrNull(body); }
};

Got Get(int port, const std::string& path, const std::string& token = "") {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(std::chrono::seconds(30));
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  auto r = cli.Get(path, headers);
  if (!r) return Got{-1, "request failed: " + httplib::to_string(r.error())};
  return Got{r->status, r->body};
}

// A map of n subtasks of a command task: index i fails (exit 1, after printing to stderr) when
// i is a multiple of 5; min_success_ratio tolerates that.
std::string ToleratingSpec(int n) {
  return MapSpec("if [ $(({{inputs.x}} % 5)) = 0 ]; then echo \"bad {{inputs.x}}\" >&2; exit 1; fi; echo {{inputs.x}}", n,
                 "", "        min_success_ratio: 0.5\n");
}

class HttpApiTest : public SharedClusterTest<HttpApiTest> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_->WaitForWorkers(2, milliseconds(30000)));
    port_ = HttpPort(*cluster_);
    ASSERT_GT(port_, 0) << "fanout health -o json has no http_port";
  }
  // Runs ToleratingSpec(n) to its end; its execution id.
  std::string RunToEnd(int n) {
    std::string spec = cluster_->dir().WriteFile("tolerating.yaml", ToleratingSpec(n));
    RunResult r = cluster_->Fanout("run", spec, "-o", "json");
    EXPECT_EQ(r.exit_code, 0) << r;
    return ParseJsonOrNull(r.out).value("execution", "");
  }
  int port_ = 0;
};

TEST_F(HttpApiTest, StatusOutputsAndListAreTheCliDocuments) {
  std::string exec = RunToEnd(10);
  ASSERT_FALSE(exec.empty());
  Got status = Get(port_, "/api/v1/executions/" + exec);
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(status.json(), ParseJsonOrNull(cluster_->Fanout("status", exec, "-o", "json").out));
  Got outputs = Get(port_, "/api/v1/executions/" + exec + "/outputs");
  ASSERT_EQ(outputs.status, 200) << outputs.body;
  EXPECT_EQ(outputs.json(), ParseJsonOrNull(cluster_->Fanout("outputs", exec, "-o", "json").out));
  EXPECT_EQ(outputs.json()["failed_total"], 2);
  Got node = Get(port_, "/api/v1/executions/" + exec + "/nodes/m");
  ASSERT_EQ(node.status, 200) << node.body;
  EXPECT_EQ(node.json(), status.json()["nodes"][0]);
  EXPECT_EQ(Get(port_, "/api/v1/executions/" + exec + "/nodes/zz").status, 404);

  Json list = Get(port_, "/api/v1/executions").json();
  auto listed = [&](const Json& l) {
    for (const Json& e : l.value("executions", Json::array()))
      if (e.value("execution", "") == exec) return true;
    return false;
  };
  EXPECT_TRUE(listed(list)) << list.dump();
  EXPECT_TRUE(listed(Get(port_, "/api/v1/executions?phase=succeeded").json()));
  EXPECT_FALSE(listed(Get(port_, "/api/v1/executions?phase=FAILED").json()));
}

TEST_F(HttpApiTest, WorkersAreTheCliDocument) {
  Json http = Get(port_, "/api/v1/workers").json();
  Json cli = ParseJsonOrNull(cluster_->Fanout("workers", "-o", "json").out);
  ASSERT_TRUE(http.contains("workers")) << http.dump();
  ASSERT_EQ(http["workers"].size(), cli["workers"].size());
  for (size_t i = 0; i < cli["workers"].size(); ++i) {
    Json a = http["workers"][i], b = cli["workers"][i];
    a.erase("heartbeat_age_ms");  // the only field that moves between the two reads
    b.erase("heartbeat_age_ms");
    EXPECT_EQ(a, b);
  }
}

TEST_F(HttpApiTest, TheGridOfAnEndedExecutionComesFromTheStoreOneCharacterPerSubtask) {
  std::string exec = RunToEnd(23);
  ASSERT_FALSE(exec.empty());
  std::string base = "/api/v1/executions/" + exec + "/nodes/m/subtasks";
  Json g = Get(port_, base).json();
  ASSERT_TRUE(g.contains("phases")) << g.dump();
  EXPECT_EQ(g["live"], false);
  EXPECT_EQ(g["size"], 23);
  std::string phases = g["phases"];
  ASSERT_EQ(phases.size(), 23u);
  for (size_t i = 0; i < phases.size(); ++i) EXPECT_EQ(phases[i], i % 5 == 0 ? 'f' : 's') << "index " << i;
  EXPECT_EQ(Get(port_, base + "?offset=20&limit=2").json()["phases"], "fs");
  EXPECT_EQ(Get(port_, base + "?phase=failed").json()["indices"], Json::parse("[0, 5, 10, 15, 20]"));
  EXPECT_EQ(Get(port_, base + "?phase=failed&offset=6&limit=2").json()["indices"], Json::parse("[10, 15]"));
}

TEST_F(HttpApiTest, TheGridOfARunningExecutionComesFromMemory) {
  std::string gate = cluster_->dir().Path("grid-gate");
  std::string spec = cluster_->dir().WriteFile(
      "gated.yaml", MapSpec("while [ ! -e " + gate + " ]; do sleep 0.05; done; echo {{inputs.x}}", 12, "",
                            "        concurrency: 3\n"));
  std::string exec = cluster_->Submit({spec});
  ASSERT_FALSE(exec.empty());
  std::string base = "/api/v1/executions/" + exec + "/nodes/m/subtasks";
  Json g;
  ASSERT_TRUE(WaitFor(
      [&] {
        g = Get(port_, base).json();
        return g.value("phases", "") == "rrrqqqqqqqqq";
      },
      milliseconds(30000)))
      << g.dump();
  EXPECT_EQ(g["live"], true);
  Json d = Get(port_, base + "/1").json();
  EXPECT_EQ(d["phase"], "running");
  EXPECT_EQ(d["attempts"], 1);
  EXPECT_EQ(d["live"], true);
  cluster_->dir().WriteFile("grid-gate", "");
  ASSERT_EQ(cluster_->Fanout("watch", exec, "-o", "json").exit_code, 0);
}

TEST_F(HttpApiTest, ASubtaskShowsItsAttemptsErrorAndLogTail) {
  std::string exec = RunToEnd(10);
  ASSERT_FALSE(exec.empty());
  Got got = Get(port_, "/api/v1/executions/" + exec + "/nodes/m/subtasks/5");
  ASSERT_EQ(got.status, 200) << got.body;
  Json d = got.json();
  EXPECT_EQ(d["phase"], "failed");
  EXPECT_EQ(d["attempts"], 1);
  EXPECT_NE(d["error"].get<std::string>().find("exit code 1"), std::string::npos) << d.dump();
  EXPECT_EQ(d["log"]["found"], true);
  EXPECT_NE(d["log"]["tail"].get<std::string>().find("bad 5"), std::string::npos) << d.dump();
  Json log = Get(port_, "/api/v1/executions/" + exec + "/nodes/m/subtasks/5/log?attempt=0").json();
  EXPECT_EQ(log, ParseJsonOrNull(cluster_->Fanout("logs", exec, "m", "5", "--attempt", "0", "-o", "json").out));
}

TEST_F(HttpApiTest, ErrorsAreJsonWithAStatusThatSaysWhose) {
  std::string exec = RunToEnd(3);
  Got none = Get(port_, "/api/v1/executions/no-such-execution");
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(none.json()["error"], "no execution 'no-such-execution'");
  Got node = Get(port_, "/api/v1/executions/" + exec + "/nodes/zz/subtasks");
  EXPECT_EQ(node.status, 404) << node.body;
  Got range = Get(port_, "/api/v1/executions/" + exec + "/nodes/m/subtasks/3");
  EXPECT_EQ(range.status, 400) << range.body;
  EXPECT_EQ(range.json()["error"], "index 3 is out of range: node 'm' has 3 subtask(s)");
  EXPECT_EQ(Get(port_, "/api/v1/executions/" + exec + "/nodes/m/subtasks?offset=-1").status, 400);
  EXPECT_EQ(Get(port_, "/api/v1/executions/" + exec + "/nodes/m/subtasks?phase=done").status, 400);
  Got unknown = Get(port_, "/api/v2/nothing");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_TRUE(unknown.json().contains("error")) << unknown.body;
}

TEST_F(HttpApiTest, HealthzAndReadyzAnswer) {
  Got h = Get(port_, "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "ok\n");
  Got r = Get(port_, "/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ready\n");
}

TEST_F(HttpApiTest, ThePageIsServedWholeWithoutExternalResources) {
  Got page = Get(port_, "/");
  ASSERT_EQ(page.status, 200);
  // The grid is drawn on canvases the script makes, one per map node.
  EXPECT_NE(page.body.find("getContext(\"2d\")"), std::string::npos);
  EXPECT_NE(page.body.find("/api/v1/executions"), std::string::npos);
  EXPECT_EQ(page.body.find("http://"), std::string::npos);  // no CDN, no external script
  EXPECT_EQ(page.body.find("https://"), std::string::npos);
}

TEST_F(HttpApiTest, MetricsCountTheRunAndPassPromtool) {
  double before = Sample(Get(port_, "/metrics").body, R"(fanout_attempts_total{outcome="user_error"})");
  std::string exec = RunToEnd(20);
  ASSERT_FALSE(exec.empty());
  std::string text;
  // The snapshot behind /metrics is at most a second old.
  ASSERT_TRUE(WaitFor(
      [&] {
        text = Get(port_, "/metrics").body;
        return Sample(text, R"(fanout_attempts_total{outcome="user_error"})") == before + 4;
      },
      milliseconds(10000)))
      << text;
  EXPECT_EQ(Sample(text, "fanout_ready"), 1);
  EXPECT_EQ(Sample(text, "fanout_redis_connected"), 1);
  EXPECT_EQ(Sample(text, R"(fanout_workers{state="active"})"), 2);
  EXPECT_EQ(Sample(text, R"(fanout_slots{state="used"})") + Sample(text, R"(fanout_slots{state="free"})"), 8);
  EXPECT_GE(Sample(text, "fanout_subtasks_dispatched_total"), 20);
  EXPECT_GT(Sample(text, "fanout_commit_latency_seconds_count"), 0);
  EXPECT_GT(Sample(text, "fanout_attempt_latency_seconds_count"), 0);
  EXPECT_GT(Sample(text, "fanout_loop_turn_seconds_count"), 0);  // the reactor meters its turns
  EXPECT_GT(Sample(text, R"(fanout_redis_request_seconds_count{op="commit"})"), 0);

  if (access("/usr/bin/promtool", X_OK) != 0)
    GTEST_SKIP() << "promtool is not installed (Debian package 'prometheus'): the text was checked above, "
                    "not linted by promtool";
  std::string file = cluster_->dir().WriteFile("scrape.txt", text);
  RunResult lint = fanout::testing::Run({"/bin/sh", "-c", "promtool check metrics < " + file});
  EXPECT_EQ(lint.exit_code, 0) << lint;
  std::cout << "promtool check metrics: exit " << lint.exit_code << (lint.out.empty() ? " (no findings)" : "\n" + lint.out)
            << lint.err << "\n";
}

TEST(HttpBindTest, ABindBeyondLoopbackWithoutATokenIsRefusedWithExitTwo) {
  RunResult r = fanout::testing::Run({BinDir() + "/fanout-coordinator", "--http-bind", "0.0.0.0:0", "--redis", "127.0.0.1:1"},
                    {{"FANOUT_HTTP_TOKEN", ""}});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("--http-bind 0.0.0.0:0 is reachable beyond this host: give a bearer token"),
            std::string::npos)
      << r;
}

TEST(HttpBindTest, ASecondCoordinatorCannotBindAPortTheFirstServesOn) {
  // httplib's default SO_REUSEPORT let both bind and split the connections between them.
  ClusterOptions o;
  o.workers = 0;
  Cluster c(o);
  int port = HttpPort(c);
  ASSERT_GT(port, 0);
  std::string bind = "127.0.0.1:" + std::to_string(port);
  RunResult r = fanout::testing::Run({BinDir() + "/fanout-coordinator", "--http-bind", bind, "--redis", "127.0.0.1:1"},
                                     {}, {}, milliseconds(30000));
  EXPECT_FALSE(r.timed_out) << r;
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("--http-bind: cannot bind " + bind), std::string::npos) << r;
}

TEST(HttpBindTest, ATokenIsAskedOfTheApiButNotOfTheProbes) {
  ClusterOptions o;
  o.workers = 1;
  o.env = {{"FANOUT_HTTP_TOKEN", "s3cret-token"}};
  Cluster c(o);
  int port = HttpPort(c);
  ASSERT_GT(port, 0);
  Got anonymous = Get(port, "/api/v1/workers");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(Get(port, "/api/v1/workers", "wrong").status, 401);
  EXPECT_EQ(Get(port, "/api/v1/workers", "s3cret-token").status, 200);
  EXPECT_EQ(Get(port, "/metrics").status, 401);
  EXPECT_EQ(Get(port, "/healthz").status, 200);
  EXPECT_EQ(Get(port, "/").status, 200);
}

}  // namespace
}  // namespace fanout::testing
