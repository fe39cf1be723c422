// Writes the seed inputs of the fuzz targets: valid examples of what each decoder receives in
// normal use (one message of every kind, values of every type, JSON inputs, the example
// specs), so the fuzzers start from real inputs. `make fuzz` runs it before fuzzing; the
// output is deterministic and committed in fuzz/seeds/TARGET/.
//
// Usage: fuzz_make_seeds SOURCE_DIR   (writes SOURCE_DIR/fuzz/seeds/{wire,codec,json,spec}/)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/codec.h"
#include "common/wire.h"

namespace fanout::fuzz {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <typename T>
std::string Message(wire::Kind kind, const T& body) {
  return wire::Header(kind) + wire::EncodeBody(body);
}

void WireSeeds(const fs::path& dir) {
  using wire::Kind;
  wire::SubtaskKey key{"01hx3k9c8a7b", "totals", 7, 1};
  wire::Hello hello;
  hello.worker_id = "host-1234-ab12";
  hello.slots = 8;
  hello.functions = {"builtin.noop", "detect_anomalies"};
  hello.labels = {"gpu"};
  hello.cpu = 2;
  hello.mem_bytes = int64_t{4} << 30;
  hello.running = {key};
  hello.pid = 1234;
  hello.host = "host";
  hello.held = {key};
  Write(dir, "seed-hello", Message(Kind::kHello, hello));

  wire::ResultBatch results;
  wire::ResultItem ok;
  ok.key = key;
  ok.outputs = EncodeMsgpack(Value(List{Value(true), Value(3.5)}));
  ok.started_ms = 1700000000000;
  ok.ended_ms = 1700000000042;
  ok.has_checkpoint = true;
  ok.checkpoint = "ckpt";
  ok.log = "line 1\nline 2\n";
  wire::ResultItem failed;
  failed.key = key;
  failed.key.index = 8;
  failed.outcome = static_cast<uint8_t>(wire::Outcome::kUserError);
  failed.error = "exit code 1";
  results.results = {ok, failed};
  Write(dir, "seed-result", Message(Kind::kResult, results));

  wire::Heartbeat hb{"host-1234-ab12", 3, 1, false};
  Write(dir, "seed-heartbeat", Message(Kind::kHeartbeat, hb));
  hb.draining = true;
  Write(dir, "seed-bye", Message(Kind::kBye, hb));
  Write(dir, "seed-reconnect", Message(Kind::kReconnect, wire::Heartbeat{}));
  Write(dir, "seed-checkpoint", Message(Kind::kCheckpoint, wire::CheckpointSave{key, "state"}));

  wire::WorkBatch work;
  work.exec = key.exec;
  work.node = key.node;
  work.task.name = "multi_input_task";
  work.task.kind = static_cast<uint8_t>(wire::TaskKind::kCommand);
  work.task.command = {"python3", "examples/tasks/multi_input.py", "{{inputs.quantity}}"};
  work.task.inputs = {{"quantity", "int"}, {"price", "float"}, {"tags", "list<str>"}};
  work.task.outputs = {{"o0", "float"}};
  work.task.timeout_ms = 30000;
  work.task.checkpoint_interval_ms = 1000;
  wire::WorkItem item;
  item.index = 7;
  item.attempt = 1;
  item.args = EncodeMsgpack(Value(List{Value(3), Value(9.99), Value(List{Value("a")})}));
  item.has_checkpoint = true;
  item.checkpoint = "previous";
  work.items = {item, item};
  work.items[1].index = 8;
  work.items[1].has_checkpoint = false;
  work.items[1].checkpoint.clear();
  Write(dir, "seed-work", Message(Kind::kWork, work));

  wire::AckBatch acks{{key, key}};
  Write(dir, "seed-ack", Message(Kind::kAck, acks));
  Write(dir, "seed-abort", Message(Kind::kAbort, acks));
  Write(dir, "seed-welcome", Message(Kind::kWelcome, wire::Welcome{42, 1000}));

  wire::SubmitRequest submit;
  submit.rid = 1;
  submit.spec_name = "map_tasks.yaml";
  submit.spec_text = "version: 1\ntasks: {t: {function: builtin.noop, inputs: {x: int}}}\n";
  submit.workflow = "wf";
  submit.inputs_json = R"({"data": [1, 2, 3]})";
  Write(dir, "seed-submit", Message(Kind::kSubmit, submit));
  const Kind kQueries[] = {Kind::kStatus, Kind::kOutputs, Kind::kList, Kind::kWorkers,
                           Kind::kHealth, Kind::kAbortExec, Kind::kRecover};
  for (Kind k : kQueries)
    Write(dir, std::string("seed-") + wire::KindName(k), Message(k, wire::QueryRequest{2, key.exec}));
  Write(dir, "seed-cache-clear", Message(Kind::kCacheClear, wire::CacheClearRequest{3, "t", "0.1"}));
  Write(dir, "seed-logs", Message(Kind::kLogs, wire::LogsRequest{4, key.exec, "totals", 7, -1}));
  Write(dir, "seed-reply", Message(Kind::kReply, wire::Reply{5, 0, "", R"({"execution": "x"})"}));
  Write(dir, "seed-progress", Message(Kind::kProgress, wire::ProgressEvent{R"({"phase": "RUNNING"})"}));
}

void CodecSeeds(const fs::path& dir) {
  std::vector<std::pair<std::string, Value>> values = {
      {"none", Value()},
      {"bool", Value(true)},
      {"ints", Value(List{Value(0), Value(-1), Value(-33), Value(127), Value(200), Value(-200),
                          Value(70000), Value(-70000), Value(int64_t{1} << 40),
                          Value(-(int64_t{1} << 40))})},
      {"float", Value(6.0)},
      {"str", Value("hello")},
      {"str8", Value(std::string(40, 's'))},
      {"bytes", Value(Bytes{std::string("\x00\x01\xff", 3)})},
      {"list", Value(List{Value(10), Value(12), Value(11), Value(10), Value(13), Value(12),
                          Value(100), Value(11), Value(12), Value(10), Value(1), Value(2),
                          Value(3), Value(4), Value(5), Value(6), Value(7)})},
      {"map", Value(Map{{"o0", Value(List{Value(true), Value()})},
                        {"nested", Value(Map{{"k", Value(1.5)}})}})},
      {"args", Value(List{Value(3), Value(9.99), Value(List{Value("a"), Value("b")})})},
  };
  Value deep = Value(1);
  for (int i = 0; i < 10; ++i) deep = Value(List{std::move(deep)});
  values.emplace_back("deep", deep);
  for (const auto& [name, v] : values) Write(dir, "seed-" + name, EncodeMsgpack(v));
  // Forms EncodeMsgpack never writes but other msgpack writers (Python's) do.
  Write(dir, "seed-float32", std::string("\xca\x40\x49\x0f\xdb", 5));
  Write(dir, "seed-array16", std::string("\xdc\x00\x02\x01\x02", 5));
  Write(dir, "seed-str-as-bin8", std::string("\xc4\x02hi", 4));
}

void JsonSeeds(const fs::path& dir) {
  const std::pair<const char*, const char*> kSeeds[] = {
      {"int", "int\n42"},
      {"list-int", "list<int>\n[10, 12, 11, 10, 13, 12, 100, 11, 12, 10]"},
      {"float", "float\n6.0"},
      {"float-from-int", "list<float>\n[1, 2.5, -3e2]"},
      {"map-optional", "map<optional<float>>\n{\"a\": null, \"b\": 1.5}"},
      {"bytes", "bytes\n{\"$bytes\": \"AAEC/w==\"}"},
      {"json", "json\n{\"k\": [1, \"two\", 3.5, null, true, {\"n\": {}}]}"},
      {"optional-list", "optional<list<str>>\nnull"},
      {"nested-lists", "list<list<int>>\n[[1, 2], [3], []]"},
      {"str-escapes", "str\n\"h\\u00e9llo\\n\\\"q\\\"\""},
      {"inputs-object", "{\"data\": [1, 2, 3], \"s\": 6.0, \"name\": \"x\"}"},
      {"big-int", "int\n9223372036854775807"},
  };
  for (const auto& [name, text] : kSeeds) Write(dir, std::string("seed-") + name, text);
}

void SpecSeeds(const fs::path& dir, const fs::path& source) {
  for (const auto& e : fs::directory_iterator(source / "examples")) {
    if (e.path().extension() != ".yaml") continue;
    std::ifstream in(e.path(), std::ios::binary);
    Write(dir, "seed-example-" + e.path().stem().string(),
          std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
  }
  Write(dir, "seed-inputs-comment", R"(version: 1
tasks:
  double:
    function: double
    inputs: {x: int}
    outputs: {o0: int}
  sum:
    command: [python3, sum.py, "{{inputs.xs}}"]
    inputs: {xs: "list<optional<int>>", scale: float}
    outputs: {o0: float}
    retries: 2
    timeout: 30s
    cache: {version: "1", serialize: true, ignore_inputs: [scale]}
    requests: {cpu: 1, mem: 256Mi}
workflows:
  wf:
    inputs:
      xs: {type: "list<int>", default: [1, 2, 3]}
      s: float
    nodes:
      - id: d
        map: double
        inputs: {x: $inputs.xs}
        concurrency: 2
        min_success_ratio: 0.5
      - id: total
        task: sum
        inputs: {xs: $d.o0, scale: $inputs.s}
    outputs: {o0: $total.o0, doubled: $d.o0}
#inputs: {"xs": [4, 5], "s": 1.5}
)");
  Write(dir, "seed-aliases", R"(version: 1
tasks:
  a: {function: a, outputs: {o0: int}, requests: &req {cpu: 2, mem: 1Gi}}
  b: {function: b, inputs: {v: json}, outputs: {o0: int}, requests: *req}
workflows:
  wf:
    inputs:
      j: {type: json, default: {base: &base [1, 2, 3], again: *base}}
    nodes: [{id: x, task: a}, {id: y, task: b, inputs: {v: $inputs.j}}]
)");
  Write(dir, "seed-json-spec",
        R"({"version": 1, "tasks": {"t": {"function": "builtin.noop", "inputs": {"x": "int"},)"
        R"( "outputs": {"o0": "int"}}}, "workflows": {"w": {"inputs": {"xs": "list<int>"},)"
        R"( "nodes": [{"id": "m", "map": "t", "inputs": {"x": "$inputs.xs"},)"
        R"( "min_successes": 1, "overrides": {"requests": {"mem": "2Gi"}}}],)"
        R"( "outputs": {"o0": "$m.o0"}}}}
#inputs: {"xs": [1]})");
}

}  // namespace
}  // namespace fanout::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SOURCE_DIR\n", argv[0]);
    return 2;
  }
  namespace fs = std::filesystem;
  fs::path source(argv[1]);
  fs::path seeds = source / "fuzz" / "seeds";
  fanout::fuzz::WireSeeds(seeds / "wire");
  fanout::fuzz::CodecSeeds(seeds / "codec");
  fanout::fuzz::JsonSeeds(seeds / "json");
  fanout::fuzz::SpecSeeds(seeds / "spec", source);
  std::printf("fuzz_make_seeds: wrote %s\n", seeds.c_str());
  return 0;
}
