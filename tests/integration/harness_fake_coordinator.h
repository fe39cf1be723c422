// A fake coordinator for tests of the worker daemon as a process: the test plays the
// coordinator's side of DESIGN §5 on a real ZeroMQ ROUTER bound on loopback, starts a real
// fanout-worker against it, and exchanges HELLO/WELCOME, WORK → RESULT, ACK, ABORT, heartbeats.
// Self-contained: it needs no Redis. Used by worker_process_test.cc and
// worker_checkpoint_test.cc, whose fixtures derive from FakeCoordinatorTest.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/value.h"
#include "common/wire.h"
#include "tests/integration/harness.h"

namespace fanout::testing {

using Clock = std::chrono::steady_clock;

// One message from the worker: its ROUTER identity, kind and body.
struct Msg {
  std::string identity;
  wire::Kind kind{};
  std::string body;
};

// A task running the function `fn` (a builtin or a plugin function).
wire::TaskDesc Builtin(std::string fn, std::vector<wire::Param> inputs,
                       std::vector<wire::Param> outputs = {{"o0", "int"}});

// A command task.
wire::TaskDesc Command(std::vector<std::string> argv, std::vector<wire::Param> inputs,
                       std::vector<wire::Param> outputs, int64_t timeout_ms = 0);

// A WORK item without a checkpoint.
wire::WorkItem Item(uint32_t index, uint32_t attempt, std::string args);

// Encoded arguments of an item.
std::string Args(List values);

// The decoded outputs of a result (empty, with a failed expectation, when not a list).
List Outputs(const wire::ResultItem& r);

// The fixture: a ROUTER bound on tcp://127.0.0.1:* and a scratch dir under the temp dir, named
// `scratch_prefix` + the test's pid; TearDown kills the worker and removes the scratch dir.
class FakeCoordinatorTest : public ::testing::Test {
 protected:
  explicit FakeCoordinatorTest(std::string scratch_prefix)
      : scratch_prefix_(std::move(scratch_prefix)) {}

  void SetUp() override;
  void TearDown() override;

  // (Re)creates the ROUTER bound on `endpoint`; endpoint_ is the address it got.
  void Bind(const std::string& endpoint);

  // Starts fanout-worker against our ROUTER; it dies with the test (PR_SET_PDEATHSIG).
  void StartWorker(std::vector<std::string> extra = {});

  // Receives one message within the timeout. Heartbeats are answered (the coordinator's half of
  // the heartbeat) unless answer_heartbeats_ is false; HELLO is answered with WELCOME when
  // auto_welcome_ is set.
  std::optional<Msg> Recv(milliseconds timeout);

  // Receives until a message of `kind` that satisfies `pred` arrives, within the deadline.
  std::optional<Msg> WaitFor(wire::Kind kind, milliseconds timeout,
                             std::function<bool(const Msg&)> pred = nullptr);

  // Receives until a heartbeat whose body satisfies `pred` arrives, within the deadline.
  bool WaitHeartbeat(milliseconds timeout, const std::function<bool(const wire::Heartbeat&)>& pred);
  // Keeps receiving (and answering) the worker until `cond` holds or the timeout passes.
  bool PumpUntil(const std::function<bool()>& cond, milliseconds timeout);

  // Collects results until `n` distinct keys arrived.
  std::vector<wire::ResultItem> CollectResults(size_t n, milliseconds timeout);

  void Send(wire::Kind kind, const std::string& body);

  // Starts the worker and completes HELLO/WELCOME; returns the HELLO.
  wire::Hello Handshake(std::vector<std::string> extra = {});

  void SendWork(const wire::TaskDesc& task, std::vector<wire::WorkItem> items,
                std::string exec = "e1", std::string node = "n1");

  // Runs one command item and returns its result.
  wire::ResultItem RunOne(const wire::TaskDesc& task, List args, uint32_t index = 0,
                          uint32_t attempt = 0, milliseconds timeout = milliseconds(10000));

  // Waits for the worker to exit; returns its wait status.
  std::optional<int> WaitExit(milliseconds timeout);

  std::string scratch_prefix_;
  zmq::context_t ctx_{1};
  zmq::socket_t router_;
  std::string endpoint_;
  std::string identity_;
  std::filesystem::path scratch_;
  pid_t pid_ = -1;
  bool answer_heartbeats_ = true;
  bool auto_welcome_ = true;
  bool forgot_worker_ = false;  // answer heartbeats with RECONNECT until the next HELLO
};

}  // namespace fanout::testing
