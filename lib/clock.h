// Clock: where VastSky reads the time it judges by. Silence, deadlines and
// back-offs are measured on a monotonic clock, which never steps: a wall
// clock set an hour forward (NTP, an operator, a VM resumed) must not make
// every server look an hour silent. Wall time is only for what people read
// (event ctimes, last_seen). Tests substitute a FakeClock.
// Both implementations are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

namespace vastsky {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since an arbitrary fixed point; never goes back.
  virtual int64_t MonotonicMs() const = 0;
};

// The process's steady clock (CLOCK_MONOTONIC). Never null.
const Clock* SystemClock();

// A clock that moves only when told to.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start_ms = 1000000) : now_ms_(start_ms) {}
  int64_t MonotonicMs() const override { return now_ms_.load(); }
  void Advance(int64_t ms) { now_ms_ += ms; }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace vastsky
