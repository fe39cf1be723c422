// CacheGate: serialized caching (`cache.serialize: true`, DESIGN §4). Concurrent subtasks with
// the same cache key, in any execution and any coordinator, run once: the first takes the key's
// reservation in the store (owner + TTL); the others wait in WAITING_FOR_CACHE, holding no
// slot, and take its result when it is cached, or take the reservation over when its owner
// let it go (its subtask failed, its coordinator died and the TTL ran out).
//
// The gate owns the reservations this coordinator holds and the waiters; it renews held
// reservations while their subtasks live (at a third of the TTL, by the injected Clock). What
// a hit or a take-over means for a subtask is the caller's (callbacks). Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "coordinator/ids.h"
#include "coordinator/store.h"

namespace fanout {

class CacheGate {
 public:
  CacheGate(Store& store, const Clock& clock, int64_t ttl_ms);

  // Tries to take `key` for subtask `id`. cb(true): it is ours (also when the store could not
  // answer: running twice is better than waiting forever); cb(false): somebody else holds it.
  void Reserve(const std::string& key, SubtaskId id, std::function<void(bool mine)> cb);
  // The subtask ended: its reservation, if it holds one, is released (a waiter takes over).
  void Release(SubtaskId id);
  // `id` waits for `key`'s result.
  void Wait(const std::string& key, SubtaskId id);

  struct Handlers {
    std::function<bool(SubtaskId)> live;  // does the subtask still need its reservation or wait?
    // The key's result is cached: these waiters complete from it.
    std::function<void(const std::vector<SubtaskId>&, const std::string& outputs)> on_hit;
    std::function<void(SubtaskId)> on_take_over;  // a waiter now holds the reservation: run it
  };
  // Called on every heartbeat tick: renews held reservations that are due, drops those whose
  // subtask is gone, and looks every waited key up.
  void Tick(const Handlers& h);

  size_t held() const { return held_.size(); }
  size_t waiting() const;

 private:
  std::string Owner(SubtaskId id) const;

  Store& store_;
  const Clock& clock_;
  int64_t ttl_ms_;
  int64_t last_renewal_ms_ = 0;
  std::unordered_map<std::string, SubtaskId> held_;       // key → our subtask that holds it
  std::unordered_map<uint64_t, std::string> held_by_;     // SubtaskId::packed → key
  std::unordered_map<std::string, std::vector<SubtaskId>> waiters_;  // key → waiting, in order
  uint64_t incarnation_;  // tells this coordinator's owner strings from another's
};

}  // namespace fanout
