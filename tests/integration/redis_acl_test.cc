// The coordinator's least Redis privileges (docs/security.md): a real redis-server with the ACL
// user of deploy/redis-acl.txt, a coordinator that authenticates as that user from a password
// file, and the coordinator's whole round: submit, results, cache hits, logs, cache clear.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

std::string AclRules() {
  std::ifstream in(SourceDir() + "/deploy/redis-acl.txt");
  std::string rules;
  std::getline(in, rules);
  return rules;
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::string word;
  for (char c : s) {
    if (c == ' ') {
      if (!word.empty()) out.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) out.push_back(word);
  return out;
}

constexpr char kPassword[] = "acl-test-password-0123456789abcdef";

class RedisAclTest : public ::testing::Test {
 protected:
  void SetUp() override {
    password_file_ = secrets_.WriteFile("redis.pass", std::string(kPassword) + "\n");
    ClusterOptions o;
    o.start = false;
    o.workers = 1;
    o.coordinator_args = {"--redis-user", "fanout", "--redis-password-file", password_file_};
    cluster_ = std::make_unique<Cluster>(o);
    std::string rules = AclRules();
    ASSERT_FALSE(rules.empty()) << "deploy/redis-acl.txt is empty";
    std::vector<std::string> argv = {"ACL", "SETUSER", "fanout", "reset", "on", std::string(">") + kPassword};
    for (std::string& r : Split(rules)) argv.push_back(std::move(r));
    ASSERT_EQ(cluster_->redis().Command(argv), "OK");
    // Nothing may work as the default user from here on: the coordinator must use its own.
    ASSERT_EQ(cluster_->redis().Command({"ACL", "SETUSER", "default", "off"}), "OK");
  }

  // redis-cli as the ACL user; the password goes through the environment, not argv.
  std::string AsFanout(std::vector<std::string> command) {
    std::vector<std::string> argv = {"redis-cli", "-p", std::to_string(cluster_->redis().Port()), "--user", "fanout"};
    argv.insert(argv.end(), command.begin(), command.end());
    RunResult r = fanout::testing::Run(argv, {{"REDISCLI_AUTH", kPassword}});
    return r.out + r.err;
  }

  TempDir secrets_{"fanout-acl-secrets"};
  std::string password_file_;
  std::unique_ptr<Cluster> cluster_;
};

TEST_F(RedisAclTest, TheUserReachesOnlyFanoutKeysAndNoDangerousCommand) {
  EXPECT_NE(AsFanout({"SET", "fo:acl-probe", "1"}).find("OK"), std::string::npos);
  EXPECT_NE(AsFanout({"SET", "other-app:key", "1"}).find("NOPERM"), std::string::npos);
  EXPECT_NE(AsFanout({"FLUSHALL"}).find("NOPERM"), std::string::npos);
  EXPECT_NE(AsFanout({"CONFIG", "GET", "dir"}).find("NOPERM"), std::string::npos);
  EXPECT_NE(AsFanout({"KEYS", "*"}).find("NOPERM"), std::string::npos);
}

TEST_F(RedisAclTest, TheCoordinatorRunsCachesAndClearsAsTheLeastPrivilegedUser) {
  ASSERT_TRUE(cluster_->StartCoordinator());
  cluster_->AddWorker();
  ASSERT_TRUE(cluster_->WaitForWorkers(1, std::chrono::milliseconds(30000)));
  std::string spec = cluster_->dir().WriteFile("acl.yaml", MapSpec("echo log-{{inputs.x}} >&2; expr {{inputs.x}} \\* 2", 4,
                                                                   "    cache: {enabled: true, version: \"1\"}\n"));
  RunResult first = cluster_->Fanout("run", spec, "-i", "xs=[1,2,3,4]", "-o", "json");
  ASSERT_EQ(first.exit_code, 0) << first;
  RunResult second = cluster_->Fanout("run", spec, "-i", "xs=[1,2,3,4]", "-o", "json");
  ASSERT_EQ(second.exit_code, 0) << second;
  nlohmann::json out = nlohmann::json::parse(second.out);
  EXPECT_EQ(out["outputs"]["o0"], nlohmann::json::parse("[2,4,6,8]")) << second.out;
  nlohmann::json status = cluster_->Status(out["execution"].get<std::string>());
  EXPECT_EQ(status["nodes"][0]["counts"]["cached"], 4) << status.dump();
  RunResult logs = cluster_->Fanout("logs", nlohmann::json::parse(first.out)["execution"].get<std::string>(), "m", "2");
  EXPECT_EQ(logs.exit_code, 0) << logs;
  RunResult clear = cluster_->Fanout("cache", "clear", "-o", "json");
  ASSERT_EQ(clear.exit_code, 0) << clear;
  EXPECT_EQ(nlohmann::json::parse(clear.out)["deleted"], 4) << clear.out;
  EXPECT_TRUE(cluster_->coordinator()->Running());
}

}  // namespace
}  // namespace fanout::testing
