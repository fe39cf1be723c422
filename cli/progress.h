// Progress of an execution on stderr (DESIGN §3.2): on a terminal, one live bar per map node
// redrawn in place; otherwise one plain line per node every few seconds and at the end.
//
// The line rendering and rate/ETA arithmetic are pure (tested); Progress owns the stream and
// the redraw state. Not thread-safe; one per watch loop.
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cli/format.h"

namespace fanout::cli {

// One node of a STATUS document, with its subtask counts.
struct NodeProgress {
  std::string id;
  bool is_map = false;
  std::string phase;  // PENDING RUNNING SUCCEEDED FAILED ABORTED SKIPPED
  int64_t size = 0;
  int64_t queued = 0, running = 0, succeeded = 0, failed = 0, aborted = 0, retrying = 0,
          cached = 0, waiting_for_cache = 0;
  std::string waiting;  // why nothing can be placed (no worker offers the function, ...)

  // Subtasks that reached a terminal phase. Cache hits are SUCCEEDED subtasks with a flag
  // (DESIGN §4), so `cached` is part of `succeeded` ... unless the coordinator counts them
  // apart, which shows as the counts summing to the size only with `cached` added.
  int64_t Done() const;
  bool Terminal() const;
};

std::vector<NodeProgress> ParseNodes(const Json& status);

// Completion rate from recent samples (a sliding window), for rate and ETA.
class RateTracker {
 public:
  explicit RateTracker(int64_t window_ms = 10'000) : window_ms_(window_ms) {}
  void Add(int64_t now_ms, int64_t done);
  // Subtasks per second over the window; 0 until two samples at different times.
  double Rate() const;

 private:
  int64_t window_ms_;
  std::deque<std::pair<int64_t, int64_t>> samples_;  // (time, done)
};

// "ETA 2s", "ETA 1m05s", or "ETA -" when the rate is unknown.
std::string FormatEta(int64_t remaining, double rate);

// The terminal bar line:
//   `totals  [#######.....]  70/100  running 8  failed 1  cached 0  123/s  ETA 2s`
// label_width pads the id; width is the terminal width; the bar takes what is left after the
// label and a fixed reserve for the tail (clamped to [10, 40] cells), so it never jitters.
// A terminal node shows its phase instead of rate and ETA.
std::string RenderBarLine(const NodeProgress& n, double rate, size_t label_width, int width);

// The plain (non-terminal) line: `totals RUNNING 70/100 running 8 failed 1 cached 0 123/s ETA 2s`.
std::string RenderPlainLine(const NodeProgress& n, double rate);

class Progress {
 public:
  // tty: redraw in place with ANSI codes; otherwise plain lines every plain_interval_ms.
  Progress(std::FILE* out, bool tty, int64_t plain_interval_ms = 2000);

  // Feeds a STATUS document; draws when due.
  void Update(const Json& status, int64_t now_ms);
  // Feeds the final STATUS document and draws it once more (always).
  void Finish(const Json& status, int64_t now_ms);

 private:
  void Draw(const std::vector<NodeProgress>& nodes);
  std::vector<NodeProgress> Track(const Json& status, int64_t now_ms);

  std::FILE* out_;
  bool tty_;
  int64_t plain_interval_ms_;
  int64_t last_plain_ms_ = -1;
  int drawn_lines_ = 0;
  std::map<std::string, RateTracker> rates_;
  // Plain mode: the last line printed for each task node; a task node has no progress to
  // report, so its line is printed again only when its phase changes.
  std::map<std::string, std::string> last_task_line_;
};

// The terminal width of fd (TIOCGWINSZ), or 80.
int TerminalWidth(int fd);

}  // namespace fanout::cli
