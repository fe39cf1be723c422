// A CoordinatorCore driven by hand: FakeStore, FakeClock and an Outbox that records what was
// sent, with helpers to play clients and workers. No process, no socket, no sleep.
#pragma once

// g++ 12 reports -Wmaybe-uninitialized inside std::vector when a Result<std::vector<...>> is
// moved from in a callback (a known false positive of std::expected at -O2).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/codec.h"
#include "common/wire.h"
#include "coordinator/core.h"
#include "coordinator/fake_store.h"

namespace fanout::testing {

class RecordingOutbox : public Outbox {
 public:
  struct Message {
    std::string identity;
    wire::Kind kind;
    std::string body;
  };
  void Send(const std::string& identity, wire::Kind kind, std::string body) override {
    sent.push_back({identity, kind, std::move(body)});
  }
  // Removes and returns the bodies of the messages of `kind` sent to `identity`.
  template <typename T>
  std::vector<T> Take(const std::string& identity, wire::Kind kind) {
    std::vector<T> out;
    for (auto it = sent.begin(); it != sent.end();) {
      if (it->identity == identity && it->kind == kind) {
        auto body = wire::DecodeBody<T>(it->body);
        EXPECT_TRUE(body.has_value());
        if (body) out.push_back(std::move(*body));
        it = sent.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }
  size_t Count(const std::string& identity, wire::Kind kind) const {
    size_t n = 0;
    for (const auto& m : sent) n += m.identity == identity && m.kind == kind;
    return n;
  }
  std::vector<Message> sent;
};

// A map workflow `w` over `xs` (default 0..n-1) of a function task `t` (x: int → o0: int).
inline std::string FunctionMapSpec(int n, const std::string& task_extra = "", const std::string& node_extra = "") {
  std::string xs = "[";
  for (int i = 0; i < n; ++i) xs += (i ? "," : "") + std::to_string(i);
  xs += "]";
  return "version: 1\ntasks:\n  t:\n    function: f\n    inputs: {x: int}\n    outputs: {o0: int}\n" + task_extra +
         "workflows:\n  w:\n    inputs:\n      xs: {type: \"list<int>\", default: " + xs +
         "}\n    nodes:\n      - id: m\n        map: t\n        inputs: {x: $inputs.xs}\n" + node_extra +
         "    outputs: {o0: $m.o0}\n";
}

class CoreHarness {
 public:
  explicit CoreHarness(FakeClock& clock, std::shared_ptr<FakeStoreState> state = nullptr, CoreOptions options = {})
      : clock_(clock), store_(clock, std::move(state)) {
    core_ = std::make_unique<CoordinatorCore>(
        store_, out_, clock, options,
        CoordinatorCore::Hooks{[] {}, [this] { fenced_ = true; }, [this](const Execution& e) { ended_.push_back(e.id); },
                               [] { return ClientApi::Health{true, 0, 0, 0}; },
                               [this](std::function<void()> work, std::function<void()> done) {
                                 if (!offload) return work(), done();
                                 offload(std::move(work), std::move(done));
                               }});
    store_.TakeEpoch([](Result<int64_t>) {});
    store_.RunPending();
  }

  // Restores the snapshot in the store (a restarted coordinator) and settles.
  void Restore() {
    auto snapshot = std::make_shared<std::vector<StoredExecution>>();
    store_.LoadActive([snapshot](Result<std::vector<StoredExecution>> s) {
      if (s.has_value()) snapshot->swap(s.value());
    });
    store_.RunPending();
    core_->Restore(*snapshot);
    Settle();
  }

  // Runs store replies and end-of-turn work until nothing is left to do.
  void Settle() {
    for (int i = 0; i < 1000; ++i) {
      core_->EndOfTurn();
      if (store_.RunPending() == 0 && store_.pending() == 0) {
        core_->EndOfTurn();
        if (store_.pending() == 0) return;
      }
    }
    ADD_FAILURE() << "the core did not settle";
  }

  // Where the core parses submissions (ClientApi::Offload); null: at once.
  ClientApi::Offload offload;

  nlohmann::json Request(wire::Kind kind, const std::string& body) {
    core_->OnMessage("client", kind, body);
    Settle();
    auto replies = out_.Take<wire::Reply>("client", wire::Kind::kReply);
    EXPECT_EQ(replies.size(), 1u);
    if (replies.empty()) return nullptr;
    EXPECT_EQ(replies[0].code, 0) << replies[0].error;
    last_error_ = replies[0].error;
    return replies[0].json.empty() ? nlohmann::json() : nlohmann::json::parse(replies[0].json);
  }
  std::string Submit(const std::string& yaml, const std::string& workflow = "w") {
    wire::SubmitRequest req;
    req.rid = 1;
    req.spec_name = "test.yaml";
    req.spec_text = yaml;
    req.workflow = workflow;
    nlohmann::json r = Request(wire::Kind::kSubmit, wire::EncodeBody(req));
    return r.is_object() ? r.value("execution", "") : "";
  }
  ExecutionStatus Status(const std::string& exec) {
    nlohmann::json j = Request(wire::Kind::kStatus, wire::EncodeBody(wire::QueryRequest{2, exec}));
    auto s = ExecutionStatus::FromJson(j);
    EXPECT_TRUE(s.has_value());
    return s.value_or(ExecutionStatus{});
  }

  // A worker that reports its starts (Hello::reports_started): it gets work beyond its slots.
  void HelloReportingStarts(const std::string& identity, uint32_t slots) {
    Hello(identity, slots, {}, 0, "", true);
  }
  void Started(const std::string& identity, const std::vector<wire::SubtaskKey>& keys) {
    for (const auto& k : keys) {
      wire::StartedBatch b{k.exec, k.node, {k.index}, {k.attempt}};
      core_->OnMessage(identity, wire::Kind::kStarted, wire::EncodeBody(b));
    }
    Settle();
  }
  void Hello(const std::string& identity, uint32_t slots, std::vector<wire::SubtaskKey> running = {},
             uint32_t command_slots = 0, const std::string& worker_id = "", bool reports_started = false) {
    wire::Hello h;
    h.reports_started = reports_started;
    h.worker_id = worker_id.empty() ? identity : worker_id;
    h.slots = slots;
    h.command_slots = command_slots;
    h.functions = {"f"};
    h.cpu = 8;
    h.mem_bytes = int64_t{16} << 30;
    h.running = std::move(running);
    core_->OnMessage(identity, wire::Kind::kHello, wire::EncodeBody(h));
    Settle();
  }
  void Heartbeat(const std::string& identity) {
    core_->OnMessage(identity, wire::Kind::kHeartbeat, wire::EncodeBody(wire::Heartbeat{identity, 0, 0, false}));
  }
  // `seconds` heartbeat ticks of 1 s on the clock, with worker `identity` heartbeating each
  // one (so it stays alive while the rest's liveness, grace and deadlines run out).
  void HeartbeatSeconds(const std::string& identity, int seconds) {
    for (int i = 0; i < seconds; ++i) {
      clock_.Advance(1000);
      Heartbeat(identity);
      core_->Tick();
      Settle();
    }
  }
  // Every WORK item sent to `identity` since the last call, as subtask keys.
  std::vector<wire::SubtaskKey> Work(const std::string& identity) {
    std::vector<wire::SubtaskKey> out;
    for (const wire::WorkBatch& b : out_.Take<wire::WorkBatch>(identity, wire::Kind::kWork))
      for (const wire::WorkItem& i : b.items) out.push_back({b.exec, b.node, i.index, i.attempt});
    return out;
  }
  std::vector<wire::SubtaskKey> Acks(const std::string& identity) {
    std::vector<wire::SubtaskKey> out;
    for (auto& a : out_.Take<wire::AckBatch>(identity, wire::Kind::kAck))
      out.insert(out.end(), a.keys.begin(), a.keys.end());
    return out;
  }
  // Sends results without settling (the caller decides when the store answers).
  void SendResult(const std::string& identity, const wire::SubtaskKey& k, wire::Outcome outcome,
                  int64_t value = 0, const std::string& error = "") {
    wire::ResultItem r;
    r.key = k;
    r.outcome = static_cast<uint8_t>(outcome);
    if (outcome == wire::Outcome::kSucceeded) r.outputs = EncodeMsgpack(Value(List{Value(value)}));
    r.error = error;
    core_->OnMessage(identity, wire::Kind::kResult, wire::EncodeBody(wire::ResultBatch{{r}}));
  }
  void Succeed(const std::string& identity, const wire::SubtaskKey& k, int64_t value) {
    SendResult(identity, k, wire::Outcome::kSucceeded, value);
    Settle();
  }

  FakeStore& store() { return store_; }
  RecordingOutbox& out() { return out_; }
  CoordinatorCore& core() { return *core_; }
  bool fenced() const { return fenced_; }
  const std::vector<std::string>& ended() const { return ended_; }

 private:
  FakeClock& clock_;
  FakeStore store_;
  RecordingOutbox out_;
  std::unique_ptr<CoordinatorCore> core_;
  bool fenced_ = false;
  std::vector<std::string> ended_;
  std::string last_error_;
};

}  // namespace fanout::testing
