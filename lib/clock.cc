#include "lib/clock.h"

#include <chrono>

namespace vastsky {

namespace {

class SteadyClock : public Clock {
 public:
  int64_t MonotonicMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

const Clock* SystemClock() {
  static const SteadyClock clock;
  return &clock;
}

}  // namespace vastsky
