// RebuildProgress: how far each running rebuild has come, how fast it goes
// and when it should end, from the sync ratios its head reports (dm raid's
// "done/total" sectors, read by the recovery loop at each poll).
//
// Kept in memory only: a manager that restarts starts each rebuild's rate
// afresh, which costs a few polls of "ETA unknown", never a database write
// per poll. Rates are measured on the monotonic clock over the last
// kWindowMs of samples, so a rebuild that sped up or slowed down shows its
// present pace, not its average since the start.
//
// Thread-safe: the recovery thread notes samples while API threads read.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "lib/clock.h"

namespace vastsky {

struct RebuildSample {
  int64_t done = 0, total = 0;  // bytes of the mirror in sync, of its size
};

struct RebuildEstimate {
  int64_t done = 0, total = 0;  // bytes
  double rate = 0;              // bytes per second over the window; 0 = not known yet
  int64_t eta_s = -1;           // seconds to the end at that rate; -1 = not known yet
  int64_t stalled_s = 0;        // seconds since `done` last grew (since the first sample, if never)
};

// Parses dm raid's sync ratio "12345/2097152" (sectors) into bytes. False
// for anything else.
bool ParseSyncRatio(const std::string& ratio, RebuildSample* out);

class RebuildProgress {
 public:
  static constexpr int64_t kWindowMs = 60 * 1000;

  explicit RebuildProgress(const Clock* clock) : clock_(clock) {}

  // One poll's reading for a running rebuild of `mirror_id`. A reading
  // below the last one (md restarted the recovery) starts the history over.
  void Note(int64_t mirror_id, const RebuildSample& sample);
  // Forgets every mirror not in `running` (finished, undone, requeued).
  void Retain(const std::set<int64_t>& running);
  // False if no reading of `mirror_id` was noted yet.
  bool Estimate(int64_t mirror_id, RebuildEstimate* out) const;

 private:
  struct Point {
    int64_t ms, done;
  };
  struct History {
    int64_t total = 0;
    int64_t grew_ms = 0;  // when `done` last grew
    std::deque<Point> points;
  };

  const Clock* const clock_;
  mutable std::mutex mu_;
  std::map<int64_t, History> mirrors_;
};

}  // namespace vastsky
