#include "agents/head/freezer.h"

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "lib/ids.h"
#include "lib/log.h"

namespace vastsky {

namespace {

constexpr int64_t kResumeRetryMs = 1000;

std::string Ms(int64_t ms) { return std::to_string(ms) + " ms"; }

}  // namespace

Status Freezer::Freeze(int64_t lvol, const std::vector<std::string>& devices, int timeout_ms) {
  const std::string what = FormatId("lvol", lvol);
  if (timeout_ms < kFreezeMinMs || timeout_ms > kFreezeMaxMs)
    return Status::Error(EINVAL, "timeout_ms must be " + std::to_string(kFreezeMinMs) + " to " +
                                     std::to_string(kFreezeMaxMs));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (frozen_.count(lvol)) return Status::Error(EBUSY, what + " is frozen already: thaw it first");
    // The pause starts with the first suspend: new I/O waits from then.
    Entry& e = frozen_[lvol];
    e.start_ms = clock_->MonotonicMs();
    e.deadline_ms = e.start_ms + timeout_ms;
    thawed_.erase(lvol);
  }
  Status st;
  std::vector<std::string> suspended;
  for (const std::string& d : devices) {
    st = dm_->Suspend(d);
    // A suspend that failed (ETIMEDOUT above all: it may still land) is
    // resumed too: resuming a device not suspended is harmless.
    suspended.push_back(d);
    if (!st.ok()) break;
  }
  Entry e;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& have = frozen_[lvol];
    have.devices = suspended;
    have.state = st.ok() ? State::kFrozen : State::kThawing;
    // An undone freeze counts as thawed early: a thaw asking after it
    // (the manager unsure of the answer) is ETIME, never a success.
    have.expired = !st.ok();
    e = have;
    woken_ = true;
    cv_.notify_all();
  }
  if (st.ok()) {
    VS_LOG_INFO("%s frozen for a snapshot (%zu devices suspended with flush); thawed by the head in %d ms at most",
                what.c_str(), devices.size(), timeout_ms);
    return Status::OK();
  }
  const std::string failed = suspended.back();
  VS_LOG_ERROR("freeze of %s failed at %s: %s; resuming it and the %zu device(s) suspended before it", what.c_str(),
               failed.c_str(), st.ToString().c_str(), suspended.size() - 1);
  int64_t paused_ms;
  Status undone = Resume(lvol, e, &paused_ms);
  (void)undone;  // Resume logged what stays suspended; the freeze's error is the answer
  return Status::Error(st.code(), "cannot suspend " + failed + ": " + st.message());
}

Status Freezer::Resume(int64_t lvol, Entry e, int64_t* paused_ms) {
  Status first;
  std::vector<std::string> left;  // top first, as e.devices
  for (auto d = e.devices.rbegin(); d != e.devices.rend(); ++d) {
    Status st = dm_->Resume(*d);
    if (st.ok() || st.code() == ENXIO || st.code() == ENOENT) continue;  // gone: no I/O waits on it
    left.insert(left.begin(), *d);
    if (first.ok()) first = Status::Error(st.code(), "cannot resume " + *d + ": " + st.message());
    VS_LOG_ERROR("%s stays suspended, the I/O of %s waiting: resume failed: %s; retried every second (by hand: "
                 "`dmsetup resume %s`)",
                 d->c_str(), FormatId("lvol", lvol).c_str(), st.ToString().c_str(), d->c_str());
  }
  const int64_t now = clock_->MonotonicMs();
  *paused_ms = now - e.start_ms;
  std::lock_guard<std::mutex> lock(mu_);
  if (left.empty()) {
    frozen_.erase(lvol);
    thawed_[lvol] = {e.expired, *paused_ms};
    return first;
  }
  Entry& keep = frozen_[lvol];
  keep = e;
  keep.devices = left;
  keep.state = State::kFrozen;
  keep.expired = true;
  keep.deadline_ms = now + kResumeRetryMs;
  woken_ = true;
  cv_.notify_all();
  return first;
}

