// How `fanout local` splits the machine's cores between its workers' command slots
// (cli/local_cluster.h, WorkerCommandSlots): one command per core in total.
#include <gtest/gtest.h>

#include "cli/local_cluster.h"

namespace fanout::cli {
namespace {

int Sum(int cores, int workers) {
  int sum = 0;
  for (int k = 0; k < workers; ++k) sum += WorkerCommandSlots(cores, workers, k);
  return sum;
}

TEST(WorkerCommandSlotsTest, OneWorkerPerCoreGetsOneCommandSlotEach) {
  for (int k = 0; k < 16; ++k) EXPECT_EQ(WorkerCommandSlots(16, 16, k), 1) << k;
  EXPECT_EQ(WorkerCommandSlots(2, 2, 0), 1);
  EXPECT_EQ(WorkerCommandSlots(2, 2, 1), 1);
}

TEST(WorkerCommandSlotsTest, TheSharesAddUpToTheCores) {
  for (int cores = 1; cores <= 64; ++cores) {
    for (int workers = 1; workers <= cores; ++workers) {
      EXPECT_EQ(Sum(cores, workers), cores) << cores << " cores, " << workers << " workers";
    }
  }
}

TEST(WorkerCommandSlotsTest, SharesDifferByAtMostOneFirstWorkersFirst) {
  EXPECT_EQ(WorkerCommandSlots(4, 3, 0), 2);
  EXPECT_EQ(WorkerCommandSlots(4, 3, 1), 1);
  EXPECT_EQ(WorkerCommandSlots(4, 3, 2), 1);
  EXPECT_EQ(WorkerCommandSlots(8, 1, 0), 8);
}

TEST(WorkerCommandSlotsTest, MoreWorkersThanCoresStillGetOneEach) {
  for (int k = 0; k < 5; ++k) EXPECT_EQ(WorkerCommandSlots(2, 5, k), 1) << k;
}

}  // namespace
}  // namespace fanout::cli
