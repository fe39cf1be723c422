#include "coordinator/scheduler.h"

#include <algorithm>
#include <map>
#include <numeric>

namespace fanout {

std::vector<uint64_t> WaterFill(const std::vector<uint64_t>& base, const std::vector<uint64_t>& cap,
                                uint64_t amount) {
  size_t n = base.size();
  std::vector<uint64_t> out(n, 0);
  uint64_t total_cap = 0;
  for (uint64_t c : cap) total_cap += c;
  if (amount >= total_cap) return cap;
  // Fill level L: entry i gets min(cap_i, max(0, L - base_i)). Find the highest L whose total
  // fits in `amount`, then hand the rest out one by one to entries that sit at L.
  auto filled = [&](uint64_t level) {
    uint64_t sum = 0;
    for (size_t i = 0; i < n; ++i)
      if (level > base[i]) sum += std::min(cap[i], level - base[i]);
    return sum;
  };
  uint64_t lo = 0, hi = *std::max_element(base.begin(), base.end()) + amount + 1;
  while (lo + 1 < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (filled(mid) <= amount) lo = mid;
    else hi = mid;
  }
  uint64_t given = 0;
  for (size_t i = 0; i < n; ++i) {
    out[i] = lo > base[i] ? std::min(cap[i], lo - base[i]) : 0;
    given += out[i];
  }
  for (size_t i = 0; i < n && given < amount; ++i) {
    if (base[i] + out[i] == lo && out[i] < cap[i]) {
      ++out[i];
      ++given;
    }
  }
  return out;
}

namespace {

// Places up to `want` subtasks of demand `d` on the workers, round robin from `*cursor`, in
// batches of at most max_batch. `*flexible`: how many more may still go to interruptible
// workers (the rest are last system retries). Returns how many were placed.
uint64_t Place(std::vector<WorkerView>& workers, const Demand& d, uint64_t want, uint64_t* flexible,
               uint32_t max_batch, int system_retries, size_t* cursor, std::vector<Grant>* out) {
  uint64_t placed = 0;
  size_t nw = workers.size();
  if (nw == 0 || want == 0) return 0;
  auto fits = [&](const WorkerView& w) -> uint64_t {
    uint64_t f = Fits(w, d.needs);
    return w.interruptible ? std::min(f, *flexible) : f;
  };
  // Spread: each worker that fits gets an equal part, so a limited node does not fill the first.
  size_t fitting = 0;
  for (const WorkerView& w : workers)
    if (fits(w) > 0) ++fitting;
  if (fitting == 0) return 0;
  uint64_t part = std::max<uint64_t>(1, (want + fitting - 1) / fitting);
  bool progress = true;
  while (placed < want && progress) {
    progress = false;
    for (size_t k = 0; k < nw && placed < want; ++k) {
      WorkerView& w = workers[(*cursor + k) % nw];
      uint64_t f = fits(w);
      if (f == 0) continue;
      uint32_t take = static_cast<uint32_t>(std::min<uint64_t>({f, max_batch, part, want - placed}));
      Take(w, d.needs, take);
      if (w.interruptible) *flexible -= take;
      out->push_back(Grant{w.no, d.node, take, MaxSystemFailures(w, system_retries)});
      placed += take;
      progress = true;
    }
  }
  *cursor = (*cursor + 1) % nw;
  return placed;
}

}  // namespace

std::vector<Grant> Schedule(std::vector<WorkerView> workers, const std::vector<Demand>& demands,
                            uint32_t max_batch, int system_retries) {
  std::vector<Grant> out;
  uint64_t free = 0;
  for (const WorkerView& w : workers)
    if (!w.draining) free += w.free_slots;
  if (free == 0 || demands.empty()) return out;

  // 1. Fair shares: between groups by what they run, then between each group's nodes.
  std::map<uint32_t, std::vector<size_t>> groups;  // group → indices into demands
  for (size_t i = 0; i < demands.size(); ++i) groups[demands[i].group].push_back(i);
  std::vector<uint64_t> gbase, gcap;
  for (const auto& [g, idx] : groups) {
    uint64_t run = 0, cap = 0;
    for (size_t i : idx) {
      run += demands[i].running;
      cap += demands[i].startable;
    }
    gbase.push_back(run);
    gcap.push_back(cap);
  }
  std::vector<uint64_t> gshare = WaterFill(gbase, gcap, free);
  std::vector<uint64_t> share(demands.size(), 0);
  size_t gi = 0;
  for (const auto& [g, idx] : groups) {
    std::vector<uint64_t> base, cap;
    for (size_t i : idx) {
      base.push_back(demands[i].running);
      cap.push_back(demands[i].startable);
    }
    std::vector<uint64_t> s = WaterFill(base, cap, gshare[gi++]);
    for (size_t k = 0; k < idx.size(); ++k) share[idx[k]] = s[k];
  }

  // 2. Place the shares, the nodes that run least first.
  std::vector<size_t> order(demands.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return demands[a].running < demands[b].running; });
  std::vector<uint64_t> left(demands.size()), flexible(demands.size());
  size_t cursor = 0;
  for (size_t i : order) {
    flexible[i] = demands[i].startable - std::min(demands[i].startable, demands[i].steady_only);
    uint64_t placed = Place(workers, demands[i], share[i], &flexible[i], max_batch, system_retries, &cursor, &out);
    left[i] = demands[i].startable - placed;
  }
  // 3. Work conservation: what is still free goes to whoever can still use it.
  for (size_t i : order) {
    if (left[i] == 0) continue;
    Place(workers, demands[i], left[i], &flexible[i], max_batch, system_retries, &cursor, &out);
  }
  return out;
}

}  // namespace fanout
