#include "coordinator/array_node.h"

#include <algorithm>

#include "common/status.h"

namespace fanout {
namespace {

constexpr size_t kMaxFailureMessages = 64;
constexpr std::string_view kOtherFailures = "(other errors)";

uint64_t MaxRecord() {
  return PackRecord({0xf, 0x3f, 0xf, true});
}

}  // namespace

ArrayNode::ArrayNode(uint32_t n, const ArrayNodePolicy& policy)
    : n_(n),
      policy_(policy),
      min_successes_(policy.min_successes < 0 ? n : std::min<int64_t>(policy.min_successes, n)),
      records_(n, MaxRecord()) {
  counts_[static_cast<int>(SubtaskPhase::kQueued)] = n;
  Evaluate();  // n = 0 succeeds at once
}

SubtaskRecord ArrayNode::Record(uint32_t index) const {
  return UnpackRecord(static_cast<uint16_t>(records_.Get(index)));
}

void ArrayNode::SetPhase(uint32_t index, SubtaskRecord rec, SubtaskPhase to) {
  auto from = static_cast<SubtaskPhase>(rec.phase);
  bool was_active = from == SubtaskPhase::kRunning || from == SubtaskPhase::kRetrying;
  bool is_active = to == SubtaskPhase::kRunning || to == SubtaskPhase::kRetrying;
  counts_[static_cast<int>(from)]--;
  counts_[static_cast<int>(to)]++;
  active_ += static_cast<uint64_t>(is_active) - static_cast<uint64_t>(was_active);
  rec.phase = static_cast<uint8_t>(to);
  records_.Set(index, PackRecord(rec));
}

void ArrayNode::Restore(uint32_t index, const SubtaskRecord& rec) {
  CHECK(index < n_);
  auto p = static_cast<SubtaskPhase>(rec.phase);
  SubtaskRecord cur = Record(index);
  cur.attempt = rec.attempt;
  cur.system_failures = rec.system_failures;
  cur.cached = rec.cached;
  switch (p) {
    case SubtaskPhase::kSucceeded:
      if (rec.cached) ++cached_;
      SetPhase(index, cur, SubtaskPhase::kSucceeded);
      break;
    case SubtaskPhase::kFailed:
    case SubtaskPhase::kAborted:
      SetPhase(index, cur, p);
      failures_[std::string(p == SubtaskPhase::kFailed ? "failed before a coordinator restart"
                                                       : "aborted")]
          .push_back(index);
      break;
    case SubtaskPhase::kRunning:
      // Its attempt may still run on a worker that will claim it; the reactor re-queues it
      // as a system failure (OnFailed) if nobody does within the grace period.
      SetPhase(index, cur, SubtaskPhase::kRunning);
      break;
    case SubtaskPhase::kRetrying:
      SetPhase(index, cur, SubtaskPhase::kRetrying);  // its next attempt number is persisted
      retry_queue_.push_back(index);
      break;
    default:
      records_.Set(index, PackRecord(cur));  // stays queued, keeps its counters
      break;
  }
  Evaluate();
}

bool ArrayNode::HasStartable() const {
  if (done()) return false;
  if (!retry_queue_.empty()) return true;
  bool capacity = policy_.concurrency == 0 || active_ < policy_.concurrency;
  return capacity && counts_[static_cast<int>(SubtaskPhase::kQueued)] > 0;
}

uint64_t ArrayNode::Startable() const {
  if (done()) return 0;
  uint64_t queued = counts_[static_cast<int>(SubtaskPhase::kQueued)];
  if (policy_.concurrency > 0)
    queued = active_ >= policy_.concurrency ? 0 : std::min<uint64_t>(queued, policy_.concurrency - active_);
  return retry_queue_.size() + queued;
}

uint64_t ArrayNode::RetriesWithSystemFailuresAbove(int n) const {
  uint64_t count = 0;
  for (uint32_t i : retry_queue_)
    if (Record(i).system_failures > n && static_cast<SubtaskPhase>(Record(i).phase) == SubtaskPhase::kRetrying)
      ++count;
  return count;
}

void ArrayNode::Next(size_t max, std::vector<Start>* out, int max_system_failures) {
  if (done()) return;
  size_t taken = 0;
  // Retries first: they already hold their slot.
  for (auto it = retry_queue_.begin(); taken < max && it != retry_queue_.end();) {
    uint32_t i = *it;
    SubtaskRecord rec = Record(i);
    if (static_cast<SubtaskPhase>(rec.phase) != SubtaskPhase::kRetrying) {
      it = retry_queue_.erase(it);
      continue;
    }
    if (rec.system_failures > max_system_failures) {
      ++it;
      continue;
    }
    it = retry_queue_.erase(it);
    SetPhase(i, rec, SubtaskPhase::kRunning);
    out->push_back({i, rec.attempt});
    ++taken;
  }
  while (taken < max && !requeued_.empty() &&
         (policy_.concurrency == 0 || active_ < policy_.concurrency)) {
    uint32_t i = requeued_.front();
    requeued_.pop_front();
    SubtaskRecord rec = Record(i);
    if (static_cast<SubtaskPhase>(rec.phase) != SubtaskPhase::kQueued) continue;
    SetPhase(i, rec, SubtaskPhase::kRunning);
    out->push_back({i, rec.attempt});
    ++taken;
  }
  while (taken < max && cursor_ < n_ &&
         (policy_.concurrency == 0 || active_ < policy_.concurrency)) {
    uint32_t i = cursor_++;
    SubtaskRecord rec = Record(i);
    if (static_cast<SubtaskPhase>(rec.phase) != SubtaskPhase::kQueued) continue;
    SetPhase(i, rec, SubtaskPhase::kRunning);
    out->push_back({i, rec.attempt});
    ++taken;
  }
}

bool ArrayNode::IsCurrent(uint32_t index, uint32_t attempt) const {
  if (index >= n_) return false;
  SubtaskRecord rec = Record(index);
  return rec.attempt == attempt && static_cast<SubtaskPhase>(rec.phase) == SubtaskPhase::kRunning;
}

bool ArrayNode::OnSucceeded(uint32_t index, uint32_t attempt, bool cached) {
  if (!IsCurrent(index, attempt)) return false;
  SubtaskRecord rec = Record(index);
  rec.cached = cached;
  if (cached) ++cached_;
  SetPhase(index, rec, SubtaskPhase::kSucceeded);
  Evaluate();
  return true;
}

bool ArrayNode::OnCommitted(uint32_t index) {
  if (index >= n_ || done()) return false;
  SubtaskRecord rec = Record(index);
  if (IsTerminal(static_cast<SubtaskPhase>(rec.phase))) return false;
  SetPhase(index, rec, SubtaskPhase::kSucceeded);
  Evaluate();
  return true;
}

bool ArrayNode::Reopen(uint32_t index) {
  if (index >= n_ || phase_ == NodePhase::kFailed || phase_ == NodePhase::kAborted) return false;
  SubtaskRecord rec = Record(index);
  if (static_cast<SubtaskPhase>(rec.phase) != SubtaskPhase::kSucceeded) return false;
  if (rec.cached) --cached_;
  rec.cached = false;
  phase_ = NodePhase::kRunning;
  Retry(index, rec);
  return true;
}

bool ArrayNode::WaitForCache(uint32_t index) {
  if (index >= n_ || done()) return false;
  SubtaskRecord rec = Record(index);
  if (static_cast<SubtaskPhase>(rec.phase) != SubtaskPhase::kQueued) return false;
  SetPhase(index, rec, SubtaskPhase::kWaitingForCache);
  return true;
}

bool ArrayNode::ResumeFromCacheWait(uint32_t index) {
  if (index >= n_ || done()) return false;
  SubtaskRecord rec = Record(index);
  if (static_cast<SubtaskPhase>(rec.phase) != SubtaskPhase::kWaitingForCache) return false;
  SetPhase(index, rec, SubtaskPhase::kQueued);
  if (index < cursor_) requeued_.push_back(index);
  return true;
}

bool ArrayNode::CompleteFromCache(uint32_t index) {
  if (index >= n_ || done()) return false;
  SubtaskRecord rec = Record(index);
  auto p = static_cast<SubtaskPhase>(rec.phase);
  if (p != SubtaskPhase::kQueued && p != SubtaskPhase::kWaitingForCache) return false;
  rec.cached = true;
  ++cached_;
  SetPhase(index, rec, SubtaskPhase::kSucceeded);
  Evaluate();
  return true;
}

void ArrayNode::Retry(uint32_t index, SubtaskRecord rec) {
  rec.attempt = static_cast<uint8_t>(rec.attempt + 1);
  SetPhase(index, rec, SubtaskPhase::kRetrying);
  retry_queue_.push_back(index);
}

void ArrayNode::Fail(uint32_t index, SubtaskRecord rec, std::string_view message) {
  SetPhase(index, rec, SubtaskPhase::kFailed);
  auto it = failures_.find(message);
  if (it == failures_.end()) {
    if (failures_.size() >= kMaxFailureMessages) {
      it = failures_.try_emplace(std::string(kOtherFailures)).first;
    } else {
      it = failures_.try_emplace(std::string(message)).first;
    }
  }
  it->second.push_back(index);
}

bool ArrayNode::OnFailed(uint32_t index, uint32_t attempt, FailureKind kind,
                         std::string_view message) {
  if (!IsCurrent(index, attempt)) return false;
  SubtaskRecord rec = Record(index);
  switch (kind) {
    case FailureKind::kUser: {
      int user_failures = rec.attempt - rec.system_failures + 1;
      if (user_failures <= policy_.retries) {
        Retry(index, rec);
      } else {
        Fail(index, rec, message);
      }
      break;
    }
    case FailureKind::kNonRetryable:
      Fail(index, rec, message);
      break;
    case FailureKind::kSystem:
      if (rec.system_failures < policy_.system_retries && rec.attempt < 0x3f) {
        rec.system_failures++;
        Retry(index, rec);
      } else {
        Fail(index, rec, std::string(message) + " (system retries exhausted)");
      }
      break;
  }
  Evaluate();
  return true;
}

void ArrayNode::SetPolicy(const ArrayNodePolicy& policy) {
  policy_ = policy;
  min_successes_ = policy.min_successes < 0 ? n_ : std::min<int64_t>(policy.min_successes, n_);
  Evaluate();
}

void ArrayNode::AbortAll() {
  if (done()) return;
  for (uint32_t i = 0; i < n_; ++i) {
    SubtaskRecord rec = Record(i);
    auto p = static_cast<SubtaskPhase>(rec.phase);
    if (p == SubtaskPhase::kRunning || p == SubtaskPhase::kRetrying) {
      aborts_.push_back({i, rec.attempt, p == SubtaskPhase::kRunning});
      SetPhase(i, rec, SubtaskPhase::kAborted);
    }
  }
  retry_queue_.clear();
  phase_ = NodePhase::kAborted;
}

void ArrayNode::Evaluate() {
  if (done()) return;
  uint64_t succeeded = count(SubtaskPhase::kSucceeded);
  uint64_t failed = count(SubtaskPhase::kFailed) + count(SubtaskPhase::kAborted);
  if (static_cast<int64_t>(failed) > static_cast<int64_t>(n_) - min_successes_) {
    // Fail fast: the threshold can no longer be reached. Stop what runs; never start the rest.
    for (uint32_t i = 0; i < n_ && active_ > 0; ++i) {
      SubtaskRecord rec = Record(i);
      auto p = static_cast<SubtaskPhase>(rec.phase);
      if (p == SubtaskPhase::kRunning || p == SubtaskPhase::kRetrying) {
        aborts_.push_back({i, rec.attempt, p == SubtaskPhase::kRunning});
        SetPhase(i, rec, SubtaskPhase::kAborted);
      }
    }
    retry_queue_.clear();
    phase_ = NodePhase::kFailed;
    return;
  }
  if (succeeded + failed == n_) {
    phase_ = static_cast<int64_t>(succeeded) >= min_successes_ ? NodePhase::kSucceeded
                                                              : NodePhase::kFailed;
  }
}

std::vector<ArrayNode::Abort> ArrayNode::TakeAborts() { return std::exchange(aborts_, {}); }

std::string FormatIndexRanges(const std::vector<uint32_t>& sorted, size_t max_bytes) {
  std::string out;
  size_t i = 0;
  while (i < sorted.size()) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    std::string part = "[" + std::to_string(sorted[i]);
    if (j > i) part += "-" + std::to_string(sorted[j]);
    part += "]";
    if (out.size() + part.size() > max_bytes) {
      out += "[...]";
      break;
    }
    out += part;
    i = j + 1;
  }
  return out;
}

std::string ArrayNode::ErrorSummary(size_t max_bytes) const {
  std::string out;
  for (const auto& [message, indices] : failures_) {
    std::vector<uint32_t> sorted = indices;
    std::sort(sorted.begin(), sorted.end());
    std::string part = FormatIndexRanges(sorted) + ": " + message;
    if (!out.empty()) part = "; " + part;
    if (out.size() + part.size() > max_bytes) {
      out += "; ...";
      break;
    }
    out += part;
  }
  return out;
}

size_t ArrayNode::StateBytes() const {
  size_t failures = 0;
  for (const auto& [m, v] : failures_) failures += m.size() + v.capacity() * sizeof(uint32_t);
  return sizeof(*this) + records_.bytes() + retry_queue_.size() * sizeof(uint32_t) + failures;
}

}  // namespace fanout
