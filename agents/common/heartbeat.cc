#include "agents/common/heartbeat.h"

#include <cerrno>
#include <chrono>

#include "lib/manager_link.h"
#include "lib/log.h"

namespace vastsky {

HeartbeatLoop::HeartbeatLoop(std::string what, int period_s, std::function<Status()> reg,
                             std::function<Status()> beat)
    : what_(std::move(what)), period_s_(period_s), reg_(std::move(reg)), beat_(std::move(beat)) {}

Status HeartbeatLoop::RegisterNow() {
  Status st = reg_();
  registered_ = st.ok();
  return st;
}

void HeartbeatLoop::Tick() {
  Status st;
  if (!registered_) {
    st = RegisterNow();
  } else {
    st = beat_();
    if (st.code() == ENOENT) {
      VS_LOG_WARN("the manager no longer knows this %s; registering again", what_.c_str());
      st = RegisterNow();
    }
  }
  if (ManagerLink::Unreachable(st)) {
    if (!outage_)
      VS_LOG_WARN("manager unreachable (%s); still serving, retrying every %d s", st.ToString().c_str(), period_s_);
    outage_ = true;
    // It may have lost or failed us meanwhile: register again on return.
    registered_ = false;
    return;
  }
  if (outage_) VS_LOG_INFO("manager reachable again");
  outage_ = false;
  if (!st.ok()) VS_LOG_ERROR("manager refused this %s: %s", what_.c_str(), st.ToString().c_str());
}

void HeartbeatLoop::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    Tick();
    lock.lock();
    cv_.wait_for(lock, std::chrono::seconds(period_s_), [this] { return stop_; });
  }
}

void HeartbeatLoop::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = true;
  cv_.notify_all();
}

}  // namespace vastsky
