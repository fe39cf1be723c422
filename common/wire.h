// The wire protocol (DESIGN §5): every message kind and body is defined here and nowhere else.
//
// A message is two ZeroMQ frames after the ROUTER's identity frame:
//   frame 0: two bytes, [kind, kWireVersion]
//   frame 1: msgpack body, an array of the struct's fields in declaration order
// Workers and clients talk to the coordinator's single ROUTER socket with DEALER sockets; the
// kind tells a worker message from a client request. Progress events go out on a second socket,
// an XPUB: frames [EventTopic(exec id)][kProgress header][ProgressEvent body]; a client
// SUBscribes to EventTopic(exec id). The topic ends with a terminator and the coordinator admits
// only such whole-id subscriptions (XPUB_MANUAL), so a prefix ("e", "") receives nothing. Bodies are decoded with
// size and depth limits; a malformed message yields a Status (the receiver logs, counts and
// drops it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <algorithm>

#include <msgpack.hpp>

#include "common/status.h"

namespace fanout::wire {

inline constexpr uint8_t kWireVersion = 1;
inline constexpr size_t kMaxBodyBytes = 256u << 20;
// The log an attempt may leave (ResultItem::log); the worker keeps the end of longer ones.
inline constexpr size_t kMaxLogBytes = 64u << 10;

enum class Kind : uint8_t {
  // worker → coordinator
  kHello = 1,       // Hello: first message, and again after every reconnect
  kResult = 2,      // ResultBatch
  kHeartbeat = 3,   // Heartbeat (both directions)
  kBye = 4,         // Heartbeat body; the worker is leaving after a drain
  kCheckpoint = 5,  // CheckpointSave: a running attempt saved a checkpoint (no reply)
  // coordinator → worker
  kWork = 10,       // WorkBatch: subtasks of one node; consumes one credit (slot) each
  kAck = 11,        // AckBatch: these results are durable; the worker may forget them
  kAbort = 12,      // AckBatch: stop these attempts
  kWelcome = 13,    // Welcome: reply to Hello
  kReconnect = 14,  // Heartbeat body: "I do not know you": the worker must send Hello again
  // client → coordinator (each answered by one kReply)
  kSubmit = 20,     // SubmitRequest
  kStatus = 21,     // QueryRequest{exec}
  kOutputs = 22,    // QueryRequest{exec}
  kList = 23,       // QueryRequest{}
  kWorkers = 24,    // QueryRequest{}
  kHealth = 25,     // QueryRequest{}
  kAbortExec = 26,  // QueryRequest{exec}
  kRecover = 27,    // QueryRequest{exec}: a new execution reusing exec's succeeded subtasks
  kCacheClear = 28, // CacheClearRequest
  kLogs = 29,       // LogsRequest
  // coordinator → client
  kReply = 30,      // Reply
  // coordinator → subscribers, on the event socket
  kProgress = 31,   // ProgressEvent
  // client → coordinator, added later (each answered by one kReply)
  kUpdate = 40,     // UpdateRequest: a running map node's concurrency / success criterion
  // worker → coordinator, added later
  kStarted = 41,    // StartedBatch: these attempts have started (sent before they run)
};

const char* KindName(Kind k);
bool IsWorkerKind(Kind k);

// The event topic of an execution: its id and a terminator byte (kEventTopicEnd), so that no
// execution's topic is a prefix of another's. ExecOfEventTopic: the id, or "" when `topic` is
// not a whole topic (no terminator, or one inside).
inline constexpr char kEventTopicEnd = '\0';
inline std::string EventTopic(std::string_view exec) { return std::string(exec) + kEventTopicEnd; }
inline std::string_view ExecOfEventTopic(std::string_view topic) {
  if (topic.size() < 2 || topic.back() != kEventTopicEnd) return {};
  topic.remove_suffix(1);
  return topic.find(kEventTopicEnd) == std::string_view::npos ? topic : std::string_view();
}
bool IsClientKind(Kind k);

// Identifies one attempt of one subtask.
struct SubtaskKey {
  std::string exec;
  std::string node;
  uint32_t index = 0;
  uint32_t attempt = 0;
  bool operator==(const SubtaskKey&) const = default;
  MSGPACK_DEFINE(exec, node, index, attempt);
};

// A typed parameter of a task: name and type text ("list<int>").
struct Param {
  std::string name;
  std::string type;
  MSGPACK_DEFINE(name, type);
};

enum class TaskKind : uint8_t { kFunction = 0, kCommand = 1 };

// What a worker needs to run a task; sent once per WorkBatch.
struct TaskDesc {
  std::string name;                  // spec task name (logs) ...
  uint8_t kind = 0;                  // TaskKind
  std::string function;              // kFunction: registered function name
  std::vector<std::string> command;  // kCommand: argv, with {{inputs.NAME}} placeholders
  std::vector<Param> inputs;         // declared order; WorkItem::args follows it
  std::vector<Param> outputs;        // declared order; ResultItem::outputs follows it
  int64_t timeout_ms = 0;            // per attempt; 0 = none
  int64_t checkpoint_interval_ms = 0;  // commands: save $FANOUT_CHECKPOINT_DIR this often; 0 = only at the end
  int64_t max_checkpoint_bytes = 0;    // larger checkpoints fail the attempt (user error); 0 = default
  std::string workdir;                 // kCommand: absolute directory to run in; empty = the worker's
  MSGPACK_DEFINE(name, kind, function, command, inputs, outputs, timeout_ms, checkpoint_interval_ms,
                 max_checkpoint_bytes, workdir);
};

struct WorkItem {
  uint32_t index = 0;
  uint32_t attempt = 0;
  std::string args;  // msgpack array of the inputs, in TaskDesc::inputs order
  // The latest checkpoint this subtask saved in any earlier attempt (empty: none). For C++
  // functions the bytes given to ctx.checkpoint(); for commands an encoded directory
  // (EncodeCheckpointDir in worker/).
  bool has_checkpoint = false;
  std::string checkpoint;
  MSGPACK_DEFINE(index, attempt, args, has_checkpoint, checkpoint);
};

struct WorkBatch {
  std::string exec;
  std::string node;
  TaskDesc task;
  std::vector<WorkItem> items;
  MSGPACK_DEFINE(exec, node, task, items);
};

enum class Outcome : uint8_t {
  kSucceeded = 0,
  kUserError = 1,     // retryable within the task's retries
  kNonRetryable = 2,  // exit 42 / fanout::NonRetryable: fail at once
  kSystemError = 3,   // the worker could not run it (shutdown, spawn failure): system budget
  kAborted = 4,       // stopped on the coordinator's ABORT
};

struct ResultItem {
  SubtaskKey key;
  uint8_t outcome = 0;   // Outcome
  std::string outputs;   // kSucceeded: msgpack array in TaskDesc::outputs order
  std::string error;     // otherwise: a one-line message
  int64_t started_ms = 0;
  int64_t ended_ms = 0;
  // The checkpoint saved when the attempt ended (success, failure, timeout, abort, drain),
  // if the task saved one during this attempt.
  bool has_checkpoint = false;
  std::string checkpoint;
  // What the attempt printed, for `fanout logs` (command tasks; at most kMaxLogBytes).
  std::string log;
  MSGPACK_DEFINE(key, outcome, outputs, error, started_ms, ended_ms, has_checkpoint, checkpoint, log);
};

// Sent while an attempt runs: every `checkpoint_interval` for commands, and at once for
// ctx.checkpoint() of C++ functions. The coordinator keeps the latest per subtask.
struct CheckpointSave {
  SubtaskKey key;
  std::string checkpoint;
  MSGPACK_DEFINE(key, checkpoint);
};

struct ResultBatch {
  std::vector<ResultItem> results;
  MSGPACK_DEFINE(results);
};

struct AckBatch {
  std::vector<SubtaskKey> keys;
  MSGPACK_DEFINE(keys);
};

// What a worker knows about one function it offers.
struct FunctionInfo {
  std::string name;
  // Which code it runs: "b2:" + a hash of the plugin file that defines it, or "fanout-VERSION"
  // for a built-in. Part of a cached result's key (DESIGN §4: the cache key includes what the
  // task runs), so a result of one build of a plugin is never served for another.
  std::string build;
  // Spec types of its parameters and result, "int,str->bool"; empty when the plugin does not
  // say (an older SDK) or the function has no spec signature (built-ins).
  std::string signature;
  MSGPACK_DEFINE(name, build, signature);
};

struct Hello {
  std::string worker_id;  // stable for the process: hostname-pid-random
  uint32_t slots = 1;     // subtasks it runs at once; credit
  std::vector<std::string> functions;
  std::vector<std::string> labels;
  double cpu = 0;
  int64_t mem_bytes = 0;
  bool interruptible = false;
  std::vector<SubtaskKey> running;  // attempts still running (after a reconnect)
  int64_t pid = 0;
  std::string host;
  std::vector<SubtaskKey> held;  // attempts whose results it holds, not yet ACKed
  // Command tasks it runs at once (<= slots; the rest of the slots take C++ functions and
  // built-ins); 0: as many as slots (a worker from before this field).
  uint32_t command_slots = 0;
  // The worker sends kStarted before it starts attempts, so the coordinator may send it more
  // work than it has slots (the rest waits in its queue): when the worker is lost, the
  // attempts it never reported started go to other workers without a system failure.
  // false: a worker from before this field; it gets no more work than slots.
  bool reports_started = false;
  // Build and signature of each function in `functions` (empty: a worker from before this
  // field; its functions have no build and no signature).
  std::vector<FunctionInfo> function_info;
  MSGPACK_DEFINE(worker_id, slots, functions, labels, cpu, mem_bytes, interruptible, running, pid,
                 host, held, command_slots, reports_started, function_info);
};

// Attempts of one node that a worker is about to start (from its queue or at once).
struct StartedBatch {
  std::string exec;
  std::string node;
  std::vector<uint32_t> indices;
  std::vector<uint32_t> attempts;  // attempts[i] goes with indices[i]
  MSGPACK_DEFINE(exec, node, indices, attempts);
};

struct Welcome {
  int64_t epoch = 0;
  int64_t heartbeat_ms = 0;  // the interval the worker must heartbeat at
  MSGPACK_DEFINE(epoch, heartbeat_ms);
};

struct Heartbeat {
  std::string worker_id;
  uint32_t running = 0;
  uint32_t held = 0;  // results waiting for an ACK
  bool draining = false;  // SIGTERM received: send no more work to this worker
  MSGPACK_DEFINE(worker_id, running, held, draining);
};

struct SubmitRequest {
  uint64_t rid = 0;
  std::string spec_name;  // file name, for error messages
  std::string spec_text;  // YAML
  std::string workflow;   // the workflow or launch plan to run; may be empty when the spec has one
  std::string inputs_json;  // JSON object of input values given by the user
  bool overwrite_cache = false;  // run every subtask and replace its cache entry
  // Bounds subtasks and children in flight across the execution's nodes (`--max-parallelism`);
  // -1: the launch plan's or workflow's own (0: unbounded).
  int64_t max_parallelism = -1;
  // Accept functions no connected worker offers yet (`fanout run --wait-for-workers`).
  // Appended last: an older peer's shorter array decodes with the default.
  bool wait_for_workers = false;
  // The spec file's directory, absolute: relative command `workdir:`s start there. Empty when
  // the spec did not come from a file. Appended last, as above.
  std::string spec_dir = {};
  MSGPACK_DEFINE(rid, spec_name, spec_text, workflow, inputs_json, overwrite_cache, max_parallelism,
                 wait_for_workers, spec_dir);
};

struct QueryRequest {
  uint64_t rid = 0;
  std::string exec;
  bool children = false;  // LIST: include child executions
  MSGPACK_DEFINE(rid, exec, children);
};

// `fanout update EXEC NODE`: what to change (-1 / a negative ratio: leave as it is).
struct UpdateRequest {
  uint64_t rid = 0;
  std::string exec;
  std::string node;
  int64_t concurrency = -1;         // 0: unbounded
  double min_success_ratio = -1;    // in [0, 1]
  int64_t min_successes = -1;
  MSGPACK_DEFINE(rid, exec, node, concurrency, min_success_ratio, min_successes);
};

struct LogsRequest {
  uint64_t rid = 0;
  std::string exec;
  std::string node;
  uint32_t index = 0;
  int64_t attempt = -1;  // -1: the subtask's latest attempt
  MSGPACK_DEFINE(rid, exec, node, index, attempt);
};

struct CacheClearRequest {
  uint64_t rid = 0;
  std::string task;     // empty: every task
  std::string version;  // empty: every version
  MSGPACK_DEFINE(rid, task, version);
};

struct Reply {
  uint64_t rid = 0;
  uint8_t code = 0;   // fanout::Code
  std::string error;  // when code != 0
  std::string json;   // the answer document
  MSGPACK_DEFINE(rid, code, error, json);
};

// An execution's STATUS document, published on the event socket when it changes.
struct ProgressEvent {
  std::string json;
  MSGPACK_DEFINE(json);
};

// Encodes a body.
template <typename T>
std::string EncodeBody(const T& body) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, body);
  return std::string(buf.data(), buf.size());
}

