// The allow-listed environment of command tasks (worker/task_env.h).
#include <gtest/gtest.h>

#include <algorithm>

#include "worker/task_env.h"

namespace fanout::worker {
namespace {

const std::vector<std::string> kWorkerEnv = {
    "PATH=/usr/bin:/bin",         "HOME=/home/w",
    "LANG=C.UTF-8",               "LC_ALL=C",
    "TZ=UTC",                     "TMPDIR=/var/tmp",
    "FANOUT_REDIS_PASSWORD=pw",   "FANOUT_CURVE_SECRET_KEY=k",
    "FANOUT_COORDINATOR=tcp://x", "AWS_SECRET_ACCESS_KEY=s",
    "GITHUB_TOKEN=t",             "LD_PRELOAD=/evil.so",
    "SHELL=/bin/bash",            "FANOUT_INDEX=99",
    "FANOUT_PREV_CHECKPOINT_DIR=/old"};

TEST(TaskEnvTest, KeepsOnlyTheAllowListThenSetsTheTaskVariables) {
  auto env = TaskEnv(kWorkerEnv, {}, {{"FANOUT_INDEX", "3"}, {"FANOUT_ATTEMPT", "0"}});
  EXPECT_EQ(env, (std::vector<std::string>{"PATH=/usr/bin:/bin", "HOME=/home/w", "LANG=C.UTF-8",
                                           "LC_ALL=C", "TZ=UTC", "TMPDIR=/var/tmp",
                                           "FANOUT_INDEX=3", "FANOUT_ATTEMPT=0"}));
}

TEST(TaskEnvTest, NeverPassesTheWorkersSecrets) {
  auto env = TaskEnv(kWorkerEnv, {"SHELL"}, {});
  for (const std::string& kv : env) {
    EXPECT_EQ(kv.find("PASSWORD"), std::string::npos) << kv;
    EXPECT_EQ(kv.find("SECRET"), std::string::npos) << kv;
    EXPECT_EQ(kv.find("TOKEN"), std::string::npos) << kv;
    EXPECT_EQ(kv.find("LD_PRELOAD"), std::string::npos) << kv;
  }
  EXPECT_NE(std::find(env.begin(), env.end(), "SHELL=/bin/bash"), env.end());
}

TEST(TaskEnvTest, PassesDeclaredNames) {
  auto env = TaskEnv(kWorkerEnv, {"FANOUT_COORDINATOR", "NOT_SET"}, {});
  EXPECT_NE(std::find(env.begin(), env.end(), "FANOUT_COORDINATOR=tcp://x"), env.end());
  for (const std::string& kv : env) EXPECT_FALSE(kv.starts_with("NOT_SET")) << kv;
}

TEST(TaskEnvTest, GivesADefaultPathWhenTheWorkerHasNone) {
  auto env = TaskEnv({"HOME=/h"}, {}, {});
  EXPECT_EQ(env, (std::vector<std::string>{"HOME=/h", "PATH=/usr/local/bin:/usr/bin:/bin"}));
}

TEST(TaskEnvTest, RefusesToDeclareNamesThatLookLikeSecrets) {
  for (const char* n : {"FANOUT_REDIS_PASSWORD", "MY_API_KEY", "aws_secret_access_key",
                        "GITHUB_TOKEN", "DB_PASSWD", "GOOGLE_APPLICATION_CREDENTIALS"}) {
    Status st = CheckDeclaredTaskEnv({"HOME", n});
    EXPECT_FALSE(st.ok()) << n;
    EXPECT_NE(st.message().find(n), std::string::npos) << st.message();
  }
  EXPECT_TRUE(CheckDeclaredTaskEnv({"FANOUT_TEST_RUN", "PYTHONPATH", "LD_LIBRARY_PATH"}).ok());
}

TEST(TaskEnvTest, RefusesMalformedNames) {
  EXPECT_FALSE(CheckDeclaredTaskEnv({"A=B"}).ok());
  EXPECT_FALSE(CheckDeclaredTaskEnv({"1ABC"}).ok());
  EXPECT_FALSE(CheckDeclaredTaskEnv({""}).ok());
}

}  // namespace
}  // namespace fanout::worker
