#include "coordinator/cache_gate.h"

#include <spdlog/spdlog.h>

#include <random>

namespace fanout {

CacheGate::CacheGate(Store& store, const Clock& clock, int64_t ttl_ms)
    : store_(store), clock_(clock), ttl_ms_(ttl_ms), incarnation_(std::random_device{}()) {}

std::string CacheGate::Owner(SubtaskId id) const {
  return std::to_string(incarnation_) + "/" + std::to_string(id.node) + "/" + std::to_string(id.index);
}

void CacheGate::Reserve(const std::string& key, SubtaskId id, std::function<void(bool)> cb) {
  store_.Reserve(key, Owner(id), ttl_ms_, [this, key, id, cb](Result<bool> r) {
    if (!r) spdlog::warn("cache reservation of {} failed: {}; running it", key, r.error().message());
    bool mine = !r || *r;
    if (mine) {
      held_[key] = id;
      held_by_[id.packed()] = key;
    }
    cb(mine);
  });
}

void CacheGate::Release(SubtaskId id) {
  auto it = held_by_.find(id.packed());
  if (it == held_by_.end()) return;
  store_.ReleaseReservation(it->second);
  held_.erase(it->second);
  held_by_.erase(it);
}

void CacheGate::Wait(const std::string& key, SubtaskId id) { waiters_[key].push_back(id); }

size_t CacheGate::waiting() const {
  size_t n = 0;
  for (const auto& [k, v] : waiters_) n += v.size();
  return n;
}

void CacheGate::Tick(const Handlers& h) {
  int64_t now = clock_.NowMs();
  bool renew = now - last_renewal_ms_ >= ttl_ms_ / 3;
  if (renew) last_renewal_ms_ = now;
  for (auto it = held_.begin(); it != held_.end();) {
    if (!h.live(it->second)) {
      store_.ReleaseReservation(it->first);
      held_by_.erase(it->second.packed());
      it = held_.erase(it);
      continue;
    }
    if (renew) store_.RenewReservation(it->first, ttl_ms_);
    ++it;
  }
  std::vector<std::string> keys;
  for (const auto& [key, ids] : waiters_) keys.push_back(key);
  for (const std::string& key : keys) {
    store_.CacheGet({key}, [this, key, h](Result<std::vector<std::optional<std::string>>> got) {
      auto w = waiters_.find(key);
      if (w == waiters_.end() || !got || got->size() != 1) return;
      std::vector<SubtaskId> live;
      for (SubtaskId id : w->second)
        if (h.live(id)) live.push_back(id);
      waiters_.erase(w);
      if (live.empty()) return;
      if ((*got)[0]) return h.on_hit(live, *(*got)[0]);
      // Still no result: the first waiter takes the reservation over if it is free.
      SubtaskId first = live.front();
      auto& rest = waiters_[key];
      rest.insert(rest.end(), live.begin() + 1, live.end());
      Reserve(key, first, [this, key, first, h](bool mine) {
        if (mine) {
          h.on_take_over(first);
        } else {
          auto& q = waiters_[key];
          q.insert(q.begin(), first);
        }
      });
    });
  }
}

}  // namespace fanout
