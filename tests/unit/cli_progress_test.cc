#include "cli/progress.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace fanout::cli {
namespace {

NodeProgress MapNode(int64_t size, int64_t succeeded, int64_t running, int64_t failed) {
  NodeProgress n;
  n.id = "totals";
  n.is_map = true;
  n.phase = "RUNNING";
  n.size = size;
  n.succeeded = succeeded;
  n.running = running;
  n.failed = failed;
  n.queued = size - succeeded - running - failed;
  return n;
}

TEST(CliProgressTest, BarLineShowsDoneCountsRateAndEta) {
  NodeProgress n = MapNode(100, 69, 8, 1);
  std::string line = RenderBarLine(n, 123, 6, 80);
  EXPECT_EQ(line.rfind("totals  [", 0), 0u) << line;
  EXPECT_NE(line.find("]  70/100  running 8  failed 1  cached 0  123/s  ETA 1s"), std::string::npos)
      << line;
  EXPECT_LT(line.size(), 80u);
}

TEST(CliProgressTest, BarFillIsProportionalToDone) {
  NodeProgress n = MapNode(100, 50, 0, 0);
  std::string line = RenderBarLine(n, 0, 6, 80);
  size_t open = line.find('['), close = line.find(']');
  std::string bar = line.substr(open + 1, close - open - 1);
  size_t hashes = std::count(bar.begin(), bar.end(), '#');
  EXPECT_EQ(hashes, bar.size() / 2) << line;  // floor(50% of the cells)
}

TEST(CliProgressTest, TerminalNodeShowsPhaseInsteadOfEta) {
  NodeProgress n = MapNode(10, 10, 0, 0);
  n.phase = "SUCCEEDED";
  std::string line = RenderBarLine(n, 5, 6, 80);
  EXPECT_NE(line.find("[##########"), std::string::npos) << line;
  EXPECT_NE(line.find("10/10"), std::string::npos) << line;
  EXPECT_NE(line.find("SUCCEEDED"), std::string::npos) << line;
  EXPECT_EQ(line.find("ETA"), std::string::npos) << line;
}

TEST(CliProgressTest, PlainLineHasSingleSpaces) {
  NodeProgress n = MapNode(100, 69, 8, 1);
  EXPECT_EQ(RenderPlainLine(n, 2.5), "totals 70/100 running 8 failed 1 cached 0 2.50/s ETA 12s");
}

TEST(CliProgressTest, ANodeThatCannotBePlacedSaysWhyInsteadOfAnEta) {
  NodeProgress n = MapNode(10, 0, 0, 0);
  n.waiting = "no connected worker offers function 'detect_anomalies'";
  EXPECT_EQ(RenderPlainLine(n, 0),
            "totals 0/10 running 0 failed 0 cached 0 waiting: no connected worker offers function "
            "'detect_anomalies'");
  Json status = {{"phase", "RUNNING"}, {"nodes", Json::array({{{"id", "a"}, {"kind", "map"}, {"phase", "RUNNING"},
                                         {"size", 3}, {"waiting", "no workers connected"}}})}};
  EXPECT_EQ(ParseNodes(status).at(0).waiting, "no workers connected");
}

TEST(CliProgressTest, DoneCountsCachedOnlyWhenCountedApartFromSucceeded) {
  NodeProgress subset = MapNode(10, 4, 0, 0);  // 2 of the 4 succeeded were cache hits
  subset.cached = 2;
  EXPECT_EQ(subset.Done(), 4);
  NodeProgress apart = MapNode(10, 4, 0, 0);  // 2 cache hits counted beside 4 succeeded
  apart.queued -= 2;
  apart.cached = 2;
  EXPECT_EQ(apart.Done(), 6);
}

TEST(CliProgressTest, RateUsesTheSlidingWindow) {
  RateTracker r(10'000);
  EXPECT_EQ(r.Rate(), 0);
  r.Add(0, 0);
  r.Add(1000, 50);
  EXPECT_DOUBLE_EQ(r.Rate(), 50);
  r.Add(20'000, 50);  // stalled: the old samples leave the window
  r.Add(21'000, 50);
  EXPECT_DOUBLE_EQ(r.Rate(), 0);
}

TEST(CliProgressTest, EtaFormats) {
  EXPECT_EQ(FormatEta(30, 0), "ETA -");
  EXPECT_EQ(FormatEta(0, 0), "ETA 0s");
  EXPECT_EQ(FormatEta(30, 10), "ETA 3s");
  EXPECT_EQ(FormatEta(650, 10), "ETA 1m05s");
}

TEST(CliProgressTest, ParseNodesReadsTheStatusDocument) {
  Json status = Json::parse(R"({"phase": "RUNNING", "nodes": [
    {"id": "price", "kind": "task", "phase": "SUCCEEDED", "size": 1, "counts": {"succeeded": 1}},
    {"id": "totals", "kind": "map", "phase": "RUNNING", "size": 5,
     "counts": {"queued": 1, "running": 2, "succeeded": 1, "failed": 1}}]})");
  std::vector<NodeProgress> nodes = ParseNodes(status);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_FALSE(nodes[0].is_map);
  EXPECT_TRUE(nodes[1].is_map);
  EXPECT_EQ(nodes[1].Done(), 2);
  EXPECT_EQ(nodes[1].running, 2);
}

TEST(CliProgressTest, PlainProgressPrintsAtMostEveryInterval) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  Progress p(f, /*tty=*/false, 2000);
  Json status = Json::parse(R"({"phase": "RUNNING", "nodes": [{"id": "m", "kind": "map", "phase": "RUNNING",
    "size": 2, "counts": {"running": 2}}]})");
  p.Update(status, 0);
  p.Update(status, 1000);  // too soon
  p.Update(status, 2500);
  p.Finish(status, 2600);
  std::fclose(f);
  std::string out(buf, len);
  free(buf);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 3) << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
}

