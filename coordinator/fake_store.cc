#include "coordinator/fake_store.h"

#include <algorithm>

#include "common/phases.h"

namespace fanout {
namespace {

std::string S(std::string_view v) { return std::string(v); }

bool TerminalRecord(uint16_t r) { return IsTerminal(static_cast<SubtaskPhase>(r & 0xf)); }

}  // namespace

FakeStore::FakeStore(const Clock& clock, std::shared_ptr<FakeStoreState> state)
    : clock_(clock), state_(state ? std::move(state) : std::make_shared<FakeStoreState>()) {}

size_t FakeStore::RunPending() {
  size_t ran = 0;
  while (!queue_.empty()) {
    auto f = std::move(queue_.front());
    queue_.pop_front();
    f();
    ++ran;
  }
  return ran;
}

Status FakeStore::Down() const { return Unavailable("fake store is not connected"); }

template <typename T>
void FakeStore::Reply(Callback<T> cb, T value) {
  if (!cb) return;
  if (!connected_) {
    queue_.push_back([cb, s = Down()] { cb(Err(s)); });
    return;
  }
  queue_.push_back([cb, v = std::move(value)]() mutable { cb(std::move(v)); });
}

void FakeStore::Done_(Done cb) {
  if (!cb) return;
  queue_.push_back([cb, s = connected_ ? Status::Ok() : Down()] { cb(s); });
}

void FakeStore::set_connected(bool connected) {
  if (connected == connected_) return;
  connected_ = connected;
  if (on_state_) queue_.push_back([this, connected] { on_state_(connected); });
}

void FakeStore::Start(OnState on_state) {
  on_state_ = std::move(on_state);
  if (connected_) queue_.push_back([this] { on_state_(true); });
}

void FakeStore::TakeEpoch(Callback<int64_t> cb) {
  if (connected_) epoch_ = ++state_->epoch;
  Reply(cb, epoch_);
}

void FakeStore::CreateExecution(std::string_view exec, int64_t created_ms, Fields fields, Done cb) {
  if (connected_) {
    for (const auto& [k, v] : fields) state_->execs[S(exec)][k] = v;
    state_->created[S(exec)] = created_ms;
    state_->active.insert(S(exec));
  }
  Done_(cb);
}

void FakeStore::CreateChildExecution(std::string_view exec, int64_t created_ms, const Fields& fields,
                                     Callback<std::optional<std::map<std::string, std::string>>> cb) {
  std::optional<std::map<std::string, std::string>> existing;
  if (connected_) {
    auto it = state_->execs.find(S(exec));
    if (it != state_->execs.end()) {
      existing = it->second;
    } else {
      for (const auto& [k, v] : fields) state_->execs[S(exec)][k] = v;
      state_->children[S(exec)] = created_ms;
      state_->active.insert(S(exec));
    }
  }
  Reply(cb, std::move(existing));
}

void FakeStore::SetExecFields(std::string_view exec, const Fields& fields, Done cb) {
  if (connected_)
    for (const auto& [k, v] : fields) state_->execs[S(exec)][k] = v;
  Done_(cb);
}

void FakeStore::FinishExecution(std::string_view exec, const Fields& fields, Done cb) {
  if (drop_finishes_ > 0) {
    --drop_finishes_;
    if (cb) queue_.push_back([cb] { cb(Unavailable("fake store: the connection died before the write")); });
    return;
  }
  if (connected_) {
    for (const auto& [k, v] : fields) state_->execs[S(exec)][k] = v;
    state_->active.erase(S(exec));
  }
  Done_(cb);
}

void FakeStore::GetExecFields(std::string_view exec, const std::vector<std::string>& names,
                              Callback<std::vector<std::optional<std::string>>> cb) {
  std::vector<std::optional<std::string>> out;
  auto it = state_->execs.find(S(exec));
  for (const auto& n : names) {
    if (it != state_->execs.end() && it->second.contains(n)) out.emplace_back(it->second.at(n));
    else out.emplace_back(std::nullopt);
  }
  Reply(cb, std::move(out));
}

void FakeStore::GetAllExecFields(std::string_view exec, Callback<std::map<std::string, std::string>> cb) {
  auto it = state_->execs.find(S(exec));
  Reply(cb, it == state_->execs.end() ? std::map<std::string, std::string>() : it->second);
}

void FakeStore::LoadActive(Callback<std::vector<StoredExecution>> cb) {
  std::vector<StoredExecution> out;
  for (const std::string& id : state_->active) out.push_back({id, state_->execs[id]});
  Reply(cb, std::move(out));
}

void FakeStore::RecentExecutions(int limit, bool children, Callback<std::vector<std::string>> cb) {
  std::vector<std::pair<int64_t, std::string>> all;
  for (const auto& [id, ms] : state_->created) all.emplace_back(ms, id);
  if (children)
    for (const auto& [id, ms] : state_->children) all.emplace_back(ms, id);
  std::sort(all.rbegin(), all.rend());
  std::vector<std::string> out;
  for (const auto& [ms, id] : all) {
    if (static_cast<int>(out.size()) >= limit) break;
    out.push_back(id);
  }
  Reply(cb, std::move(out));
}

void FakeStore::Commit(std::string_view exec, std::string_view node, const std::vector<CommitOp>& ops,
                       Callback<std::vector<CommitResult>> cb) {
  if (!connected_) return Reply(cb, std::vector<CommitResult>());
  if (refuse_writes_) {
    queue_.push_back([cb] { cb(Err(Internal("fake store: writes refused"))); });
    return;
  }
  if (state_->epoch != epoch_) {
    queue_.push_back([cb] { cb(Err(FailedPrecondition("fenced: a newer coordinator has taken the epoch"))); });
    return;
  }
  FakeStoreState::NodeKey key{S(exec), S(node)};
  auto& records = state_->records[key];
  std::vector<CommitResult> out;
  for (const CommitOp& op : ops) {
    uint16_t cur = records.contains(op.index) ? records[op.index] : 0;
    bool terminal = TerminalRecord(cur);
    if (op.kind == CommitOp::kRecord) {
      if (terminal) {
        out.push_back(CommitResult::kRefused);
      } else {
        records[op.index] = op.record;
        out.push_back(CommitResult::kApplied);
      }
      continue;
    }
    if (cur == op.record) {
      out.push_back(CommitResult::kAlreadyApplied);
      continue;
    }
    if (UnpackRecord(cur).attempt != op.attempt || terminal) {
      out.push_back(CommitResult::kRefused);
      continue;
    }
    if (op.kind == CommitOp::kOutput) {
      auto& outs = state_->outputs[key];
      if (outs.contains(op.index)) {
        out.push_back(CommitResult::kRefused);
        continue;
      }
      outs[op.index] = op.payload;
    } else {
      state_->errors[key][op.index] = op.payload;
    }
    records[op.index] = op.record;
    out.push_back(CommitResult::kApplied);
  }
  if (lose_replies_ > 0) {
    --lose_replies_;
    queue_.push_back([cb] { cb(Err(Unavailable("fake store: the reply was lost"))); });
    return;
  }
  Reply(cb, std::move(out));
}

void FakeStore::LoadRecords(std::string_view exec, std::string_view node, uint32_t n,
                            Callback<std::vector<uint16_t>> cb) {
  std::vector<uint16_t> out(n, 0);
  auto it = state_->records.find({S(exec), S(node)});
  if (it != state_->records.end())
    for (const auto& [i, r] : it->second)
      if (i < n) out[i] = r;
  Reply(cb, std::move(out));
}

void FakeStore::LoadRecord(std::string_view exec, std::string_view node, uint32_t index, Callback<SubtaskRecord> cb) {
  uint16_t r = 0;
  auto it = state_->records.find({S(exec), S(node)});
  if (it != state_->records.end() && it->second.contains(index)) r = it->second.at(index);
  Reply(cb, UnpackRecord(r));
}

void FakeStore::LoadOutputs(std::string_view exec, std::string_view node, uint32_t n,
                            std::function<void(uint32_t, std::optional<std::string_view>)> on_item, Done done) {
  if (!connected_) return Done_(done);
  std::map<uint32_t, std::string> outs = state_->outputs[{S(exec), S(node)}];
  queue_.push_back([n, outs = std::move(outs), on_item, done] {
    for (uint32_t i = 0; i < n; ++i) {
      auto it = outs.find(i);
      if (it == outs.end()) on_item(i, std::nullopt);
      else on_item(i, std::string_view(it->second));
    }
    done(Status::Ok());
  });
}

void FakeStore::CopySucceeded(std::string_view src, std::string_view dst, std::string_view node, uint32_t n,
                              Callback<int64_t> cb) {
  if (connected_ && state_->epoch != epoch_) {
    queue_.push_back([cb] { cb(Err(FailedPrecondition("fenced: a newer coordinator has taken the epoch"))); });
    return;
  }
  int64_t copied = 0;
  const auto& fields = state_->execs[S(src)];
  auto size = fields.find("node:" + S(node) + ":size");
  if (connected_ && size != fields.end() && size->second == std::to_string(n)) {
    auto& src_rec = state_->records[{S(src), S(node)}];
    auto& src_out = state_->outputs[{S(src), S(node)}];
    auto& dst_rec = state_->records[{S(dst), S(node)}];
    auto& dst_out = state_->outputs[{S(dst), S(node)}];
    for (const auto& [i, r] : src_rec) {
      if (i >= n || (r & 0xf) != static_cast<uint16_t>(SubtaskPhase::kSucceeded) || !src_out.contains(i)) continue;
      uint16_t cur = dst_rec.contains(i) ? dst_rec[i] : 0;
      if (TerminalRecord(cur)) continue;
      dst_out[i] = src_out[i];
      dst_rec[i] = static_cast<uint16_t>(SubtaskPhase::kSucceeded);
      ++copied;
    }
  }
  Reply(cb, copied);
}

void FakeStore::LoadUnclaimed(std::string_view exec, std::string_view node,
                              Callback<std::map<uint32_t, int64_t>> cb) {
  Reply(cb, state_->unclaimed[{S(exec), S(node)}]);
}

void FakeStore::MarkUnclaimed(std::string_view exec, std::string_view node,
                              const std::vector<std::pair<uint32_t, int64_t>>& first_seen_wall_ms) {
  if (!connected_) return;
  for (const auto& [i, ms] : first_seen_wall_ms) state_->unclaimed[{S(exec), S(node)}][i] = ms;
}

void FakeStore::ForgetUnclaimed(std::string_view exec, std::string_view node, uint32_t index) {
  if (connected_) state_->unclaimed[{S(exec), S(node)}].erase(index);
}

void FakeStore::ClearUnclaimed(std::string_view exec, std::string_view node) {
  if (connected_) state_->unclaimed.erase({S(exec), S(node)});
}

void FakeStore::CacheGet(const std::vector<std::string>& keys, Callback<std::vector<std::optional<std::string>>> cb) {
  std::vector<std::optional<std::string>> out;
  for (const auto& k : keys) {
    auto it = state_->cache.find(k);
    if (it != state_->cache.end() && Live(it->second.second)) out.emplace_back(it->second.first);
    else out.emplace_back(std::nullopt);
  }
  Reply(cb, std::move(out));
}

void FakeStore::CachePut(const std::string& key, const std::string& value, int64_t ttl_ms) {
  if (connected_) state_->cache[key] = {value, ttl_ms > 0 ? clock_.NowMs() + ttl_ms : 0};
}

void FakeStore::CacheClear(const std::string& task, const std::string& version, Callback<int64_t> cb) {
  int64_t n = 0;
  if (connected_) {
    for (auto it = state_->cache.begin(); it != state_->cache.end();) {
      // "TASK:VERSION:HEX"
      const std::string& k = it->first;
      size_t b = k.rfind(':'), a = b == std::string::npos || b == 0 ? std::string::npos : k.rfind(':', b - 1);
      bool match = a != std::string::npos && (task.empty() || k.substr(0, a) == task) &&
                   (version.empty() || k.substr(a + 1, b - a - 1) == version);
      if (match) {
        it = state_->cache.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
  }
  Reply(cb, n);
}

void FakeStore::Reserve(const std::string& key, const std::string& owner, int64_t ttl_ms, Callback<bool> cb) {
  bool taken = false;
  if (connected_) {
    auto it = state_->reservations.find(key);
    if (it == state_->reservations.end() || !Live(it->second.second)) {
      state_->reservations[key] = {owner, clock_.NowMs() + ttl_ms};
      taken = true;
    }
  }
  Reply(cb, taken);
}

void FakeStore::RenewReservation(const std::string& key, int64_t ttl_ms) {
  auto it = state_->reservations.find(key);
  if (connected_ && it != state_->reservations.end() && Live(it->second.second))
    it->second.second = clock_.NowMs() + ttl_ms;
}

void FakeStore::ReleaseReservation(const std::string& key) {
  if (connected_) state_->reservations.erase(key);
}

void FakeStore::PutCheckpoint(std::string_view exec, std::string_view node, uint32_t index, const std::string& bytes) {
  if (connected_) state_->checkpoints[{S(exec), S(node), index}] = bytes;
}

void FakeStore::GetCheckpoint(std::string_view exec, std::string_view node, uint32_t index,
                              Callback<std::optional<std::string>> cb) {
  auto it = state_->checkpoints.find({S(exec), S(node), index});
  Reply(cb, it == state_->checkpoints.end() ? std::optional<std::string>() : std::optional<std::string>(it->second));
}

void FakeStore::ListCheckpoints(std::string_view exec, std::string_view node, Callback<std::vector<uint32_t>> cb) {
  std::vector<uint32_t> out;
  for (const auto& [k, v] : state_->checkpoints)
    if (std::get<0>(k) == exec && std::get<1>(k) == node) out.push_back(std::get<2>(k));
  Reply(cb, std::move(out));
}

void FakeStore::DeleteCheckpoint(std::string_view exec, std::string_view node, uint32_t index) {
  if (connected_) state_->checkpoints.erase({S(exec), S(node), index});
}

void FakeStore::DeleteCheckpoints(std::string_view exec) {
  if (!connected_) return;
  std::erase_if(state_->checkpoints, [&](const auto& kv) { return std::get<0>(kv.first) == exec; });
}

void FakeStore::PutLog(std::string_view exec, std::string_view node, uint32_t index, uint32_t attempt,
                       const std::string& log, int64_t) {
  if (connected_) state_->logs[{S(exec), S(node), index, attempt}] = log;
}

void FakeStore::GetLog(std::string_view exec, std::string_view node, uint32_t index, uint32_t attempt,
                       Callback<std::optional<std::string>> cb) {
  auto it = state_->logs.find({S(exec), S(node), index, attempt});
  Reply(cb, it == state_->logs.end() ? std::optional<std::string>() : std::optional<std::string>(it->second));
}

}  // namespace fanout
