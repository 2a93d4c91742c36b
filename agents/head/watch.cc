#include "agents/head/watch.h"

#include <chrono>

namespace vastsky {

void HeadWatch::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    assembly_->Reconcile();
    std::vector<int64_t> dead = assembly_->Watch();
    HeadLook look;
    const bool listed = assembly_->List(&look.volumes).ok();
    look.at_ms = clock_->MonotonicMs();
    lock.lock();
    dead_legs_.swap(dead);
    if (listed) last_look_ = std::move(look);
    cv_.wait_for(lock, std::chrono::seconds(period_s_), [this] { return stop_; });
  }
}

void HeadWatch::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = true;
  cv_.notify_all();
}

std::vector<int64_t> HeadWatch::DeadLegs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dead_legs_;
}

HeadLook HeadWatch::LastLook() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_look_;
}

}  // namespace vastsky
