// Recovery: what a restarted coordinator does about attempts that were RUNNING when its
// predecessor stopped (DESIGN §6). Their workers may still run them: a reconnecting worker's
// HELLO claims the attempts it runs or holds, and a claimed attempt carries on. An attempt
// nobody claims within the grace window (one liveness interval) is given up and re-run as a
// system retry. HELLOs can arrive before the node they name is restored, so claims are held
// until then.
//
// The grace window runs from when a coordinator FIRST saw the attempt unclaimed, across
// restarts (the first-seen wall time is persisted by the caller): otherwise restarts closer
// together than the window would keep such attempts from ever running again.
// Pure: state and the injected Clock, no I/O. Loop thread only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "coordinator/ids.h"

namespace fanout {

class Recovery {
 public:
  Recovery(const Clock& clock, int64_t grace_ms);

  // A worker's HELLO claims (exec, node, index, attempt) of a node not restored yet.
  void HoldClaim(std::string_view exec, std::string_view node, uint32_t index, uint32_t attempt,
                 WorkerNo worker);
  // A subtask restored as RUNNING with `attempt`: the worker whose held claim matches (the
  // claim is used up), or nullopt, and then the attempt waits for a claim until its deadline.
  std::optional<WorkerNo> Restored(SubtaskId id, std::string_view exec, std::string_view node,
                                   uint32_t attempt);
  // After a node's RUNNING subtasks are restored: `first_seen` holds the wall times at which
  // earlier coordinators first saw them unclaimed. Deadlines of those run from there; the
  // returned (index, now) pairs are seen for the first time and must be persisted.
  std::vector<std::pair<uint32_t, int64_t>> CarryGrace(NodeUid node,
                                                       const std::map<uint32_t, int64_t>& first_seen);
  // A worker claims a restored attempt: true when (id, attempt) was waiting for a claim (it
  // no longer does).
  bool Claim(SubtaskId id, uint32_t attempt);
  // The subtask no longer waits (its result arrived, its node ended). True if it did wait.
  bool Forget(SubtaskId id);
  // Unclaimed attempts whose grace has run out, removed from the waiting set; also drops
  // held claims older than the grace window.
  std::vector<AttemptRef> Expire();
  size_t waiting() const { return unclaimed_.size(); }
  size_t held_claims() const { return claims_.size(); }
  int64_t grace_ms() const { return grace_ms_; }

 private:
  struct HeldClaim {
    WorkerNo worker = 0;
    uint32_t attempt = 0;
    int64_t at_ms = 0;
  };
  struct Unclaimed {
    uint32_t attempt = 0;
    int64_t deadline_ms = 0;
  };
  static std::string ClaimKey(std::string_view exec, std::string_view node, uint32_t index);

  const Clock& clock_;
  int64_t grace_ms_;
  std::unordered_map<std::string, HeldClaim> claims_;         // ClaimKey → held claim
  std::unordered_map<uint64_t, Unclaimed> unclaimed_;     // SubtaskId::packed → waiting attempt
};

}  // namespace fanout
