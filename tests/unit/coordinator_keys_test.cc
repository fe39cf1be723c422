// The Redis key schema (coordinator/keys.h) and the packed subtask record
// (coordinator/subtask_record.h).
#include <gtest/gtest.h>

#include "coordinator/keys.h"
#include "coordinator/subtask_record.h"

namespace fanout::keys {
namespace {

TEST(KeysTest, PackUnpackRoundTripsEveryFieldRange) {
  for (int phase = 0; phase < 16; ++phase)
    for (int attempt = 0; attempt < 64; attempt += 7)
      for (int sys = 0; sys < 16; sys += 5)
        for (bool cached : {false, true}) {
          SubtaskRecord r{static_cast<uint8_t>(phase), static_cast<uint8_t>(attempt),
                          static_cast<uint8_t>(sys), cached};
          SubtaskRecord back = UnpackRecord(PackRecord(r));
          ASSERT_EQ(back.phase, r.phase);
          ASSERT_EQ(back.attempt, r.attempt);
          ASSERT_EQ(back.system_failures, r.system_failures);
          ASSERT_EQ(back.cached, r.cached);
        }
}

TEST(KeysTest, PackedFieldsDoNotOverlap) {
  EXPECT_EQ(PackRecord({15, 0, 0, false}), 0x000f);
  EXPECT_EQ(PackRecord({0, 63, 0, false}), 0x03f0);
  EXPECT_EQ(PackRecord({0, 0, 15, false}), 0x3c00);
  EXPECT_EQ(PackRecord({0, 0, 0, true}), 0x4000);
  EXPECT_EQ(PackRecord({15, 63, 15, true}), 0x7fff);
}

TEST(KeysTest, PackRecordFitsInItsBitfieldWidth) {
  EXPECT_LT(PackRecord({255, 255, 255, true}), 1u << kRecordBits);
}

TEST(KeysTest, ExecutionKeysCarryTheHashTag) {
  const std::string tag = "{ex42}";
  for (const std::string& k :
       {Exec("ex42"), Phases("ex42", "n"), Outputs("ex42", "n"), Errors("ex42", "n"),
        Checkpoint("ex42", "n", 3), Log("ex42", "n", 3, 1), Events("ex42")}) {
    EXPECT_NE(k.find(tag), std::string::npos) << k;
    EXPECT_EQ(k.rfind("fo:", 0), 0u) << k;
  }
}

TEST(KeysTest, KeyFormatsMatchTheDesign) {
  EXPECT_EQ(Exec("E"), "fo:{E}:spec");
  EXPECT_EQ(Phases("E", "totals"), "fo:{E}:n:totals:ph");
  EXPECT_EQ(Outputs("E", "totals"), "fo:{E}:n:totals:out");
  EXPECT_EQ(Errors("E", "totals"), "fo:{E}:n:totals:err");
  EXPECT_EQ(Checkpoint("E", "totals", 7), "fo:{E}:n:totals:ckpt:7");
  EXPECT_EQ(Log("E", "totals", 7, 2), "fo:{E}:n:totals:log:7:2");
  EXPECT_EQ(Events("E"), "fo:{E}:events");
  EXPECT_EQ(Cache("abc"), "fo:cache:abc");
  EXPECT_EQ(CacheReservation("abc"), "fo:cache:abc:res");
  EXPECT_EQ(NodeField("totals", "phase"), "node:totals:phase");
  EXPECT_EQ(Epoch(), "fo:epoch");
  EXPECT_EQ(Execs(), "fo:execs");
}

TEST(KeysTest, KeysOfDifferentNodesAndIndicesDiffer) {
  EXPECT_NE(Phases("E", "a"), Phases("E", "b"));
  EXPECT_NE(Checkpoint("E", "a", 1), Checkpoint("E", "a", 11));
  EXPECT_NE(Log("E", "a", 1, 11), Log("E", "a", 11, 1));
}

}  // namespace
}  // namespace fanout::keys
