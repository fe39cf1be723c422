#include "coordinator/placement.h"

#include <fmt/format.h>

#include <algorithm>

namespace fanout {
namespace {

bool Offers(const WorkerView& w, const NodeNeeds& n) {
  if (n.command) return true;
  if (w.functions == nullptr) return false;
  return std::find(w.functions->begin(), w.functions->end(), n.function) != w.functions->end();
}

std::string Mem(int64_t bytes) {
  if (bytes >= (int64_t{1} << 30) && bytes % (int64_t{1} << 30) == 0)
    return std::to_string(bytes >> 30) + "Gi";
  if (bytes >= (int64_t{1} << 20) && bytes % (int64_t{1} << 20) == 0)
    return std::to_string(bytes >> 20) + "Mi";
  return std::to_string(bytes);
}

}  // namespace

bool Eligible(const WorkerView& w, const NodeNeeds& n) {
  if (w.draining || !Offers(w, n)) return false;
  if (w.interruptible && !n.interruptible) return false;  // never on preemptible workers
  return w.cpu + 1e-9 >= n.requests.cpu && w.mem_bytes >= n.requests.mem_bytes;
}

size_t Fits(const WorkerView& w, const NodeNeeds& n) {
  if (w.free_slots == 0 || !Eligible(w, n)) return 0;
  size_t fit = w.free_slots;
  if (n.requests.cpu > 0)
    fit = std::min<size_t>(fit, static_cast<size_t>(std::max(0.0, (w.free_cpu + 1e-9) / n.requests.cpu)));
  if (n.requests.mem_bytes > 0)
    fit = std::min<size_t>(fit, static_cast<size_t>(std::max<int64_t>(0, w.free_mem / n.requests.mem_bytes)));
  return fit;
}

int MaxSystemFailures(const WorkerView& w, int system_retries) {
  return w.interruptible ? system_retries - 1 : 0x7fffffff;
}

std::string WaitingReason(const std::vector<WorkerView>& workers, const NodeNeeds& n) {
  bool any = false, offered = false, compatible = false;
  double max_cpu = 0;
  int64_t max_mem = 0;
  for (const WorkerView& w : workers) {
    if (w.draining) continue;
    any = true;
    if (!Offers(w, n)) continue;
    offered = true;
    if (w.interruptible && !n.interruptible) continue;
    compatible = true;
    max_cpu = std::max(max_cpu, w.cpu);
    max_mem = std::max(max_mem, w.mem_bytes);
    if (Eligible(w, n)) return "";
  }
  if (!any) return "no workers connected";
  if (!offered) return "no connected worker offers function '" + std::string(n.function) + "'";
  if (!compatible)
    return "the task is not interruptible and only interruptible workers are connected";
  return fmt::format("requests cpu={:g} mem={} fit no connected worker (largest: cpu={:g} mem={})",
                     n.requests.cpu, Mem(n.requests.mem_bytes), max_cpu, Mem(max_mem));
}

}  // namespace fanout
