// Checkpoints on the worker: the directory encoding of command checkpoints, its path checks,
// the cap, and the checkpoint side of a plugin call (previous checkpoint, saves, refusal).
#include "worker/checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fanout/task.h>
#include <msgpack.hpp>

#include "common/codec.h"
#include "common/value.h"
#include "worker/function_runner.h"

namespace fanout::worker {
namespace {

namespace fs = std::filesystem;

class CheckpointDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // root_ sits one level inside a directory the test owns, so that a path escaping it
    // ("../x", "a/../../x") lands where the test can look, never in the shared temp dir.
    base_ = fs::temp_directory_path() /
            ("fanout-ckpt-test-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(base_);
    root_ = base_ / "root";
    fs::create_directories(root_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }
  static void Write(const fs::path& p, const std::string& data) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << data;
  }
  static std::string Read(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  // A msgpack map of the given entries, as a malicious or broken checkpoint would be.
  static std::string Map(const std::vector<std::pair<std::string, std::string>>& entries) {
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    pk.pack_map(static_cast<uint32_t>(entries.size()));
    for (const auto& [k, v] : entries) {
      pk.pack(k);
      pk.pack_bin(static_cast<uint32_t>(v.size()));
      pk.pack_bin_body(v.data(), static_cast<uint32_t>(v.size()));
    }
    return std::string(buf.data(), buf.size());
  }
  fs::path base_, root_;
};

TEST_F(CheckpointDirTest, RoundTripsNestedFiles) {
  fs::path src = root_ / "src";
  std::string big(70000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  Write(src / "count", "3");
  Write(src / "a/b/c.bin", std::string("\0\x01\xff", 3));
  Write(src / "a/empty", "");
  Write(src / "big", big);
  fs::create_directories(src / "empty_dir");  // not saved
  fs::create_symlink(src / "count", src / "link");  // not saved

  auto enc = EncodeCheckpointDir(src);
  ASSERT_TRUE(enc.has_value()) << enc.error().message();
  EXPECT_FALSE(CheckpointDirIsEmpty(*enc));

  // A map of '/'-separated relative paths to bytes, sorted.
  msgpack::object_handle oh = msgpack::unpack(enc->data(), enc->size());
  std::map<std::string, std::string> m;
  oh.get().convert(m);
  std::vector<std::string> keys;
  for (const auto& [k, v] : m) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"a/b/c.bin", "a/empty", "big", "count"}));

  fs::path dst = root_ / "dst";
  Status st = DecodeCheckpointDir(*enc, dst);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(Read(dst / "count"), "3");
  EXPECT_EQ(Read(dst / "a/b/c.bin"), std::string("\0\x01\xff", 3));
  EXPECT_TRUE(fs::exists(dst / "a/empty"));
  EXPECT_EQ(Read(dst / "big"), big);
  EXPECT_FALSE(fs::exists(dst / "link"));

  // The same content encodes to the same bytes.
  auto again = EncodeCheckpointDir(dst);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *enc);
}

TEST_F(CheckpointDirTest, EmptyOrMissingDirectoryIsEmpty) {
  auto empty = EncodeCheckpointDir(root_);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(CheckpointDirIsEmpty(*empty));
  fs::create_directories(root_ / "only/dirs");
  auto dirs = EncodeCheckpointDir(root_);
  ASSERT_TRUE(dirs.has_value());
  EXPECT_TRUE(CheckpointDirIsEmpty(*dirs));
  auto missing = EncodeCheckpointDir(root_ / "nope");
  ASSERT_TRUE(missing.has_value());
  EXPECT_TRUE(CheckpointDirIsEmpty(*missing));
}

TEST_F(CheckpointDirTest, DecodeRefusesEscapingPaths) {
  for (const char* bad : {"../x", "/abs", "a/../../x", "a/..", "..", "", "a//b", "./a"}) {
    fs::path dst = root_ / "dst";
    Status st = DecodeCheckpointDir(Map({{"ok", "1"}, {bad, "evil"}}), dst);
    EXPECT_FALSE(st.ok()) << "'" << bad << "' was accepted";
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << bad;
    // Nothing is written when any path is bad.
    EXPECT_FALSE(fs::exists(dst / "ok")) << bad;
  }
  EXPECT_FALSE(fs::exists(root_ / "x"));
  EXPECT_FALSE(fs::exists(root_.parent_path() / "x"));
}

TEST_F(CheckpointDirTest, DecodeRefusesMalformedBytes) {
  EXPECT_FALSE(DecodeCheckpointDir("\xc1garbage", root_ / "d1").ok());
  msgpack::sbuffer arr;
  msgpack::pack(arr, std::vector<int>{1, 2});
  EXPECT_FALSE(DecodeCheckpointDir(std::string(arr.data(), arr.size()), root_ / "d2").ok());
  msgpack::sbuffer intval;
  msgpack::pack(intval, std::map<std::string, int>{{"a", 1}});
  EXPECT_FALSE(DecodeCheckpointDir(std::string(intval.data(), intval.size()), root_ / "d3").ok());
}

