#include "cli/exit_code.h"

#include <gtest/gtest.h>

namespace fanout::cli {
namespace {

TEST(CliExitCodeTest, MapsStatusCodes) {
  EXPECT_EQ(ExitCodeFor(Status::Ok()), 0);
  EXPECT_EQ(ExitCodeFor(InvalidArgument("bad spec")), 2);
  EXPECT_EQ(ExitCodeFor(NotFound("no such execution")), 2);
  EXPECT_EQ(ExitCodeFor(Unavailable("no answer")), 3);
  EXPECT_EQ(ExitCodeFor(Status(Code::kAborted, "interrupted")), 130);
  EXPECT_EQ(ExitCodeFor(Internal("bug")), 1);
  EXPECT_EQ(ExitCodeFor(FailedPrecondition("fenced")), 1);
}

TEST(CliExitCodeTest, MapsExecutionPhases) {
  EXPECT_EQ(ExitCodeForPhase("SUCCEEDED"), 0);
  EXPECT_EQ(ExitCodeForPhase("FAILED"), 1);
  EXPECT_EQ(ExitCodeForPhase("ABORTED"), 1);
  EXPECT_TRUE(IsTerminalPhase("ABORTED"));
  EXPECT_FALSE(IsTerminalPhase("RUNNING"));
  EXPECT_FALSE(IsTerminalPhase("QUEUED"));
}

}  // namespace
}  // namespace fanout::cli
