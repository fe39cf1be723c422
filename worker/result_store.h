// ResultStore: finished results held until the coordinator acknowledges them (DESIGN §1).
//
// A result stays until an ACK for exactly its key (exec, node, index, attempt) arrives; an ACK
// of another attempt of the same subtask releases nothing. Results not yet sent (new ones, and
// every held one after a reconnect) are queued for the next RESULT batch. Loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <vector>

#include "common/wire.h"
#include "worker/subtask_key.h"

namespace fanout::worker {

class ResultStore {
 public:
  // Holds a result and queues it for sending. A result for a key already held replaces it
  // (and is sent again).
  void Add(wire::ResultItem result);

  // Releases the result of exactly this key. Returns false when none was held.
  bool Ack(const wire::SubtaskKey& key);

  // Queues the held result of this key for sending again (e.g. a duplicate WORK); false if
  // none is held.
  bool Resend(const wire::SubtaskKey& key);

  // Queues every held result for sending again, in the order they finished: after a
  // (re)connect's WELCOME.
  void ResendAll();

  // Takes up to max_items queued results that are still held, for one RESULT batch, stopping
  // before the batch would exceed about max_bytes (outputs, errors and checkpoints can be large;
  // a single result is always taken).
  std::vector<wire::ResultItem> TakeBatch(size_t max_items, size_t max_bytes = SIZE_MAX);

  bool has_unsent() const { return !unsent_.empty(); }
  size_t held() const { return held_.size(); }
  bool is_held(const wire::SubtaskKey& key) const { return held_.count(key) != 0; }
  // The keys of every held result (announced in HELLO, so a restarted coordinator keeps
  // those attempts current until their results arrive).
  std::vector<wire::SubtaskKey> HeldKeys() const {
    std::vector<wire::SubtaskKey> out;
    out.reserve(held_.size());
    for (const auto& [k, e] : held_) out.push_back(k);
    return out;
  }

 private:
  struct Entry {
    wire::ResultItem result;
    uint64_t seq = 0;     // finish order
    bool queued = false;  // in unsent_
  };
  std::map<wire::SubtaskKey, Entry, SubtaskKeyLess> held_;
  std::deque<wire::SubtaskKey> unsent_;
  uint64_t next_seq_ = 0;
};

}  // namespace fanout::worker
