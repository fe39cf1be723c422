#include "coordinator/commit_queue.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <utility>

namespace fanout {

CommitQueue::CommitQueue(Store& store, std::function<void()> on_fenced)
    : store_(store), on_fenced_(std::move(on_fenced)) {}

void CommitQueue::Add(NodeUid uid, std::string_view exec, std::string_view node, CommitOp op,
                      bool notify, CommitOrigin origin) {
  Batch& b = batches_[uid];
  if (b.ops.empty()) {
    b.exec = exec;
    b.node = node;
  }
  b.ops.push_back(Pending{std::move(op), notify, std::move(origin)});
}

void CommitQueue::Flush() {
  if (batches_.empty()) return;
  auto batches = std::move(batches_);
  batches_.clear();
  for (auto& [uid, b] : batches) {
    std::vector<CommitOp> ops;
    ops.reserve(b.ops.size());
    // The payloads travel once, into the store's request; outcomes need only the rest.
    auto kept = std::make_shared<std::vector<Pending>>(std::move(b.ops));
    for (Pending& p : *kept) {
      const CommitOp& o = p.op;
      ops.push_back(CommitOp{o.kind, o.index, o.attempt, o.record, std::exchange(p.op.payload, {})});
    }
    ++in_flight_;
    store_.Commit(b.exec, b.node, ops,
                  [this, uid, kept, exec = b.exec, node = b.node](Result<std::vector<CommitResult>> r) {
                    --in_flight_;
                    if (!r && r.error().code() == Code::kFailedPrecondition) return on_fenced_();
                    if (!r) spdlog::error("exec={} node={}: write failed: {}", exec, node, r.error().message());
                    if (sink_ == nullptr) return;
                    for (size_t i = 0; i < kept->size(); ++i) {
                      const Pending& p = (*kept)[i];
                      if (!p.notify) continue;
                      CommitOutcome o = CommitOutcome::kNotDurable;
                      if (r) {
                        switch ((*r)[i]) {
                          case CommitResult::kApplied: o = CommitOutcome::kApplied; break;
                          case CommitResult::kAlreadyApplied: o = CommitOutcome::kAlreadyApplied; break;
                          case CommitResult::kRefused: o = CommitOutcome::kRefused; break;
                        }
                      }
                      sink_->OnCommitted(uid, p.op, o, p.origin);
                    }
                  });
  }
}

}  // namespace fanout
