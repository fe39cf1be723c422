#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/phases.h"
#include "common/status_doc.h"

namespace fanout::cli {

int64_t NodeProgress::Done() const {
  int64_t all = queued + running + succeeded + failed + aborted + retrying + waiting_for_cache;
  int64_t done = succeeded + failed + aborted;
  if (cached > 0 && all + cached == size && all != size) done += cached;
  return std::min(done, size);
}

bool NodeProgress::Terminal() const {
  auto p = ParseNodePhase(phase);
  return p && IsTerminal(*p);
}

std::vector<NodeProgress> ParseNodes(const Json& status) {
  std::vector<NodeProgress> out;
  auto doc = ExecutionStatus::FromJson(status);
  if (!doc) return out;
  for (const NodeStatus& n : doc->nodes) {
    NodeProgress p;
    p.id = n.id;
    p.is_map = n.is_map;
    p.phase = NodePhaseName(n.phase);
    p.size = static_cast<int64_t>(n.size);
    p.queued = static_cast<int64_t>(n.count(SubtaskPhase::kQueued));
    p.running = static_cast<int64_t>(n.count(SubtaskPhase::kRunning));
    p.succeeded = static_cast<int64_t>(n.count(SubtaskPhase::kSucceeded));
    p.failed = static_cast<int64_t>(n.count(SubtaskPhase::kFailed));
    p.aborted = static_cast<int64_t>(n.count(SubtaskPhase::kAborted));
    p.retrying = static_cast<int64_t>(n.count(SubtaskPhase::kRetrying));
    p.cached = static_cast<int64_t>(n.cached);
    p.waiting_for_cache = static_cast<int64_t>(n.count(SubtaskPhase::kWaitingForCache));
    p.waiting = n.waiting.message;
    out.push_back(std::move(p));
  }
  return out;
}

void RateTracker::Add(int64_t now_ms, int64_t done) {
  samples_.emplace_back(now_ms, done);
  while (samples_.size() > 2 && samples_.front().first < now_ms - window_ms_) samples_.pop_front();
}

double RateTracker::Rate() const {
  if (samples_.size() < 2) return 0;
  auto [t0, d0] = samples_.front();
  auto [t1, d1] = samples_.back();
  if (t1 <= t0 || d1 < d0) return 0;
  return static_cast<double>(d1 - d0) * 1000.0 / static_cast<double>(t1 - t0);
}

std::string FormatEta(int64_t remaining, double rate) {
  if (remaining <= 0) return "ETA 0s";
  if (rate <= 0) return "ETA -";
  double secs = static_cast<double>(remaining) / rate;
  if (secs > 100.0 * 3600) return "ETA -";
  int64_t s = static_cast<int64_t>(std::ceil(secs));
  if (s < 60) return fmt::format("ETA {}s", s);
  if (s < 3600) return fmt::format("ETA {}m{:02}s", s / 60, s % 60);
  return fmt::format("ETA {}h{:02}m", s / 3600, (s % 3600) / 60);
}

namespace {

std::string FormatRate(double rate) {
  if (rate >= 100) return fmt::format("{:.0f}/s", rate);
  if (rate >= 10) return fmt::format("{:.1f}/s", rate);
  return fmt::format("{:.2f}/s", rate);
}

// Everything after the bar; the tail of both line forms.
std::string Tail(const NodeProgress& n, double rate) {
  std::string s = fmt::format("{}/{}  running {}  failed {}  cached {}", n.Done(), n.size,
                              n.running, n.failed, n.cached);
  if (n.retrying > 0) s += fmt::format("  retrying {}", n.retrying);
  if (n.waiting_for_cache > 0) s += fmt::format("  waiting {}", n.waiting_for_cache);
  if (n.Terminal()) {
    s += "  " + n.phase;
  } else if (n.phase == "PENDING") {
    s += "  PENDING";
  } else if (!n.waiting.empty()) {
    s += "  waiting: " + n.waiting;  // no rate or ETA: nothing moves until this changes
  } else {
    s += "  " + FormatRate(rate) + "  " + FormatEta(n.size - n.Done(), rate);
  }
  return s;
}

}  // namespace

std::string RenderBarLine(const NodeProgress& n, double rate, size_t label_width, int width) {
  std::string label = n.id;
  if (label.size() < label_width) label += std::string(label_width - label.size(), ' ');
  if (!n.is_map) {
    // A plain task node: one subtask; its phase says it all.
    return fmt::format("{}  {}", label, n.phase);
  }
  std::string tail = Tail(n, rate);
  // The bar's width depends on the terminal and the label only, not on the tail (whose length
  // changes with the counts), so it does not jitter between redraws.
  constexpr int kTailReserve = 64;
  int fixed = static_cast<int>(label.size()) + 6 + kTailReserve;  // label, "  [", "]  ", tail
  int cells = std::clamp(width - 1 - fixed, 10, 40);
  int filled = n.size > 0 ? static_cast<int>(n.Done() * cells / n.size) : (n.Terminal() ? cells : 0);
  filled = std::clamp(filled, 0, cells);
  return fmt::format("{}  [{}{}]  {}", label, std::string(filled, '#'),
                     std::string(cells - filled, '.'), tail);
}

std::string RenderPlainLine(const NodeProgress& n, double rate) {
  if (!n.is_map) return fmt::format("{} {}", n.id, n.phase);
  std::string tail = Tail(n, rate);
  // The plain form is space-separated single fields, easier to grep.
  std::string squeezed;
  for (size_t i = 0; i < tail.size(); ++i) {
    if (tail[i] == ' ' && i + 1 < tail.size() && tail[i + 1] == ' ') continue;
    squeezed += tail[i];
  }
  return fmt::format("{} {}", n.id, squeezed);
}

Progress::Progress(std::FILE* out, bool tty, int64_t plain_interval_ms)
    : out_(out), tty_(tty), plain_interval_ms_(plain_interval_ms) {}

std::vector<NodeProgress> Progress::Track(const Json& status, int64_t now_ms) {
  std::vector<NodeProgress> nodes = ParseNodes(status);
  for (const NodeProgress& n : nodes) rates_[n.id].Add(now_ms, n.Done());
  return nodes;
}

void Progress::Update(const Json& status, int64_t now_ms) {
  std::vector<NodeProgress> nodes = Track(status, now_ms);
  if (!tty_) {
    if (last_plain_ms_ >= 0 && now_ms - last_plain_ms_ < plain_interval_ms_) return;
    last_plain_ms_ = now_ms;
  }
  Draw(nodes);
}

void Progress::Finish(const Json& status, int64_t now_ms) { Draw(Track(status, now_ms)); }

void Progress::Draw(const std::vector<NodeProgress>& nodes) {
  if (tty_) {
    size_t label_width = 0;
    for (const auto& n : nodes) label_width = std::max(label_width, n.id.size());
    int width = TerminalWidth(fileno(out_));
    std::string buf;
    if (drawn_lines_ > 0) buf += fmt::format("\x1b[{}A", drawn_lines_);
    for (const auto& n : nodes) {
      std::string line = RenderBarLine(n, rates_[n.id].Rate(), label_width, width);
      if (static_cast<int>(line.size()) >= width) line.resize(std::max(width - 1, 1));
      buf += "\r\x1b[2K" + line + "\n";
    }
    drawn_lines_ = static_cast<int>(nodes.size());
    std::fputs(buf.c_str(), out_);
  } else {
    for (const auto& n : nodes) {
      std::string line = RenderPlainLine(n, rates_[n.id].Rate());
      if (!n.is_map) {
        std::string& last = last_task_line_[n.id];
        if (last == line) continue;
        last = line;
      }
      std::fprintf(out_, "%s\n", line.c_str());
    }
  }
  std::fflush(out_);
}

int TerminalWidth(int fd) {
  struct winsize ws {};
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

}  // namespace fanout::cli