// Decodes a body with limits; never throws.
template <typename T>
Result<T> DecodeBody(std::string_view bytes) {
  if (bytes.size() > kMaxBodyBytes) return Err(InvalidArgument("message body too large"));
  try {
    size_t off = 0;
    // Element counts are capped by the body size: msgpack-cxx reserves arrays on the header.
    msgpack::unpack_limit limit(std::min<size_t>(1u << 24, bytes.size()),
                                std::min<size_t>(1u << 16, bytes.size() / 2), kMaxBodyBytes,
                                kMaxBodyBytes, 0, 16);
    msgpack::object_handle oh =
        msgpack::unpack(bytes.data(), bytes.size(), off, nullptr, nullptr, limit);
    if (off != bytes.size()) return Err(InvalidArgument("trailing bytes in message body"));
    T out;
    oh.get().convert(out);
    return out;
  } catch (const std::exception& e) {
    return Err(InvalidArgument(std::string("malformed message body: ") + e.what()));
  }
}

// Frame 0 for a kind.
inline std::string Header(Kind k) {
  return std::string{static_cast<char>(k), static_cast<char>(kWireVersion)};
}

// Parses frame 0; rejects unknown kinds and versions.
Result<Kind> ParseHeader(std::string_view frame);

}  // namespace fanout::wire
