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

// Human form of a byte count: "2Gi", "512Mi", else "1.5 GiB"-like with one decimal.
std::string Mem(int64_t bytes) {
  constexpr int64_t kGi = int64_t{1} << 30, kMi = int64_t{1} << 20;
  if (bytes >= kGi && bytes % kGi == 0) return std::to_string(bytes / kGi) + "Gi";
  if (bytes >= kMi && bytes % kMi == 0) return std::to_string(bytes / kMi) + "Mi";
  if (bytes >= kGi) return fmt::format("{:.1f}Gi", static_cast<double>(bytes) / kGi);
  if (bytes >= kMi) return fmt::format("{:.1f}Mi", static_cast<double>(bytes) / kMi);
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes / 1024) + "Ki";
  return std::to_string(bytes);  // bytes, as a spec gives them without a unit
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
  if (n.command) fit = std::min<size_t>(fit, w.free_command_slots);
  if (n.requests.cpu > 0)
    fit = std::min<size_t>(fit, static_cast<size_t>(std::max(0.0, (w.free_cpu + 1e-9) / n.requests.cpu)));
  if (n.requests.mem_bytes > 0)
    fit = std::min<size_t>(fit, static_cast<size_t>(std::max<int64_t>(0, w.free_mem / n.requests.mem_bytes)));
  return fit;
}

void Take(WorkerView& w, const NodeNeeds& n, uint32_t count) {
  w.free_slots -= std::min(w.free_slots, count);
  if (n.command) w.free_command_slots -= std::min(w.free_command_slots, count);
  w.free_cpu -= n.requests.cpu * count;
  w.free_mem -= n.requests.mem_bytes * static_cast<int64_t>(count);
}

int MaxSystemFailures(const WorkerView& w, int system_retries) {
  return w.interruptible ? system_retries - 1 : 0x7fffffff;
}

Waiting WaitingFor(const std::vector<WorkerView>& workers, const NodeNeeds& n) {
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
    if (Eligible(w, n)) return {};
  }
  if (!any) return {WaitReason::kNoWorkers, "", "no workers connected"};
  if (!offered)
    return {WaitReason::kFunctionNotOffered, std::string(n.function),
            "no connected worker offers function '" + std::string(n.function) + "'"};
  if (!compatible)
    return {WaitReason::kOnlyInterruptibleWorkers, "",
            "the task is not interruptible and only interruptible workers are connected"};
  return {WaitReason::kRequestsFitNoWorker, "",
          fmt::format("requests cpu={:g} mem={} fit no connected worker (largest: cpu={:g} mem={})",
                      n.requests.cpu, Mem(n.requests.mem_bytes), max_cpu, Mem(max_mem))};
}

}  // namespace fanout
