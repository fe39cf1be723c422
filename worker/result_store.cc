#include "worker/result_store.h"

#include <algorithm>

namespace fanout::worker {

void ResultStore::Add(wire::ResultItem result) {
  wire::SubtaskKey key = result.key;
  Entry& e = held_[key];
  e.result = std::move(result);
  e.seq = next_seq_++;
  if (!e.queued) {
    e.queued = true;
    unsent_.push_back(std::move(key));
  }
}

bool ResultStore::Ack(const wire::SubtaskKey& key) {
  // A queued key of an erased entry is skipped by TakeBatch.
  return held_.erase(key) != 0;
}

bool ResultStore::Resend(const wire::SubtaskKey& key) {
  auto it = held_.find(key);
  if (it == held_.end()) return false;
  if (!it->second.queued) {
    it->second.queued = true;
    unsent_.push_back(key);
  }
  return true;
}

void ResultStore::ResendAll() {
  std::vector<std::pair<uint64_t, wire::SubtaskKey>> order;
  for (auto& [key, e] : held_) {
    if (!e.queued) order.emplace_back(e.seq, key);
  }
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [seq, key] : order) {
    held_[key].queued = true;
    unsent_.push_back(std::move(key));
  }
}

std::vector<wire::ResultItem> ResultStore::TakeBatch(size_t max_items, size_t max_bytes) {
  std::vector<wire::ResultItem> batch;
  batch.reserve(std::min(max_items, unsent_.size()));
  size_t bytes = 0;
  while (!unsent_.empty() && batch.size() < max_items) {
    const wire::SubtaskKey& key = unsent_.front();
    auto it = held_.find(key);
    if (it == held_.end() || !it->second.queued) {  // acked meanwhile
      unsent_.pop_front();
      continue;
    }
    const wire::ResultItem& r = it->second.result;
    size_t size = r.outputs.size() + r.error.size() + r.checkpoint.size() + r.log.size() +
                  r.key.exec.size() + r.key.node.size() + 64;
    if (!batch.empty() && bytes + size > max_bytes) break;  // the rest go in the next batch
    bytes += size;
    it->second.queued = false;
    batch.push_back(r);
    unsent_.pop_front();
  }
  return batch;
}

}  // namespace fanout::worker
