// Tests of the multi-host harness itself: the deploy files read as systemd reads them, the
// namespaces really partition, everything is removed afterwards, and a worker started from
// deploy/systemd joins a coordinator on another host (the check docs/deploy-workers.md gives).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "tests/multihost/deploy_files.h"
#include "tests/multihost/multihost_cluster.h"
#include "tests/multihost/netns.h"

namespace fanout::testing::multihost {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

std::string Systemd(const std::string& name) { return SourceDir() + "/deploy/systemd/" + name; }

// ---- deploy files ------------------------------------------------------------------------

TEST(DeployFilesTest, TheExampleEnvFileParsesWithTheDocumentedPorts) {
  auto env = ParseEnvFile(ReadFile(Systemd("fanout.env.example")), "fanout.env.example");
  ASSERT_TRUE(env.has_value()) << env.error().ToString();
  std::string scheme, host;
  int port = 0;
  ASSERT_TRUE(SplitEndpoint(Lookup(*env, "FANOUT_BIND"), &scheme, &host, &port));
  EXPECT_EQ(port, 7800);
  ASSERT_TRUE(SplitEndpoint(Lookup(*env, "FANOUT_EVENTS_BIND"), &scheme, &host, &port));
  EXPECT_EQ(port, 7801);
  ASSERT_TRUE(SplitEndpoint(Lookup(*env, "FANOUT_COORDINATOR"), &scheme, &host, &port));
  EXPECT_EQ(scheme, "tcp");
  EXPECT_EQ(port, 7800);
  // One file serves every worker instance: an id in it would be shared by all of them.
  EXPECT_EQ(Lookup(*env, "FANOUT_ID"), "");
}

TEST(DeployFilesTest, AnEnvFileWithACommentAfterAValueIsRefused) {
  // systemd would give the worker FANOUT_SLOTS="4   # per core", which it cannot parse.
  auto env = ParseEnvFile("# fine\nFANOUT_LOG_LEVEL=info\nFANOUT_SLOTS=4   # per core\n", "f.env");
  ASSERT_FALSE(env.has_value());
  EXPECT_NE(env.error().message().find("f.env:3"), std::string::npos) << env.error().ToString();
}

TEST(DeployFilesTest, AnEnvFileKeepsQuotedValuesWholeAndSkipsComments) {
  auto env = ParseEnvFile("; a comment\n  # another\nA=\"x y\"\nB = 'z'\nC=\n", "f.env");
  ASSERT_TRUE(env.has_value()) << env.error().ToString();
  EXPECT_EQ(*env, (EnvList{{"A", "x y"}, {"B", "z"}, {"C", ""}}));
}

TEST(DeployFilesTest, TheWorkerUnitGivesEachInstanceOnEachHostItsOwnId) {
  auto unit = ParseUnit(ReadFile(Systemd("fanout-worker@.service")), "fanout-worker@.service",
                        "2", "vm7");
  ASSERT_TRUE(unit.has_value()) << unit.error().ToString();
  EXPECT_EQ(Lookup(unit->environment, "FANOUT_ID"), "vm7-worker-2");
  EXPECT_EQ(unit->environment_files, std::vector<std::string>{"/etc/fanout/fanout.env"});
  ASSERT_FALSE(unit->exec_start.empty());
  EXPECT_EQ(unit->exec_start[0], "/opt/fanout/bin/fanout-worker");
  EXPECT_EQ(unit->working_directory, "/opt/fanout");
}

TEST(DeployFilesTest, AUnitSpecifierThatIsNotSupportedIsRefused) {
  auto unit = ParseUnit("[Service]\nEnvironment=FANOUT_ID=%u\nExecStart=/bin/true\n", "x.service",
                        "1", "h");
  ASSERT_FALSE(unit.has_value());
  EXPECT_NE(unit.error().message().find("%u"), std::string::npos) << unit.error().ToString();
}

// ---- namespaces --------------------------------------------------------------------------

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = NetnsUnavailable()) GTEST_SKIP() << "network namespaces unavailable: " << *why;
    RemoveStaleNamespaces();
  }
};

// A listening TCP socket opened in the calling thread's namespace.
int Listen(const std::string& addr, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, addr.c_str(), &a.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 16) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Whether a TCP connection from the calling thread's namespace to addr:port completes within
// `timeout`.
bool Connects(const std::string& addr, int port, milliseconds timeout) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, addr.c_str(), &a.sin_addr);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (!ok && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      ok = err == 0;
    }
  }
  close(fd);
  return ok;
}

