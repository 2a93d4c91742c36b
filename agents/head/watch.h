// HeadWatch: the head's own look at its volumes, on a thread of its own,
// every period: Assembly::Reconcile (re-assemble what went missing) and
// Assembly::Watch (the legs dm raid holds dead; revive those that read
// again). Both may block in the kernel behind a dying disk, so the heartbeat
// never runs them: it sends the dead legs the last look found (DeadLegs()).
// A stuck disk then delays the report of dead legs, never the heartbeat
// whose absence would get a healthy head fenced. Each look also lists the
// volumes (mirror states, I/O counters) for /metrics (LastLook()), so a
// scrape never waits on the kernel. A volume frozen for a
// snapshot is left alone (assembly.h); freezes' deadlines are not kept
// here (a freeze may be shorter than a period) but by Freezer::Run.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

#include "agents/head/assembly.h"

namespace vastsky {

// What the last look found: Assembly::List's volumes, taken at at_ms on the
// monotonic clock (-1: no look listed them yet).
struct HeadLook {
  std::vector<VolumeState> volumes;
  int64_t at_ms = -1;
};

class HeadWatch {
 public:
  HeadWatch(Assembly* assembly, int period_s, const Clock* clock = SystemClock())
      : assembly_(assembly), period_s_(period_s), clock_(clock) {}
  // Looks every period until Stop().
  void Run();
  void Stop();
  // The chunks of the legs dm raid held dead at the last look.
  std::vector<int64_t> DeadLegs() const;
  HeadLook LastLook() const;

 private:
  Assembly* assembly_;
  const int period_s_;
  const Clock* clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<int64_t> dead_legs_;
  HeadLook last_look_;
};

}  // namespace vastsky
