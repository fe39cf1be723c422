// The wire protocol (common/wire.h).
#include "common/wire.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <random>
#include <string>


namespace fanout::wire {
namespace {

std::string Raw(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// Decodes what was encoded and checks that re-encoding gives the same bytes: every field
// survived (msgpack encoding of these structs is deterministic).
template <typename T>
T RoundTrip(const T& in) {
  std::string enc = EncodeBody(in);
  auto out = DecodeBody<T>(enc);
  EXPECT_TRUE(out.has_value()) << out.error().ToString();
  if (!out) return T{};
  EXPECT_EQ(EncodeBody(*out), enc);
  return *out;
}

SubtaskKey Key(uint32_t index, uint32_t attempt) {
  return SubtaskKey{"exec-1", "node_a", index, attempt};
}

TaskDesc SampleTask() {
  TaskDesc t;
  t.name = "multi_input_task";
  t.kind = static_cast<uint8_t>(TaskKind::kCommand);
  t.command = {"python3", "examples/tasks/multi_input.py", "{{inputs.quantity}}"};
  t.inputs = {{"quantity", "int"}, {"price", "float"}};
  t.outputs = {{"o0", "list<optional<float>>"}};
  t.timeout_ms = 30000;
  return t;
}

TEST(WireTest, RoundTripsSubtaskKey) {
  SubtaskKey k{"e", "n", 4000000000u, 7};
  EXPECT_EQ(RoundTrip(k), k);
}

TEST(WireTest, RoundTripsParam) {
  Param p = RoundTrip(Param{"data", "list<int>"});
  EXPECT_EQ(p.name, "data");
  EXPECT_EQ(p.type, "list<int>");
}

TEST(WireTest, RoundTripsTaskDesc) {
  TaskDesc t = RoundTrip(SampleTask());
  EXPECT_EQ(t.name, "multi_input_task");
  EXPECT_EQ(t.kind, static_cast<uint8_t>(TaskKind::kCommand));
  EXPECT_EQ(t.command.size(), 3u);
  EXPECT_EQ(t.command[2], "{{inputs.quantity}}");
  ASSERT_EQ(t.inputs.size(), 2u);
  EXPECT_EQ(t.inputs[1].type, "float");
  ASSERT_EQ(t.outputs.size(), 1u);
  EXPECT_EQ(t.outputs[0].type, "list<optional<float>>");
  EXPECT_EQ(t.timeout_ms, 30000);
}

TEST(WireTest, RoundTripsWorkItemWithBinaryArgs) {
  WorkItem w{12, 3, std::string("\x92\x01\xc0\x00\xff", 5), false, ""};
  WorkItem out = RoundTrip(w);
  EXPECT_EQ(out.index, 12u);
  EXPECT_EQ(out.attempt, 3u);
  EXPECT_EQ(out.args, w.args);
}

TEST(WireTest, RoundTripsWorkBatch) {
  WorkBatch b;
  b.exec = "e1";
  b.node = "totals";
  b.task = SampleTask();
  for (uint32_t i = 0; i < 50; ++i) b.items.push_back({i, i % 3, std::string(i, 'a'), false, ""});
  WorkBatch out = RoundTrip(b);
  EXPECT_EQ(out.exec, "e1");
  EXPECT_EQ(out.node, "totals");
  EXPECT_EQ(out.task.name, "multi_input_task");
  ASSERT_EQ(out.items.size(), 50u);
  EXPECT_EQ(out.items[49].index, 49u);
  EXPECT_EQ(out.items[49].attempt, 1u);
  EXPECT_EQ(out.items[49].args, std::string(49, 'a'));
}

TEST(WireTest, RoundTripsResultItemAndBatch) {
  ResultItem r;
  r.key = Key(5, 2);
  r.outcome = static_cast<uint8_t>(Outcome::kNonRetryable);
  r.outputs = std::string("\x91\x2a", 2);
  r.error = "exit code 42";
  r.started_ms = 1700000000123;
  r.ended_ms = 1700000000456;
  ResultItem out = RoundTrip(r);
  EXPECT_EQ(out.key, r.key);
  EXPECT_EQ(out.outcome, static_cast<uint8_t>(Outcome::kNonRetryable));
  EXPECT_EQ(out.outputs, r.outputs);
  EXPECT_EQ(out.error, "exit code 42");
  EXPECT_EQ(out.started_ms, 1700000000123);
  EXPECT_EQ(out.ended_ms, 1700000000456);

  ResultBatch batch{{r, r, r}};
  batch.results[1].key.index = 6;
  ResultBatch bout = RoundTrip(batch);
  ASSERT_EQ(bout.results.size(), 3u);
  EXPECT_EQ(bout.results[1].key.index, 6u);
}

TEST(WireTest, RoundTripsAckBatch) {
  AckBatch a{{Key(0, 0), Key(1, 1), Key(99, 4)}};
  AckBatch out = RoundTrip(a);
  ASSERT_EQ(out.keys.size(), 3u);
  EXPECT_EQ(out.keys[2], Key(99, 4));
}

TEST(WireTest, RoundTripsHello) {
  Hello h;
  h.worker_id = "host-123-abcd";
  h.slots = 8;
  h.functions = {"builtin.noop", "detect_anomalies"};
  h.labels = {"gpu", "zone=a"};
  h.cpu = 3.5;
  h.mem_bytes = int64_t{16} << 30;
  h.interruptible = true;
  h.running = {Key(3, 0)};
  h.pid = 4242;
  h.host = "host";
  Hello out = RoundTrip(h);
  EXPECT_EQ(out.worker_id, h.worker_id);
  EXPECT_EQ(out.slots, 8u);
  EXPECT_EQ(out.functions, h.functions);
  EXPECT_EQ(out.labels, h.labels);
  EXPECT_EQ(out.cpu, 3.5);
  EXPECT_EQ(out.mem_bytes, h.mem_bytes);
  EXPECT_TRUE(out.interruptible);
  ASSERT_EQ(out.running.size(), 1u);
  EXPECT_EQ(out.running[0], Key(3, 0));
  EXPECT_EQ(out.pid, 4242);
  EXPECT_EQ(out.host, "host");
}

TEST(WireTest, RoundTripsWelcome) {
  Welcome w = RoundTrip(Welcome{17, 1000});
  EXPECT_EQ(w.epoch, 17);
  EXPECT_EQ(w.heartbeat_ms, 1000);
}

TEST(WireTest, RoundTripsHeartbeat) {
  Heartbeat h = RoundTrip(Heartbeat{"w1", 3, 9, true});
  EXPECT_EQ(h.worker_id, "w1");
  EXPECT_EQ(h.running, 3u);
  EXPECT_EQ(h.held, 9u);
  EXPECT_TRUE(h.draining);
}

TEST(WireTest, RoundTripsSubmitRequest) {
  SubmitRequest s{UINT64_MAX, "wf.yaml", "version: 1\n", "map_workflow", R"({"data":[1,2]})"};
  s.spec_dir = "/home/u/proj";
  SubmitRequest out = RoundTrip(s);
  EXPECT_EQ(out.spec_dir, "/home/u/proj");
  EXPECT_EQ(out.rid, UINT64_MAX);
  EXPECT_EQ(out.spec_name, "wf.yaml");
  EXPECT_EQ(out.spec_text, "version: 1\n");
  EXPECT_EQ(out.workflow, "map_workflow");
  EXPECT_EQ(out.inputs_json, R"({"data":[1,2]})");
}

TEST(WireTest, RoundTripsQueryRequest) {
  QueryRequest q = RoundTrip(QueryRequest{5, "exec-9"});
  EXPECT_EQ(q.rid, 5u);
  EXPECT_EQ(q.exec, "exec-9");
}

TEST(WireTest, RoundTripsReply) {
  Reply r = RoundTrip(Reply{5, static_cast<uint8_t>(Code::kNotFound), "no such execution", "{}"});
  EXPECT_EQ(r.rid, 5u);
  EXPECT_EQ(r.code, static_cast<uint8_t>(Code::kNotFound));
  EXPECT_EQ(r.error, "no such execution");
  EXPECT_EQ(r.json, "{}");
}

TEST(WireTest, DecodeRejectsEmptyBody) {
  auto r = DecodeBody<Heartbeat>("");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
}

TEST(WireTest, DecodeRejectsTrailingBytes) {
  std::string enc = EncodeBody(Welcome{1, 2}) + "x";
  auto r = DecodeBody<Welcome>(enc);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("trailing"), std::string::npos);
}

TEST(WireTest, DecodeRejectsEveryTruncation) {
  WorkBatch b;
  b.exec = "e";
  b.node = "n";
  b.task = SampleTask();
  b.items = {{1, 0, "\x91\x01", false, ""}, {2, 0, "\x91\x02", false, ""}};
  std::string enc = EncodeBody(b);
  for (size_t n = 0; n < enc.size(); ++n)
    EXPECT_FALSE(DecodeBody<WorkBatch>(std::string_view(enc).substr(0, n)).has_value()) << n;
}

TEST(WireTest, DecodeRejectsAScalarWhereAStructIsExpected) {
  EXPECT_FALSE(DecodeBody<Hello>(Raw({0x01})).has_value());
  EXPECT_FALSE(DecodeBody<Hello>(Raw({0xa3, 'a', 'b', 'c'})).has_value());
  EXPECT_FALSE(DecodeBody<Hello>(Raw({0x80})).has_value());  // a map
}

TEST(WireTest, DecodeRejectsWrongFieldTypes) {
  // QueryRequest{rid: "x", exec: "e"}
  EXPECT_FALSE(DecodeBody<QueryRequest>(Raw({0x92, 0xa1, 'x', 0xa1, 'e'})).has_value());
  // QueryRequest{rid: 1, exec: 2}
  EXPECT_FALSE(DecodeBody<QueryRequest>(Raw({0x92, 0x01, 0x02})).has_value());
}

TEST(WireTest, DecodeRejectsIntegersOutOfTheFieldRange) {
  // Reply.code is uint8: 300 does not fit.
  EXPECT_FALSE(DecodeBody<Reply>(Raw({0x94, 0x01, 0xcd, 0x01, 0x2c, 0xa0, 0xa0})).has_value());
  // SubtaskKey.index is uint32: -1 does not fit.
  EXPECT_FALSE(DecodeBody<SubtaskKey>(Raw({0x94, 0xa1, 'e', 0xa1, 'n', 0xff, 0x00})).has_value());
}

TEST(WireTest, DecodeRejectsNestingDeeperThanTheLimit) {
  std::string deep(40, static_cast<char>(0x91));
  deep.push_back(0x01);
  EXPECT_FALSE(DecodeBody<AckBatch>(deep).has_value());
}

TEST(WireTest, DecodeRejectsBodyLargerThanTheLimitWithoutReadingIt) {
  // Reserve, never touch, an address range one byte over the limit.
  size_t len = kMaxBodyBytes + 1;
  void* p = mmap(nullptr, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  auto r = DecodeBody<Heartbeat>(std::string_view(static_cast<const char*>(p), len));
  munmap(p, len);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("too large"), std::string::npos);
}

template <typename T>
void DecodeGarbage(uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 3000; ++i) {
    std::string s(1 + rng() % 48, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    // Bias towards array headers so that decoding gets past the first byte.
    if (i % 2 == 0) s[0] = static_cast<char>(0x90 | (rng() % 8));
    auto r = DecodeBody<T>(s);
    if (!r) {
      EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    }
  }
}

TEST(WireTest, GarbageBodiesOfEveryKindReturnErrorsNotCrashes) {
  DecodeGarbage<Hello>(1);
  DecodeGarbage<Welcome>(2);
  DecodeGarbage<Heartbeat>(3);
  DecodeGarbage<WorkBatch>(4);
  DecodeGarbage<ResultBatch>(5);
  DecodeGarbage<AckBatch>(6);
  DecodeGarbage<SubmitRequest>(7);
  DecodeGarbage<QueryRequest>(8);
  DecodeGarbage<Reply>(9);
}

TEST(WireTest, MutatedValidBodiesReturnErrorsOrValuesNotCrashes) {
  ResultBatch b;
  for (uint32_t i = 0; i < 5; ++i)
    b.results.push_back(ResultItem{Key(i, 0), 0, "\x91\x01", "", 1, 2, false, "", ""});
  std::string enc = EncodeBody(b);
  std::mt19937_64 rng(77);
  for (int i = 0; i < 5000; ++i) {
    std::string m = enc;
    for (int k = 0; k < 3; ++k) m[rng() % m.size()] = static_cast<char>(rng());
    auto r = DecodeBody<ResultBatch>(m);
    if (r) {
      EXPECT_LE(r->results.size(), m.size());
    }
  }
}

TEST(WireTest, HeaderRoundTripsEveryKind) {
  for (Kind k : {Kind::kHello, Kind::kResult, Kind::kHeartbeat, Kind::kBye, Kind::kWork,
                 Kind::kAck, Kind::kAbort, Kind::kWelcome, Kind::kReconnect, Kind::kSubmit,
                 Kind::kStatus, Kind::kOutputs, Kind::kList, Kind::kWorkers, Kind::kHealth,
                 Kind::kAbortExec, Kind::kRecover, Kind::kCacheClear, Kind::kLogs, Kind::kCheckpoint,
                 Kind::kReply, Kind::kProgress}) {
    std::string h = Header(k);
    ASSERT_EQ(h.size(), 2u);
    EXPECT_EQ(static_cast<uint8_t>(h[1]), kWireVersion);
    auto parsed = ParseHeader(h);
    ASSERT_TRUE(parsed.has_value()) << KindName(k) << ": " << parsed.error().ToString();
    EXPECT_EQ(*parsed, k);
    EXPECT_STRNE(KindName(k), "?");
  }
}

TEST(WireTest, ParseHeaderRejectsWrongSizes) {
  EXPECT_FALSE(ParseHeader("").has_value());
  EXPECT_FALSE(ParseHeader(Raw({1})).has_value());
  EXPECT_FALSE(ParseHeader(Raw({1, kWireVersion, 0})).has_value());
}

TEST(WireTest, ParseHeaderRejectsBadVersions) {
  for (int v : {0, 2, 255}) {
    auto r = ParseHeader(Raw({static_cast<int>(Kind::kHello), v}));
    ASSERT_FALSE(r.has_value()) << v;
    EXPECT_NE(r.error().message().find("version"), std::string::npos);
  }
}

TEST(WireTest, ParseHeaderRejectsUnknownKinds) {
  for (int k : {0, 6, 9, 15, 19, 32, 128, 255}) {
    auto r = ParseHeader(Raw({k, kWireVersion}));
    ASSERT_FALSE(r.has_value()) << k;
    EXPECT_NE(r.error().message().find("kind"), std::string::npos);
  }
}

TEST(WireTest, ClassifiesWorkerAndClientKinds) {
  for (Kind k : {Kind::kHello, Kind::kResult, Kind::kHeartbeat, Kind::kBye, Kind::kCheckpoint,
                 Kind::kStarted}) {
    EXPECT_TRUE(IsWorkerKind(k)) << KindName(k);
    EXPECT_FALSE(IsClientKind(k)) << KindName(k);
  }
  for (Kind k : {Kind::kSubmit, Kind::kStatus, Kind::kOutputs, Kind::kList, Kind::kWorkers,
                 Kind::kHealth, Kind::kAbortExec, Kind::kRecover, Kind::kCacheClear, Kind::kLogs}) {
    EXPECT_TRUE(IsClientKind(k)) << KindName(k);
    EXPECT_FALSE(IsWorkerKind(k)) << KindName(k);
  }
  for (Kind k : {Kind::kWork, Kind::kAck, Kind::kAbort, Kind::kWelcome, Kind::kReconnect,
                 Kind::kReply, Kind::kProgress}) {
    EXPECT_FALSE(IsClientKind(k)) << KindName(k);
    EXPECT_FALSE(IsWorkerKind(k)) << KindName(k);
  }
}

TEST(WireTest, StartedBatchRoundTrips) {
  StartedBatch b{"e1", "n", {3, 9}, {0, 2}};
  auto back = DecodeBody<StartedBatch>(EncodeBody(b));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(back->exec, "e1");
  EXPECT_EQ(back->indices, (std::vector<uint32_t>{3, 9}));
  EXPECT_EQ(back->attempts, (std::vector<uint32_t>{0, 2}));
  auto parsed = ParseHeader(Header(Kind::kStarted));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, Kind::kStarted);
}

TEST(WireTest, AHelloFromBeforeReportsStartedDecodesAsNotReporting) {
  // The twelve fields of a HELLO before reports_started.
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(12);
  pk.pack(std::string("w1"));
  pk.pack(uint32_t{4});
  pk.pack(std::vector<std::string>{"f"});
  pk.pack(std::vector<std::string>{});
  pk.pack(2.0);
  pk.pack(int64_t{1} << 30);
  pk.pack(false);
  pk.pack(std::vector<SubtaskKey>{});
  pk.pack(int64_t{42});
  pk.pack(std::string("host"));
  pk.pack(std::vector<SubtaskKey>{});
  pk.pack(uint32_t{1});
  auto h = DecodeBody<Hello>(std::string_view(buf.data(), buf.size()));
  ASSERT_TRUE(h.has_value()) << h.error().ToString();
  EXPECT_EQ(h->slots, 4u);
  EXPECT_EQ(h->command_slots, 1u);
  EXPECT_FALSE(h->reports_started);
  Hello now;
  now.reports_started = true;
  auto back = DecodeBody<Hello>(EncodeBody(now));
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->reports_started);
}

TEST(WireTest, LogsRequestAndTheLogOfAResultRoundTrip) {
  LogsRequest req{7, "e1", "n", 3, -1};
  auto back = DecodeBody<LogsRequest>(EncodeBody(req));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(back->node, "n");
  EXPECT_EQ(back->index, 3u);
  EXPECT_EQ(back->attempt, -1);
  ResultItem r;
  r.log = "line 1\nline 2\n";
  auto rb = DecodeBody<ResultItem>(EncodeBody(r));
  ASSERT_TRUE(rb.has_value());
  EXPECT_EQ(rb->log, r.log);
}

TEST(WireTest, ProgressEventRoundTrips) {
  ProgressEvent ev{R"({"execution":"e1","phase":"RUNNING"})"};
  auto back = DecodeBody<ProgressEvent>(EncodeBody(ev));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(back->json, ev.json);
}

}  // namespace
}  // namespace fanout::wire
