// Where the coordinator puts its progress event socket by default.
#include "coordinator/events.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

TEST(DefaultEventsEndpointTest, IsTheBindHostWithAFreePort) {
  EXPECT_EQ(DefaultEventsEndpoint("tcp://127.0.0.1:7800"), "tcp://127.0.0.1:*");
  EXPECT_EQ(DefaultEventsEndpoint("tcp://0.0.0.0:7800"), "tcp://0.0.0.0:*");
  EXPECT_EQ(DefaultEventsEndpoint("tcp://*:7800"), "tcp://*:*");
}

TEST(DefaultEventsEndpointTest, OtherTransportsGetASiblingName) {
  EXPECT_EQ(DefaultEventsEndpoint("ipc:///run/fanout.sock"), "ipc:///run/fanout.sock-events");
}

}  // namespace
}  // namespace fanout