TEST_F(CheckpointDirTest, CapIsEnforcedWithTheExactSize) {
  fs::path src = root_ / "src";
  Write(src / "blob", std::string(1000, 'x'));
  auto enc = EncodeCheckpointDir(src);
  ASSERT_TRUE(enc.has_value());
  const size_t n = enc->size();  // 1 (map) + 1+4 ("blob") + 3+1000 (bin16)
  EXPECT_EQ(n, 1009u);
  // At the cap: fine. One byte under: refused, before reading, with the exact size.
  EXPECT_TRUE(EncodeCheckpointDir(src, static_cast<int64_t>(n)).has_value());
  auto over = EncodeCheckpointDir(src, static_cast<int64_t>(n) - 1);
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(over.error().message(), "checkpoint of 1009 bytes exceeds the cap of 1008 bytes");

  EXPECT_TRUE(CheckCheckpointSize(100, 100).ok());
  EXPECT_TRUE(CheckCheckpointSize(1u << 30, 0).ok());
  EXPECT_EQ(CheckCheckpointSize(101, 100).message(),
            "checkpoint of 101 bytes exceeds the cap of 100 bytes");
  EXPECT_EQ(EffectiveCheckpointCap(0, 77), 77);
  EXPECT_EQ(EffectiveCheckpointCap(5, 77), 5);
}

TEST_F(CheckpointDirTest, PrecomputedSizeMatchesTheEncodingForEveryHeaderWidth) {
  // Paths and files across the fixstr/str8/str16 and bin8/bin16/bin32 boundaries, 17 entries
  // (map16).
  fs::path src = root_ / "src";
  std::vector<size_t> sizes = {0, 1, 255, 256, 65535, 65536, 70000};
  int i = 0;
  for (size_t s : sizes) {
    Write(src / std::string(static_cast<size_t>(1 + i * 9), 'p'), std::string(s, 'z'));
    ++i;
  }
  for (int j = 0; j < 10; ++j) Write(src / ("d" + std::to_string(j)) / "f", "v");
  auto enc = EncodeCheckpointDir(src);
  ASSERT_TRUE(enc.has_value());
  EXPECT_TRUE(EncodeCheckpointDir(src, static_cast<int64_t>(enc->size())).has_value());
  EXPECT_FALSE(EncodeCheckpointDir(src, static_cast<int64_t>(enc->size()) - 1).has_value());
}

// ---- the checkpoint side of a plugin call ---------------------------------------------------

int64_t Resume(TaskContext& ctx, int64_t n) {
  int64_t start = 0;
  if (auto p = ctx.previous_checkpoint()) start = std::stoll(*p);
  for (int64_t i = start; i < n; ++i) ctx.checkpoint(std::to_string(i + 1));
  return start;
}

int64_t Oversize(TaskContext& ctx, int64_t n) {
  ctx.checkpoint("small");
  ctx.checkpoint(std::string(static_cast<size_t>(n), 'x'));
  ctx.checkpoint("after");  // ignored: the attempt has failed
  return ctx.cancelled() ? -1 : 1;
}

wire::TaskDesc IntTask() {
  wire::TaskDesc t;
  t.name = "t";
  t.inputs = {{"n", "int"}};
  t.outputs = {{"o0", "int"}};
  return t;
}

TEST(FunctionCheckpointTest, PreviousCheckpointAndEverySaveReachTheHooks) {
  std::string prev = "2";
  std::vector<std::string> saved;
  CheckpointHooks hooks{&prev, 1000, [&](const std::string& b) { saved.push_back(b); }};
  std::atomic<bool> flag{false};
  CallResult r = InvokeFunction(&sdk_detail::Invoke<&Resume>,
                                EncodeMsgpack(Value(List{Value(int64_t{5})})), 1, &flag, hooks);
  TaskOutcome o = ToOutcome(IntTask(), r);
  ASSERT_EQ(o.outcome, wire::Outcome::kSucceeded) << o.error;
  EXPECT_EQ(DecodeMsgpack(o.outputs)->as_list(), List{Value(int64_t{2})});
  EXPECT_EQ(saved, (std::vector<std::string>{"3", "4", "5"}));
  EXPECT_EQ(r.checkpoint, std::optional<std::string>("5"));

  // No previous checkpoint: the function starts from 0.
  CallResult none = InvokeFunction(&sdk_detail::Invoke<&Resume>,
                                   EncodeMsgpack(Value(List{Value(int64_t{1})})), 0, &flag, {});
  EXPECT_EQ(DecodeMsgpack(ToOutcome(IntTask(), none).outputs)->as_list(),
            List{Value(int64_t{0})});
}

TEST(FunctionCheckpointTest, ASaveOverTheCapFailsTheAttempt) {
  std::vector<std::string> saved;
  CheckpointHooks hooks{nullptr, 100, [&](const std::string& b) { saved.push_back(b); }};
  std::atomic<bool> flag{false};
  CallResult r = InvokeFunction(&sdk_detail::Invoke<&Oversize>,
                                EncodeMsgpack(Value(List{Value(int64_t{101})})), 0, &flag, hooks);
  EXPECT_EQ(saved, (std::vector<std::string>{"small"}));
  EXPECT_EQ(r.checkpoint, std::optional<std::string>("small"));  // the last accepted one
  TaskOutcome o = ToOutcome(IntTask(), r);
  EXPECT_EQ(o.outcome, wire::Outcome::kUserError);
  EXPECT_EQ(o.error, "checkpoint of 101 bytes exceeds the cap of 100 bytes");
  // The function saw ctx.cancelled() after the refusal (it returned -1, ignored).
  ASSERT_EQ(r.status, FANOUT_RESULT_OK);
  EXPECT_EQ(DecodeMsgpack(r.data)->as_int(), -1);
}

}  // namespace
}  // namespace fanout::worker
