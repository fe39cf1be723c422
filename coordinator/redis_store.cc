#include "coordinator/redis_store.h"

#include <spdlog/spdlog.h>

#include "coordinator/keys.h"

namespace fanout {
namespace {

// The commit script: one call per batch of ops of one node.
// KEYS: epoch, records (phases), outputs, errors. ARGV: epoch, then 5 per op: kind, index,
// attempt, record, payload. Records are u16: phase in the low 4 bits, attempt in bits 4-9
// (coordinator/keys.h). Terminal phases: 3 succeeded, 4 failed, 5 aborted.
//
// What it checks, per op, in order, against the record as the earlier ops of the same batch
// left it. The records it touches are read in runs of nearby indices (indices less than 64
// apart share a run) with one GETRANGE per run: records are u16 big-endian at byte 2i, the
// layout of BITFIELD u16 #i that LoadRecords and kCopyScript use. It decides in Lua, then
// writes each changed run back with one SETRANGE (the unchanged records inside a run are
// written back as they were read, in the same atomic script), the outputs with one HSET and
// the error messages with one HSET (HSETs split in chunks of 1,000 fields only to stay within
// Lua's unpack limit):
//   - the epoch is this coordinator's, else nothing is written (-1: fenced);
//   - 'r': applied unless the record is terminal;
//   - 'o'/'e': already applied (2) when the record equals the op's record; else applied only
//     when the record's attempt is the op's attempt and the record is not terminal.
// Outputs are written with HSET, not HSETNX: an output is only ever written together with a
// terminal (SUCCEEDED) record, by this script or kCopyScript, atomically, and no script moves a
// record out of a terminal phase. So "attempt current and record not terminal" implies "no
// output stored": the fenced check is the NX check, and one output per subtask still holds.
// A script runs atomically and its effects reach the AOF as one MULTI/EXEC, so a crash never
// leaves an output without its record.
constexpr const char* kApplyScript = R"lua(
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then
  return -1
end
local recs, idx = {}, {}
for i = 2, #ARGV, 5 do
  local n = tonumber(ARGV[i + 1])
  if recs[n] == nil then
    recs[n] = 0
    idx[#idx + 1] = n
  end
end
table.sort(idx)
local runs = {}
for _, n in ipairs(idx) do
  local r = runs[#runs]
  if r ~= nil and n - r.hi <= 64 then r.hi = n else runs[#runs + 1] = {lo = n, hi = n} end
end
local function at(s, k)
  local hi, lo = string.byte(s, 2 * k + 1, 2 * k + 2)
  return (hi or 0) * 256 + (lo or 0)
end
for _, r in ipairs(runs) do
  r.s = redis.call('GETRANGE', KEYS[2], 2 * r.lo, 2 * r.hi + 1)
  for n = r.lo, r.hi do
    if recs[n] ~= nil then recs[n] = at(r.s, n - r.lo) end
  end
end
local res, dirty, outs, errs = {}, {}, {}, {}
for i = 2, #ARGV, 5 do
  local kind, n = ARGV[i], tonumber(ARGV[i + 1])
  local cur, rec = recs[n], tonumber(ARGV[i + 3])
  local phase = cur % 16
  local terminal = phase == 3 or phase == 4 or phase == 5
  local r = 0
  if kind == 'r' then
    if not terminal then r = 1 end
  elseif cur == rec then
    r = 2
  elseif not terminal and math.floor(cur / 16) % 64 == tonumber(ARGV[i + 2]) then
    if kind == 'o' then
      outs[#outs + 1] = ARGV[i + 1]; outs[#outs + 1] = ARGV[i + 4]
    else
      errs[#errs + 1] = ARGV[i + 1]; errs[#errs + 1] = ARGV[i + 4]
    end
    r = 1
  end
  if r == 1 then
    recs[n] = rec
    dirty[n] = true
  end
  res[#res + 1] = r
end
local function hset(key, kv)
  for c = 1, #kv, 2 * 1000 do
    redis.call('HSET', key, unpack(kv, c, math.min(c + 2 * 1000 - 1, #kv)))
  end
end
hset(KEYS[3], outs)
hset(KEYS[4], errs)
for _, r in ipairs(runs) do
  local changed = false
  for n = r.lo, r.hi do
    if dirty[n] then changed = true; break end
  end
  if changed then
    local parts = {}
    for n = r.lo, r.hi do
      local v = recs[n]
      if v == nil then v = at(r.s, n - r.lo) end
      parts[#parts + 1] = string.char(math.floor(v / 256), v % 256)
    end
    redis.call('SETRANGE', KEYS[2], 2 * r.lo, table.concat(parts))
  end
end
return res
)lua";

constexpr uint32_t kOutputChunk = 8192;

// KEYS: the execution hash, the active set, the children list. ARGV: id, created ms, then
// field/value pairs. Creates the child unless it exists; returns its fields when it does.
constexpr const char* kCreateChildScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HGETALL', KEYS[1])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 0
)lua";

// KEYS: epoch, src phases, src outputs, dst phases, dst outputs, src exec hash.
// ARGV: epoch, n, node size field. Copies succeeded subtasks (phase 3) of src into dst.
constexpr const char* kCopyScript = R"lua(
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then
  return -1
end
local n = tonumber(ARGV[2])
if tonumber(redis.call('HGET', KEYS[6], ARGV[3]) or '-1') ~= n then
  return 0
end
local src = redis.call('GET', KEYS[2])
if not src then return 0 end
local copied = 0
for i = 0, n - 1 do
  local hi, lo = string.byte(src, 2 * i + 1, 2 * i + 2)
  if hi == nil or lo == nil then break end
  if (hi * 256 + lo) % 16 == 3 then
    local out = redis.call('HGET', KEYS[3], i)
    local cur = redis.call('BITFIELD', KEYS[4], 'GET', 'u16', '#' .. i)[1] % 16
    if out and cur ~= 3 and cur ~= 4 and cur ~= 5 then
      redis.call('HSET', KEYS[5], i, out)
      redis.call('BITFIELD', KEYS[4], 'SET', 'u16', '#' .. i, 3)
      copied = copied + 1
    end
  end
end
return copied
)lua";

Status StatusOf(const Result<RedisReply>& r) { return r ? Status::Ok() : r.error(); }

// The elements of an MGET/HMGET reply: nullopt for a missing key or field.
std::vector<std::optional<std::string>> OptionalStrings(RedisReply& r) {
  std::vector<std::optional<std::string>> out;
  out.reserve(r.elements.size());
  for (auto& e : r.elements) {
    if (e.is_nil()) out.push_back(std::nullopt);
    else out.push_back(std::move(e.str));
  }
  return out;
}

Status Fenced() { return FailedPrecondition("fenced: a newer coordinator has taken the epoch"); }

}  // namespace

RedisStore::RedisStore(uv_loop_t* loop, std::string host, int port, std::string password, std::string user)
    : redis_(loop, std::move(host), port, std::move(password), std::move(user)) {}

void RedisStore::Start(OnState on_state) { redis_.Start(std::move(on_state)); }

void RedisStore::Fire(const std::vector<std::string>& argv, const char* what) {
  redis_.Command(argv, [what](Result<RedisReply> r) {
    if (!r) spdlog::warn("{} failed: {}", what, r.error().message());
  });
}

void RedisStore::TakeEpoch(Callback<int64_t> cb) {
  // Load the commit script once; Commit sends its SHA and falls back to the text if Redis lost
  // it (a restarted Redis has no scripts).
  redis_.Command({"SCRIPT", "LOAD", kApplyScript}, [this](Result<RedisReply> r) {
    if (r && r->type == RedisReply::Type::kString) script_sha_ = r->str;
  });
  redis_.Command({"INCR", keys::Epoch()}, [this, cb](Result<RedisReply> r) {
    if (!r) return cb(Err(r.error()));
    epoch_ = r->integer;
    cb(epoch_);
  });
}

void RedisStore::Commit(std::string_view exec, std::string_view node, const std::vector<CommitOp>& ops,
                        Callback<std::vector<CommitResult>> cb) {
  std::vector<std::string> argv;
  argv.reserve(9 + ops.size() * 5);
  bool by_sha = !script_sha_.empty();
  argv.insert(argv.end(), {by_sha ? "EVALSHA" : "EVAL", by_sha ? script_sha_ : kApplyScript, "4",
                           keys::Epoch(), keys::Phases(exec, node), keys::Outputs(exec, node),
                           keys::Errors(exec, node), std::to_string(epoch_)});
  for (const CommitOp& op : ops) {
    argv.emplace_back(1, static_cast<char>(op.kind));
    argv.push_back(std::to_string(op.index));
    argv.push_back(std::to_string(op.attempt));
    argv.push_back(std::to_string(op.record));
    argv.push_back(op.payload);
  }
  auto on_reply = [cb, n = ops.size()](Result<RedisReply> r) {
    if (!r) return cb(Err(r.error()));
    if (r->type == RedisReply::Type::kInteger && r->integer == -1) return cb(Err(Fenced()));
    if (r->type != RedisReply::Type::kArray || r->elements.size() != n)
      return cb(Err(Internal("unexpected reply from the commit script")));
    std::vector<CommitResult> out;
    out.reserve(n);
    for (const auto& e : r->elements) out.push_back(static_cast<CommitResult>(e.integer));
    cb(std::move(out));
  };
  if (!by_sha) return redis_.Command(argv, on_reply);
  redis_.Command(argv, [this, argv, on_reply](Result<RedisReply> r) mutable {
    if (!r && r.error().message().find("NOSCRIPT") != std::string::npos) {
      script_sha_.clear();
      argv[0] = "EVAL";
      argv[1] = kApplyScript;
      return redis_.Command(argv, on_reply);
    }
    on_reply(std::move(r));
  });
}

void RedisStore::CreateExecution(std::string_view exec, int64_t created_ms, Fields fields,
                                 Done cb) {
  std::vector<std::string> hset;
  hset.reserve(2 + 2 * fields.size());
  hset.push_back("HSET");
  hset.push_back(keys::Exec(exec));
  for (auto& [k, v] : fields) {  // moved: an input field is megabytes
    hset.push_back(std::move(k));
    hset.push_back(std::move(v));
  }
  // Pipelined on one connection: they apply in order; the last reply means all are in. Queued
  // in this call, so no later write of this execution (its end, say) can come before them.
  Fire(hset, "execution write");
  Fire({"ZADD", keys::Execs(), std::to_string(created_ms), std::string(exec)}, "execution list");
  redis_.Command({"SADD", keys::Active(), std::string(exec)},
                 [cb](Result<RedisReply> r) { cb(StatusOf(r)); });
}

void RedisStore::CreateChildExecution(std::string_view exec, int64_t created_ms, const Fields& fields,
                                      Callback<std::optional<std::map<std::string, std::string>>> cb) {
  std::vector<std::string> argv = {"EVAL", kCreateChildScript, "3", keys::Exec(exec), keys::Active(),
                                   keys::Children(), std::string(exec), std::to_string(created_ms)};
  for (const auto& [k, v] : fields) {
    argv.push_back(k);
    argv.push_back(v);
  }
  redis_.Command(argv, [cb](Result<RedisReply> r) {
    if (!r) return cb(Err(r.error()));
    if (r->type != RedisReply::Type::kArray) return cb(std::optional<std::map<std::string, std::string>>());
    std::map<std::string, std::string> out;
    for (size_t i = 0; i + 1 < r->elements.size(); i += 2)
      out.emplace(std::move(r->elements[i].str), std::move(r->elements[i + 1].str));
    cb(std::optional<std::map<std::string, std::string>>(std::move(out)));
  });
}

void RedisStore::SetExecFields(std::string_view exec, const Fields& fields, Done cb) {
  std::vector<std::string> hset = {"HSET", keys::Exec(exec)};
  for (const auto& [k, v] : fields) {
    hset.push_back(k);
    hset.push_back(v);
  }
  redis_.Command(hset, [cb](Result<RedisReply> r) {
    if (cb) cb(StatusOf(r));
  });
}

void RedisStore::FinishExecution(std::string_view exec, const Fields& fields, Done cb) {
  SetExecFields(exec, fields, nullptr);
  redis_.Command({"SREM", keys::Active(), std::string(exec)}, [cb](Result<RedisReply> r) {
    if (cb) cb(StatusOf(r));
  });
}

void RedisStore::GetExecFields(std::string_view exec, const std::vector<std::string>& names,
                               Callback<std::vector<std::optional<std::string>>> cb) {
  std::vector<std::string> argv = {"HMGET", keys::Exec(exec)};
  argv.insert(argv.end(), names.begin(), names.end());
  redis_.Command(argv, [cb](Result<RedisReply> r) {
    if (!r) return cb(Err(r.error()));
    cb(OptionalStrings(*r));
  });
}

void RedisStore::GetAllExecFields(std::string_view exec,
                                  Callback<std::map<std::string, std::string>> cb) {
  redis_.Command({"HGETALL", keys::Exec(exec)}, [cb](Result<RedisReply> r) {
    if (!r) return cb(Err(r.error()));
    std::map<std::string, std::string> out;
    for (size_t i = 0; i + 1 < r->elements.size(); i += 2)
      out.emplace(std::move(r->elements[i].str), std::move(r->elements[i + 1].str));
    cb(std::move(out));
  });
}

void RedisStore::LoadActive(Callback<std::vector<StoredExecution>> cb) {
  redis_.Command({"SMEMBERS", keys::Active()}, [this, cb](Result<RedisReply> r) {
    if (!r) return cb(Err(r.error()));
    auto out = std::make_shared<std::vector<StoredExecution>>(r->elements.size());
    auto remaining = std::make_shared<size_t>(r->elements.size());
    auto failed = std::make_shared<Status>();
    if (out->empty()) return cb(std::vector<StoredExecution>());
    for (size_t i = 0; i < r->elements.size(); ++i) {
      (*out)[i].id = r->elements[i].str;
      GetAllExecFields((*out)[i].id, [out, remaining, failed, cb, i](auto f) {
        if (!f) *failed = f.error();
        else (*out)[i].fields = std::move(*f);
        if (--*remaining > 0) return;
        if (!failed->ok()) return cb(Err(*failed));
        cb(std::move(*out));
      });
    }
  });
}

void RedisStore::RecentExecutions(int limit, bool children, Callback<std::vector<std::string>> cb) {
  auto ids = [](RedisReply& r) {
    std::vector<std::pair<int64_t, std::string>> out;
    // WITHSCORES: id, score, id, score...
    for (size_t i = 0; i + 1 < r.elements.size(); i += 2)
      out.emplace_back(std::atoll(r.elements[i + 1].str.c_str()), std::move(r.elements[i].str));
    return out;
  };
  std::string last = std::to_string(limit - 1);
  redis_.Command({"ZREVRANGE", keys::Execs(), "0", last, "WITHSCORES"}, [this, cb, children, limit, last, ids](
                                                                           Result<RedisReply> top) {
    if (!top) return cb(Err(top.error()));
    auto all = std::make_shared<std::vector<std::pair<int64_t, std::string>>>(ids(*top));
    auto finish = [cb, all, limit] {
      std::stable_sort(all->begin(), all->end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      std::vector<std::string> out;
      for (auto& [ms, id] : *all) {
        if (static_cast<int>(out.size()) >= limit) break;
        out.push_back(std::move(id));
      }
      cb(std::move(out));
    };
    if (!children) return finish();
    redis_.Command({"ZREVRANGE", keys::Children(), "0", last, "WITHSCORES"},
                   [cb, all, finish, ids](Result<RedisReply> kids) {
                     if (!kids) return cb(Err(kids.error()));
                     auto more = ids(*kids);
                     all->insert(all->end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
                     finish();
                   });
  });
}

void RedisStore::LoadRecords(std::string_view exec, std::string_view node, uint32_t n,
                             Callback<std::vector<uint16_t>> cb) {
  redis_.Command({"GET", keys::Phases(exec, node)}, [cb, n](Result<RedisReply> r) {
    if (!r) return cb(Err(r.error()));
    std::vector<uint16_t> out(n, 0);
    if (r->is_nil()) return cb(std::move(out));
    const std::string& s = r->str;
    // BITFIELD u16 #i is big-endian at byte 2i; a shorter string means zeros after it.
    for (uint32_t i = 0; i < n && 2 * i + 1 < s.size(); ++i)
      out[i] = static_cast<uint16_t>((static_cast<uint8_t>(s[2 * i]) << 8) |
                                     static_cast<uint8_t>(s[2 * i + 1]));
    cb(std::move(out));
  });
}

void RedisStore::LoadRecord(std::string_view exec, std::string_view node, uint32_t index,
                            Callback<SubtaskRecord> cb) {
  redis_.Command({"BITFIELD", keys::Phases(exec, node), "GET", "u16", "#" + std::to_string(index)},
                 [cb](Result<RedisReply> r) {
                   if (!r) return cb(Err(r.error()));
                   if (r->elements.size() != 1) return cb(Err(Internal("unexpected BITFIELD reply")));
                   cb(UnpackRecord(static_cast<uint16_t>(r->elements[0].integer)));
                 });
}

void RedisStore::LoadOutputs(std::string_view exec, std::string_view node, uint32_t n,
                             std::function<void(uint32_t, std::optional<std::string_view>)> on_item,
                             Done done) {
  LoadOutputsChunk(std::string(exec), std::string(node), 0, n, std::move(on_item), std::move(done));
}

void RedisStore::LoadOutputsChunk(std::string exec, std::string node, uint32_t from, uint32_t n,
                                  std::function<void(uint32_t, std::optional<std::string_view>)> on_item,
                                  Done done) {
  if (from >= n) return done(Status::Ok());
  uint32_t to = std::min(n, from + kOutputChunk);
  std::vector<std::string> argv = {"HMGET", keys::Outputs(exec, node)};
  argv.reserve(2 + (to - from));
  for (uint32_t i = from; i < to; ++i) argv.push_back(std::to_string(i));
  redis_.Command(argv, [this, exec, node, from, to, n, on_item, done](Result<RedisReply> r) {
    if (!r) return done(r.error());
    if (r->elements.size() != to - from) return done(Internal("short HMGET reply"));
    for (uint32_t i = from; i < to; ++i) {
      const RedisReply& e = r->elements[i - from];
      if (e.is_nil()) on_item(i, std::nullopt);
      else on_item(i, std::string_view(e.str));
    }
    LoadOutputsChunk(exec, node, to, n, on_item, done);
  });
}

void RedisStore::CopySucceeded(std::string_view src, std::string_view dst, std::string_view node,
                               uint32_t n, Callback<int64_t> cb) {
  redis_.Command({"EVAL", kCopyScript, "6", keys::Epoch(), keys::Phases(src, node),
                  keys::Outputs(src, node), keys::Phases(dst, node), keys::Outputs(dst, node),
                  keys::Exec(src), std::to_string(epoch_), std::to_string(n),
                  keys::NodeField(node, "size")},
                 [cb](Result<RedisReply> r) {
                   if (!r) return cb(Err(r.error()));
                   if (r->integer < 0) return cb(Err(Fenced()));
                   cb(r->integer);
                 });
}

void RedisStore::LoadUnclaimed(std::string_view exec, std::string_view node,
                               Callback<std::map<uint32_t, int64_t>> cb) {
  redis_.Command({"HGETALL", keys::Unclaimed(exec, node)}, [cb](Result<RedisReply> r) {
    if (!r) return cb(Err(r.error()));
    std::map<uint32_t, int64_t> out;
    for (size_t i = 0; i + 1 < r->elements.size(); i += 2)
      out[static_cast<uint32_t>(std::strtoul(r->elements[i].str.c_str(), nullptr, 10))] =
          std::atoll(r->elements[i + 1].str.c_str());
    cb(std::move(out));
  });
}

void RedisStore::MarkUnclaimed(std::string_view exec, std::string_view node,
                               const std::vector<std::pair<uint32_t, int64_t>>& first_seen_wall_ms) {
  if (first_seen_wall_ms.empty()) return;
  std::vector<std::string> argv = {"HSET", keys::Unclaimed(exec, node)};
  for (const auto& [index, ms] : first_seen_wall_ms) {
    argv.push_back(std::to_string(index));
    argv.push_back(std::to_string(ms));
  }
  Fire(argv, "unclaimed mark");
}

void RedisStore::ForgetUnclaimed(std::string_view exec, std::string_view node, uint32_t index) {
  Fire({"HDEL", keys::Unclaimed(exec, node), std::to_string(index)}, "unclaimed forget");
}

void RedisStore::ClearUnclaimed(std::string_view exec, std::string_view node) {
  Fire({"DEL", keys::Unclaimed(exec, node)}, "unclaimed clear");
}

void RedisStore::CacheGet(const std::vector<std::string>& cache_keys,
                          Callback<std::vector<std::optional<std::string>>> cb) {
  std::vector<std::string> argv = {"MGET"};
  for (const auto& k : cache_keys) argv.push_back(keys::Cache(k));
  redis_.Command(argv, [cb](Result<RedisReply> r) {
    if (!r) return cb(Err(r.error()));
    cb(OptionalStrings(*r));
  });
}

void RedisStore::CachePut(const std::string& key, const std::string& value, int64_t ttl_ms) {
  std::vector<std::string> argv = {"SET", keys::Cache(key), value};
  if (ttl_ms > 0) argv.insert(argv.end(), {"PX", std::to_string(ttl_ms)});
  Fire(argv, "cache write");
}

void RedisStore::Scan(std::string pattern, std::string cursor,
                      std::function<void(std::vector<std::string>)> on_keys, Done done) {
  redis_.Command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"},
                 [this, pattern, on_keys, done](Result<RedisReply> r) {
                   if (!r) return done(r.error());
                   if (r->elements.size() != 2) return done(Internal("unexpected SCAN reply"));
                   std::vector<std::string> found;
                   for (auto& e : r->elements[1].elements) found.push_back(std::move(e.str));
                   if (!found.empty()) on_keys(std::move(found));
                   if (r->elements[0].str == "0") return done(Status::Ok());
                   Scan(pattern, r->elements[0].str, on_keys, done);
                 });
}

void RedisStore::CacheClear(const std::string& task, const std::string& version, Callback<int64_t> cb) {
  // Cache keys are "TASK:VERSION:HEX" (coordinator/cache_key.h); glob characters in the
  // names are escaped.
  auto escape = [](const std::string& s) {
    std::string o;
    for (char c : s) {
      if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') o.push_back('\\');
      o.push_back(c);
    }
    return o;
  };
  std::string pattern = keys::Cache((task.empty() ? "*" : escape(task)) + ":" +
                                    (version.empty() ? "*" : escape(version)) + ":*");
  auto deleted = std::make_shared<int64_t>(0);
  Scan(pattern, "0",
       [this, deleted](std::vector<std::string> found) {
         std::vector<std::string> argv = {"DEL"};
         for (auto& k : found)
           if (!k.ends_with(":res")) argv.push_back(std::move(k));
         *deleted += static_cast<int64_t>(argv.size() - 1);
         if (argv.size() > 1) Fire(argv, "cache clear");
       },
       [this, cb, deleted](Status st) {
         if (!st.ok()) return cb(Err(st));
         // The DELs were pipelined before this PING: when it answers, they are done.
         redis_.Command({"PING"}, [cb, deleted](Result<RedisReply>) { cb(*deleted); });
       });
}

void RedisStore::Reserve(const std::string& key, const std::string& owner, int64_t ttl_ms,
                         Callback<bool> cb) {
  redis_.Command({"SET", keys::CacheReservation(key), owner, "NX", "PX", std::to_string(ttl_ms)},
                 [cb](Result<RedisReply> r) {
                   if (!r) return cb(Err(r.error()));
                   cb(r->type == RedisReply::Type::kStatus);  // OK; nil when held
                 });
}

void RedisStore::RenewReservation(const std::string& key, int64_t ttl_ms) {
  Fire({"PEXPIRE", keys::CacheReservation(key), std::to_string(ttl_ms)}, "reservation renewal");
}

void RedisStore::ReleaseReservation(const std::string& key) {
  Fire({"DEL", keys::CacheReservation(key)}, "reservation release");
}

void RedisStore::PutCheckpoint(std::string_view exec, std::string_view node, uint32_t index,
                               const std::string& bytes) {
  // Indexed first: a connection lost between the two leaves at most a name without a key,
  // which the readers and the deletes take in their stride.
  std::string key = keys::Checkpoint(exec, node, index);
  Fire({"SADD", keys::CheckpointIndex(exec), key}, "checkpoint index");
  Fire({"SET", std::move(key), bytes}, "checkpoint write");
}

void RedisStore::GetCheckpoint(std::string_view exec, std::string_view node, uint32_t index,
                               Callback<std::optional<std::string>> cb) {
  redis_.Command({"GET", keys::Checkpoint(exec, node, index)}, [cb](Result<RedisReply> r) {
    if (!r) return cb(Err(r.error()));
    if (r->is_nil()) return cb(std::optional<std::string>());
    cb(std::optional<std::string>(std::move(r->str)));
  });
}

void RedisStore::ListCheckpoints(std::string_view exec, std::string_view node,
                                 Callback<std::vector<uint32_t>> cb) {
  std::string prefix = keys::Checkpoint(exec, node, 0);
  prefix.resize(prefix.size() - 1);  // "...:ckpt:"
  redis_.Command({"SMEMBERS", keys::CheckpointIndex(exec)}, [prefix, cb](Result<RedisReply> r) {
    if (!r) return cb(Err(r.error()));
    std::vector<uint32_t> out;
    for (const RedisReply& k : r->elements)
      if (k.str.starts_with(prefix))
        out.push_back(static_cast<uint32_t>(std::strtoul(k.str.c_str() + prefix.size(), nullptr, 10)));
    cb(std::move(out));
  });
}

void RedisStore::DeleteCheckpoint(std::string_view exec, std::string_view node, uint32_t index) {
  std::string key = keys::Checkpoint(exec, node, index);
  Fire({"DEL", key}, "checkpoint delete");
  Fire({"SREM", keys::CheckpointIndex(exec), std::move(key)}, "checkpoint index");
}

void RedisStore::DeleteCheckpoints(std::string_view exec) {
  std::string id(exec);
  std::string index = keys::CheckpointIndex(exec);
  redis_.Command({"SMEMBERS", index}, [this, id, index](Result<RedisReply> r) {
    if (!r) return spdlog::warn("exec={}: cannot delete checkpoints: {}", id, r.error().message());
    constexpr size_t kPerDel = 1000;
    for (size_t i = 0; i < r->elements.size(); i += kPerDel) {
      std::vector<std::string> argv = {"DEL"};
      for (size_t j = i; j < std::min(i + kPerDel, r->elements.size()); ++j)
        argv.push_back(std::move(r->elements[j].str));
      Fire(argv, "checkpoint delete");
    }
    Fire({"DEL", index}, "checkpoint index delete");
  });
}

void RedisStore::PutLog(std::string_view exec, std::string_view node, uint32_t index, uint32_t attempt,
                        const std::string& log, int64_t ttl_s) {
  // A log is help for a human, never a reason to fail a subtask.
  Fire({"SET", keys::Log(exec, node, index, attempt), log, "EX", std::to_string(ttl_s)}, "log write");
}

void RedisStore::GetLog(std::string_view exec, std::string_view node, uint32_t index, uint32_t attempt,
                        Callback<std::optional<std::string>> cb) {
  redis_.Command({"GET", keys::Log(exec, node, index, attempt)}, [cb](Result<RedisReply> r) {
    if (!r) return cb(Err(r.error()));
    if (r->is_nil()) return cb(std::optional<std::string>());
    cb(std::optional<std::string>(std::move(r->str)));
  });
}

}  // namespace fanout
