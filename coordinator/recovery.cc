#include "coordinator/recovery.h"

#include <algorithm>

namespace fanout {

Recovery::Recovery(const Clock& clock, int64_t grace_ms) : clock_(clock), grace_ms_(grace_ms) {}

std::string Recovery::ClaimKey(std::string_view exec, std::string_view node, uint32_t index) {
  std::string k;
  k.reserve(exec.size() + node.size() + 12);
  k.append(exec).push_back('\0');
  k.append(node).push_back('\0');
  k.append(std::to_string(index));
  return k;
}

void Recovery::HoldClaim(std::string_view exec, std::string_view node, uint32_t index,
                         uint32_t attempt, WorkerNo worker) {
  claims_[ClaimKey(exec, node, index)] = HeldClaim{worker, attempt, clock_.NowMs()};
}

std::optional<WorkerNo> Recovery::Restored(SubtaskId id, std::string_view exec, std::string_view node,
                                           uint32_t attempt) {
  auto c = claims_.find(ClaimKey(exec, node, id.index));
  if (c != claims_.end()) {
    HeldClaim claim = c->second;
    claims_.erase(c);
    if (claim.attempt == attempt) return claim.worker;
  }
  unclaimed_[id.packed()] = Unclaimed{attempt, clock_.NowMs() + grace_ms_};
  return std::nullopt;
}

std::vector<std::pair<uint32_t, int64_t>> Recovery::CarryGrace(
    NodeUid node, const std::map<uint32_t, int64_t>& first_seen) {
  std::vector<std::pair<uint32_t, int64_t>> fresh;
  int64_t now = clock_.NowMs(), now_wall = clock_.WallMs();
  for (auto& [key, u] : unclaimed_) {
    SubtaskId id = SubtaskId::Unpack(key);
    if (id.node != node) continue;
    auto it = first_seen.find(id.index);
    if (it == first_seen.end()) {
      fresh.emplace_back(id.index, now_wall);
    } else {
      u.deadline_ms = now + std::max<int64_t>(0, it->second + grace_ms_ - now_wall);
    }
  }
  std::sort(fresh.begin(), fresh.end());
  return fresh;
}

bool Recovery::Claim(SubtaskId id, uint32_t attempt) {
  auto it = unclaimed_.find(id.packed());
  if (it == unclaimed_.end() || it->second.attempt != attempt) return false;
  unclaimed_.erase(it);
  return true;
}

bool Recovery::Forget(SubtaskId id) { return unclaimed_.erase(id.packed()) > 0; }

std::vector<AttemptRef> Recovery::Expire() {
  std::vector<AttemptRef> out;
  int64_t now = clock_.NowMs();
  for (auto it = unclaimed_.begin(); it != unclaimed_.end();) {
    if (now >= it->second.deadline_ms) {
      out.push_back({SubtaskId::Unpack(it->first), it->second.attempt});
      it = unclaimed_.erase(it);
    } else {
      ++it;
    }
  }
  std::erase_if(claims_, [&](const auto& kv) { return now - kv.second.at_ms > grace_ms_; });
  std::sort(out.begin(), out.end(), [](const AttemptRef& a, const AttemptRef& b) {
    return a.id.packed() < b.id.packed();
  });
  return out;
}

}  // namespace fanout