TEST(CliProgressTest, PlainProgressPrintsATaskNodesPhaseOnlyWhenItChanges) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  Progress p(f, /*tty=*/false, 1000);
  auto status = [](const char* price) {
    return Json::parse(std::string(R"({"phase": "RUNNING", "nodes": [{"id": "price", "kind": "task", "phase": ")") +
                       price + R"(", "size": 1, "counts": {}}, {"id": "m", "kind": "map", "phase": "RUNNING",
      "size": 2, "counts": {"running": 2}}]})");
  };
  p.Update(status("RUNNING"), 0);
  p.Update(status("SUCCEEDED"), 1500);
  p.Update(status("SUCCEEDED"), 3000);
  p.Finish(status("SUCCEEDED"), 3100);
  std::fclose(f);
  std::string out(buf, len);
  free(buf);
  size_t succeeded = 0;
  for (size_t at = out.find("price SUCCEEDED"); at != std::string::npos; at = out.find("price SUCCEEDED", at + 1))
    ++succeeded;
  EXPECT_EQ(succeeded, 1u) << out;
  EXPECT_NE(out.find("price RUNNING"), std::string::npos) << out;
}

TEST(CliProgressTest, TtyProgressRedrawsInPlace) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  Progress p(f, /*tty=*/true);
  Json status = Json::parse(R"({"phase": "RUNNING", "nodes": [{"id": "m", "kind": "map", "phase": "RUNNING",
    "size": 2, "counts": {"running": 2}}, {"id": "t", "kind": "task", "phase": "PENDING",
    "size": 1, "counts": {}}]})");
  p.Update(status, 0);
  p.Update(status, 200);
  std::fclose(f);
  std::string out(buf, len);
  free(buf);
  EXPECT_NE(out.find("\x1b[2A"), std::string::npos) << out;  // cursor up over the 2 lines
}

}  // namespace
}  // namespace fanout::cli