TEST_F(NetnsTest, ACutLinkSilencesAHostAndHealingItRestoresTraffic) {
  Topology topo({"a", "b"}, "10.213.9");
  ASSERT_TRUE(topo.ok());
  int listener = -1;
  {
    NetnsScope in_a(topo.Namespace(0));
    ASSERT_TRUE(in_a.ok());
    listener = Listen(topo.Address(0), 7800);
  }
  ASSERT_GE(listener, 0);
  NetnsScope in_b(topo.Namespace(1));
  ASSERT_TRUE(in_b.ok());
  EXPECT_TRUE(WaitFor([&] { return Connects(topo.Address(0), 7800, milliseconds(1000)); },
                      milliseconds(10000)))
      << "b cannot reach a over the bridge";
  ASSERT_TRUE(topo.SetLink(1, false));
  EXPECT_FALSE(topo.LinkUp(1));
  // A cut drops packets: the connection neither completes nor is refused.
  EXPECT_FALSE(Connects(topo.Address(0), 7800, milliseconds(1500))) << "b reached a across the cut";
  ASSERT_TRUE(topo.SetLink(1, true));
  EXPECT_TRUE(topo.LinkUp(1));
  EXPECT_TRUE(WaitFor([&] { return Connects(topo.Address(0), 7800, milliseconds(1000)); },
                      milliseconds(10000)))
      << "b cannot reach a after the heal";
  close(listener);
}

TEST_F(NetnsTest, NamespacesAndWhatRunsInsideAreGoneAfterTheTopology) {
  std::vector<std::string> names;
  int orphan = 0;
  {
    Topology topo({"a", "b"}, "10.213.9");
    ASSERT_TRUE(topo.ok());
    for (size_t i = 0; i < topo.size(); ++i) names.push_back(topo.Namespace(i));
    NetnsScope in_b(topo.Namespace(1));
    // A background process whose parent exits at once: an orphan nobody holds a PID of but
    // the namespace (as a command left behind by a killed worker).
    RunResult r = fanout::testing::Run({"/bin/sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"});
    ASSERT_EQ(r.exit_code, 0) << r;
    orphan = std::atoi(r.out.c_str());
    ASSERT_GT(orphan, 0);
    EXPECT_EQ(PidsInNamespace(topo.Namespace(1)), std::vector<int>{orphan});
  }
  for (const auto& ns : names) EXPECT_FALSE(fs::exists("/run/netns/" + ns)) << ns;
  EXPECT_TRUE(WaitFor([&] { return !fs::exists("/proc/" + std::to_string(orphan) + "/ns/net"); },
                      milliseconds(10000)))
      << "the orphan " << orphan << " survived its namespace";
}

TEST_F(NetnsTest, StaleNamespacesOfAGoneTestAreRemoved) {
  // A PID that no longer exists: a child that has been reaped.
  RunResult r = fanout::testing::Run({"/bin/sh", "-c", "echo $$"});
  int dead = std::atoi(r.out.c_str());
  ASSERT_GT(dead, 0);
  ASSERT_TRUE(WaitFor([&] { return !fs::exists("/proc/" + std::to_string(dead)); },
                      milliseconds(5000)));
  const std::string stale = "fo-mh-" + std::to_string(dead) + "-0-x";
  ASSERT_EQ(fanout::testing::Run({IpBinary(), "netns", "add", stale}).exit_code, 0);
  EXPECT_GE(RemoveStaleNamespaces(), 1);
  EXPECT_FALSE(fs::exists("/run/netns/" + stale));
  if (fs::exists("/run/netns/" + stale)) fanout::testing::Run({IpBinary(), "netns", "del", stale});
}

// ---- the deploy files, exercised ---------------------------------------------------------

TEST_F(NetnsTest, AWorkerStartedFromTheUnitAndEnvFileJoinsACoordinatorOnAnotherHost) {
  MultiHostOptions o;
  o.worker_hosts = 2;
  o.slots = 2;
  MultiHostCluster c(o);
  ASSERT_TRUE(c.ok());
  // `fanout workers`, as docs/deploy-workers.md says to check: both joined under the ids their
  // unit gives them (%H-worker-%i) from hosts other than the coordinator's.
  auto listed = c.Workers();
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(listed->contains("w1-worker-1")) << c.Fanout({"workers"}).out;
  EXPECT_TRUE(listed->contains("w2-worker-1")) << c.Fanout({"workers"}).out;
  // And work crosses the bridge: a map runs to the end with the right outputs.
  std::string spec = c.base().dir().WriteFile("m.yaml", MapSpec("echo $(({{inputs.x}} * 3))", 12));
  RunResult run = c.Fanout({"run", spec, "-o", "json"}, milliseconds(120000));
  ASSERT_EQ(run.exit_code, 0) << run;
  auto doc = nlohmann::json::parse(run.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << run.out;
  nlohmann::json expected = nlohmann::json::array();
  for (int i = 0; i < 12; ++i) expected.push_back(3 * i);
  EXPECT_EQ(doc["outputs"]["o0"], expected);
}

}  // namespace
}  // namespace fanout::testing::multihost
