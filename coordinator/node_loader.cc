#include "coordinator/node_loader.h"

#include <spdlog/spdlog.h>

#include "coordinator/cache_key.h"

namespace fanout {
namespace {

constexpr uint32_t kCacheChunk = 4096;

bool Queued(const NodeRun& node, uint32_t i) {
  return static_cast<SubtaskPhase>(node.array->Record(i).phase) == SubtaskPhase::kQueued;
}

}  // namespace

NodeLoader::NodeLoader(ExecutionTable& execs, Store& store, Recovery& recovery, CacheGate& cache,
                       Dispatcher& dispatcher, Hooks hooks)
    : execs_(execs),
      store_(store),
      recovery_(recovery),
      cache_(cache),
      dispatcher_(dispatcher),
      hooks_(std::move(hooks)) {}

void NodeLoader::Load(NodeRun& node) {
  NodeUid uid = node.uid;
  const std::string& src = node.exec->recovered_from;
  if (src.empty()) return LoadRecords(uid);
  // `fanout recover`: take every subtask that succeeded in the source execution first.
  store_.CopySucceeded(src, node.exec->id, node.id(), node.array->size(), [this, uid, src](Result<int64_t> n) {
    NodeRun* node = execs_.Node(uid);
    if (node == nullptr) return;
    if (!n && n.error().code() == Code::kFailedPrecondition) return hooks_.fenced();
    if (!n) {
      spdlog::warn("exec={} node={}: cannot reuse subtasks of {}: {}", node->exec->id, node->id(), src,
                   n.error().message());
    } else if (*n > 0) {
      spdlog::info("exec={} node={}: reused {} succeeded subtask(s) of {}", node->exec->id, node->id(), *n, src);
    }
    LoadRecords(uid);
  });
}

void NodeLoader::LoadRecords(NodeUid uid) {
  NodeRun& n = *execs_.Node(uid);
  store_.LoadRecords(n.exec->id, n.id(), n.array->size(), [this, uid](Result<std::vector<uint16_t>> recs) {
    NodeRun* node = execs_.Node(uid);
    if (node == nullptr) return;
    if (!recs) return hooks_.failed(*node, "cannot load subtask records: " + recs.error().message());
    size_t restored = 0, running = 0;
    for (uint32_t i = 0; i < recs->size(); ++i) {
      if ((*recs)[i] == 0) continue;
      SubtaskRecord rec = UnpackRecord((*recs)[i]);
      node->array->Restore(i, rec);
      ++restored;
      if (static_cast<SubtaskPhase>(rec.phase) != SubtaskPhase::kRunning) continue;
      if (node->def->target == NodeTarget::kLaunchPlan) {
        hooks_.adopt_child(*node, i, rec.attempt);
        continue;
      }
      ++running;
      // Its worker may still run it: claimed already (HELLO before this restore), or it waits.
      if (auto worker = recovery_.Restored(node->Subtask(i), node->exec->id, node->id(), rec.attempt))
        dispatcher_.Adopt(*node, i, rec.attempt, *worker);
    }
    if (restored > 0)
      spdlog::info("exec={} node={}: restored {} subtask records ({} succeeded, {} running)", node->exec->id,
                   node->id(), restored, node->array->count(SubtaskPhase::kSucceeded), running);
    if (running == 0) return ListCheckpoints(uid, restored);
    store_.LoadUnclaimed(node->exec->id, node->id(), [this, uid, restored](auto first_seen) {
      NodeRun* node = execs_.Node(uid);
      if (node == nullptr) return;
      if (first_seen) store_.MarkUnclaimed(node->exec->id, node->id(), recovery_.CarryGrace(uid, *first_seen));
      ListCheckpoints(uid, restored);
    });
  });
}

void NodeLoader::ListCheckpoints(NodeUid uid, size_t restored) {
  NodeRun& n = *execs_.Node(uid);
  bool cache = n.cache != nullptr && !n.exec->overwrite_cache;
  auto next = [this, uid, cache] { cache ? LookUpCache(uid, 0) : Ready(uid); };
  if (restored == 0) return next();  // a node never started has no checkpoints
  store_.ListCheckpoints(n.exec->id, n.id(), [this, uid, next](Result<std::vector<uint32_t>> ck) {
    NodeRun* node = execs_.Node(uid);
    if (node == nullptr) return;
    if (!ck) {
      spdlog::warn("exec={} node={}: cannot list checkpoints: {}", node->exec->id, node->id(), ck.error().message());
    } else {
      for (uint32_t i : *ck)
        if (i < node->array->size() && !IsTerminal(static_cast<SubtaskPhase>(node->array->Record(i).phase)))
          node->checkpointed.insert(i);
    }
    next();
  });
}

void NodeLoader::LookUpCache(NodeUid uid, uint32_t from) {
  NodeRun& n = *execs_.Node(uid);
  // A function's key names its build: look up the results of the build that will run it.
  std::string build;
  if (!n.task->is_command()) {
    std::vector<std::string> builds = dispatcher_.BuildsOf(n.task->function);
    if (builds.empty()) {
      // Nothing can run it yet either; the lookup resumes when a worker offers it (TickCache).
      dispatcher_.ExplainWaiting(n);
      parked_.emplace_back(uid, from);
      return;
    }
    if (builds.size() > 1) {
      // Workers of several builds (a rolling upgrade): which one runs a subtask is not known
      // yet, so nothing is served from the cache; each result is cached under the build that
      // made it.
      spdlog::warn("exec={} node={}: workers offer {} builds of function '{}'; its subtasks run without a "
                   "cache lookup",
                   n.exec->id, n.id(), builds.size(), n.task->function);
      return Ready(uid);
    }
    build = std::move(builds[0]);
  }
  uint32_t size = n.array->size();
  uint32_t to = std::min(size, from + kCacheChunk);
  std::vector<uint32_t> indices;
  std::vector<std::string> keys;
  for (uint32_t i = from; i < to; ++i) {
    if (!Queued(n, i)) continue;
    indices.push_back(i);
    keys.push_back(CacheKey(*n.task, *n.cache, n.inputs.ArgSlices(i), build));
  }
  auto next = [this, uid, to, size] { to >= size ? Ready(uid) : LookUpCache(uid, to); };
  if (indices.empty()) return next();
  store_.CacheGet(keys, [this, uid, indices, keys, next](Result<std::vector<std::optional<std::string>>> got) {
    NodeRun* node = execs_.Node(uid);
    if (node == nullptr) return;
    if (!got || got->size() != indices.size()) {
      spdlog::warn("exec={} node={}: cache lookup failed; running the subtasks", node->exec->id, node->id());
      return next();
    }
    for (size_t k = 0; k < indices.size(); ++k) {
      uint32_t i = indices[k];
      if ((*got)[k]) {
        // A hit: it waits (no dispatch) until its cached result is committed as its output.
        if (node->array->WaitForCache(i)) dispatcher_.CommitCached(*node, i, std::move(*(*got)[k]));
        continue;
      }
      if (!node->cache->serialize) continue;
      // Serialized: run only if we take the key's reservation; otherwise wait for its result.
      // Until the store answers, the subtask waits too.
      node->array->WaitForCache(i);
      cache_.Reserve(keys[k], node->Subtask(i), [this, uid, i, key = keys[k]](bool mine) {
        NodeRun* node = execs_.Node(uid);
        if (node == nullptr || !node->array) return;
        if (mine) {
          node->array->ResumeFromCacheWait(i);
          hooks_.wake();
        } else {
          cache_.Wait(key, node->Subtask(i));
        }
      });
    }
    next();
  });
}

void NodeLoader::Ready(NodeUid uid) {
  if (NodeRun* node = execs_.Node(uid)) hooks_.ready(*node);
}

void NodeLoader::TickCache() {
  std::vector<std::pair<NodeUid, uint32_t>> parked;
  parked.swap(parked_);
  for (auto [uid, from] : parked) {
    NodeRun* node = execs_.Node(uid);
    // Parks again while still nobody offers it; an aborted node is dropped.
    if (node != nullptr && node->array && node->phase == NodePhase::kRunning) LookUpCache(uid, from);
  }
  CacheGate::Handlers h;
  h.live = [this](SubtaskId id) {
    NodeRun* node = execs_.Node(id.node);
    return node != nullptr && node->array && !node->array->done() &&
           !IsTerminal(static_cast<SubtaskPhase>(node->array->Record(id.index).phase));
  };
  h.on_hit = [this](const std::vector<SubtaskId>& ids, const std::string& outputs) {
    for (SubtaskId id : ids)
      if (NodeRun* node = execs_.Node(id.node)) dispatcher_.CommitCached(*node, id.index, outputs);
  };
  h.on_take_over = [this](SubtaskId id) {
    NodeRun* node = execs_.Node(id.node);
    if (node == nullptr || !node->array) return;
    spdlog::info("exec={} node={} index={}: took the cache reservation over", node->exec->id, node->id(), id.index);
    node->array->ResumeFromCacheWait(id.index);
    hooks_.wake();
  };
  cache_.Tick(h);
}

}  // namespace fanout