Status Freezer::Thaw(int64_t lvol, int64_t* paused_ms) {
  const std::string what = FormatId("lvol", lvol);
  Entry e;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = frozen_.find(lvol);
    if (it != frozen_.end() && it->second.state == State::kThawing && it->second.expired)
      return Status::Error(ETIME, what + " is being thawed by the head (its deadline, or a failed freeze): a "
                                         "snapshot taken meanwhile may be torn; discard it");
    if (it != frozen_.end() && it->second.state != State::kFrozen)
      return Status::Error(EBUSY, what + " is being " + (it->second.state == State::kFreezing ? "frozen" : "thawed"));
    if (it == frozen_.end()) {
      auto t = thawed_.find(lvol);
      if (t != thawed_.end() && t->second.expired)
        return Status::Error(ETIME, what + " was thawed by the head after " + Ms(t->second.paused_ms) +
                                        " (its deadline, or a failed freeze): a snapshot taken meanwhile may be "
                                        "torn; discard it");
      return Status::Error(ENOENT, what + " is not frozen here");
    }
    // Past the deadline the freeze broke its bound even if the deadline
    // thread has not acted yet.
    if (clock_->MonotonicMs() >= it->second.deadline_ms) it->second.expired = true;
    it->second.state = State::kThawing;
    e = it->second;
  }
  VS_RETURN_IF_ERROR(Resume(lvol, e, paused_ms));
  if (e.expired)
    return Status::Error(ETIME, what + " stayed frozen " + Ms(*paused_ms) +
                                    ", past its deadline (or a resume failed on the way): a snapshot taken "
                                    "meanwhile may be torn; discard it");
  VS_LOG_INFO("%s thawed: its I/O paused %lld ms", what.c_str(), static_cast<long long>(*paused_ms));
  return Status::OK();
}

bool Freezer::LastPause(int64_t lvol, int64_t* paused_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto t = thawed_.find(lvol);
  if (t == thawed_.end() || t->second.expired) return false;
  *paused_ms = t->second.paused_ms;
  return true;
}

bool Freezer::Frozen(int64_t lvol) const {
  std::lock_guard<std::mutex> lock(mu_);
  return frozen_.count(lvol) > 0;
}

int64_t Freezer::ThawExpired() {
  std::vector<std::pair<int64_t, Entry>> due;
  int64_t next = -1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = clock_->MonotonicMs();
    for (auto& f : frozen_) {
      Entry& e = f.second;
      // One being frozen is looked at once frozen (Freeze wakes Run()).
      if (e.state != State::kFrozen) continue;
      if (e.deadline_ms <= now || stop_) {
        if (!e.expired)
          VS_LOG_WARN("%s frozen %lld ms, %s: the head thaws it; a snapshot taken meanwhile may be torn and is "
                      "discarded (thawVolume answers ETIME)",
                      FormatId("lvol", f.first).c_str(), static_cast<long long>(now - e.start_ms),
                      stop_ ? "the agent stopping" : "its bound");
        e.expired = true;
        e.state = State::kThawing;
        due.emplace_back(f.first, e);
      } else {
        const int64_t left = std::max<int64_t>(0, e.deadline_ms - now);
        next = next < 0 ? left : std::min(next, left);
      }
    }
  }
  for (const auto& d : due) {
    int64_t paused_ms;
    Status st = Resume(d.first, d.second, &paused_ms);
    (void)st;  // logged by Resume; retried
  }
  return due.empty() ? next : 0;
}

void Freezer::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    const int64_t next = ThawExpired();
    lock.lock();
    // Polled at least every second: the deadlines are on clock_, the wait
    // on the steady clock.
    const int64_t wait_ms = next < 0 ? kResumeRetryMs : std::min(next, kResumeRetryMs);
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return stop_ || woken_; });
    woken_ = false;
  }
  lock.unlock();
  ThawExpired();  // a stopping agent leaves no VM's I/O waiting
}

void Freezer::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = true;
  cv_.notify_all();
}

}  // namespace vastsky
