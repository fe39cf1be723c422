// CurveZMQ key files and the precedence by which peers find their keys (common/curve_keys.h).
#include "common/curve_keys.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace fanout {
namespace {

namespace fs = std::filesystem;

class CurveKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fanout-keys-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    unsetenv("FANOUT_SERVER_KEY");
    unsetenv("FANOUT_KEY");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    unsetenv("FANOUT_SERVER_KEY");
    unsetenv("FANOUT_KEY");
  }
  mode_t ModeOf(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 0777;
  }
  std::string dir_;
};

TEST_F(CurveKeysTest, AWrittenPairLoadsBackWithAPrivateSecretFile) {
  auto pair = GenerateCurveKeyPair();
  ASSERT_TRUE(pair.has_value());
  ASSERT_TRUE(WriteCurveKeyPair(dir_ + "/k", "alice", *pair).ok());
  EXPECT_EQ(ModeOf(dir_ + "/k"), 0700u);
  EXPECT_EQ(ModeOf(dir_ + "/k/alice.key"), 0600u);
  auto loaded = LoadSecretKey(dir_ + "/k/alice.key");
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
  EXPECT_EQ(loaded->public_z85, pair->public_z85);
  EXPECT_EQ(loaded->secret_z85, pair->secret_z85);
  auto pub = LoadPublicKey(dir_ + "/k/alice.pub");
  ASSERT_TRUE(pub.has_value());
  EXPECT_EQ(*pub, pair->public_z85);
}

TEST_F(CurveKeysTest, AnExistingPairIsNeverOverwritten) {
  auto a = GenerateCurveKeyPair();
  auto b = GenerateCurveKeyPair();
  ASSERT_TRUE(WriteCurveKeyPair(dir_, "n", *a).ok());
  Status s = WriteCurveKeyPair(dir_, "n", *b);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_EQ(LoadSecretKey(dir_ + "/n.key")->secret_z85, a->secret_z85);
}

TEST_F(CurveKeysTest, ASecretFileReadableByOthersIsRefused) {
  auto a = GenerateCurveKeyPair();
  ASSERT_TRUE(WriteCurveKeyPair(dir_, "n", *a).ok());
  chmod((dir_ + "/n.key").c_str(), 0644);
  auto loaded = LoadSecretKey(dir_ + "/n.key");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_NE(loaded.error().message().find("chmod 600"), std::string::npos) << loaded.error().message();
}

TEST_F(CurveKeysTest, AllowListNamesEachKeyByItsFile) {
  auto a = GenerateCurveKeyPair();
  auto b = GenerateCurveKeyPair();
  ASSERT_TRUE(WriteCurveKeyPair(dir_ + "/clients", "alice", *a).ok());
  ASSERT_TRUE(WriteCurveKeyPair(dir_ + "/clients", "bob", *b).ok());
  auto list = LoadAllowList(dir_ + "/clients");
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 2u);  // the .key files are not listed
  EXPECT_EQ(list->at(a->public_z85), "alice");
  EXPECT_EQ(list->at(b->public_z85), "bob");
}

TEST_F(CurveKeysTest, LocalKeysAreMadeOnceAndListed) {
  ASSERT_TRUE(EnsureLocalKeys(dir_ + "/keys").ok());
  auto server = LoadServerKeys(dir_ + "/keys");
  ASSERT_TRUE(server.has_value()) << server.error().message();
  auto client = LoadSecretKey(dir_ + "/keys/client.key");
  auto worker = LoadSecretKey(dir_ + "/keys/worker.key");
  ASSERT_TRUE(client && worker);
  EXPECT_EQ(server->clients.at(client->public_z85), "local");
  EXPECT_EQ(server->workers.at(worker->public_z85), "local");
  EXPECT_EQ(server->clients.count(worker->public_z85), 0u);
  EXPECT_EQ(ModeOf(dir_ + "/keys"), 0700u);
  // A second call keeps every pair.
  ASSERT_TRUE(EnsureLocalKeys(dir_ + "/keys").ok());
  EXPECT_EQ(LoadSecretKey(dir_ + "/keys/server.key")->secret_z85, server->server.secret_z85);
  EXPECT_EQ(LoadSecretKey(dir_ + "/keys/client.key")->secret_z85, client->secret_z85);
}

TEST_F(CurveKeysTest, PeersTakeFlagsThenEnvironmentThenTheHomeFiles) {
  ASSERT_TRUE(EnsureLocalKeys(dir_ + "/home/keys").ok());
  auto other_server = GenerateCurveKeyPair();
  auto other_own = GenerateCurveKeyPair();
  auto env_server = GenerateCurveKeyPair();
  ASSERT_TRUE(WriteCurveKeyPair(dir_, "mine", *other_own).ok());

  auto from_home = ResolvePeerKeys("", "", "worker", dir_ + "/home");
  ASSERT_TRUE(from_home.has_value() && from_home->has_value());
  EXPECT_EQ((*from_home)->server_public_z85, *LoadPublicKey(dir_ + "/home/keys/server.pub"));
  EXPECT_EQ((*from_home)->own.secret_z85, LoadSecretKey(dir_ + "/home/keys/worker.key")->secret_z85);

  setenv("FANOUT_SERVER_KEY", env_server->public_z85.c_str(), 1);
  setenv("FANOUT_KEY", (dir_ + "/mine.key").c_str(), 1);
  auto from_env = ResolvePeerKeys("", "", "worker", dir_ + "/home");
  ASSERT_TRUE(from_env.has_value() && from_env->has_value());
  EXPECT_EQ((*from_env)->server_public_z85, env_server->public_z85);
  EXPECT_EQ((*from_env)->own.public_z85, other_own->public_z85);

  auto from_flags = ResolvePeerKeys(other_server->public_z85, dir_ + "/home/keys/client.key", "worker", dir_ + "/home");
  ASSERT_TRUE(from_flags.has_value() && from_flags->has_value());
  EXPECT_EQ((*from_flags)->server_public_z85, other_server->public_z85);
  EXPECT_EQ((*from_flags)->own.secret_z85, LoadSecretKey(dir_ + "/home/keys/client.key")->secret_z85);
}

TEST_F(CurveKeysTest, NoServerKeyAnywhereMeansPlainZeroMq) {
  auto none = ResolvePeerKeys("", "", "client", dir_ + "/empty-home");
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
}

TEST_F(CurveKeysTest, AServerKeyWithoutAnOwnKeyIsAnError) {
  auto server = GenerateCurveKeyPair();
  auto r = ResolvePeerKeys(server->public_z85, "", "client", dir_ + "/empty-home");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("client key"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace fanout
