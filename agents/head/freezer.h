// Freezer: the volumes this head holds frozen while their legs are
// snapshotted (agents/PROTOCOL.md, "Freezing a volume"). A freeze suspends
// with flush the volume's devices, top first (its I/O in flight completes,
// new I/O waits), so every leg holds the same acknowledged writes; a thaw
// resumes them in the reverse order (raids, then top). The freeze is
// bounded: past its deadline (monotonic clock) the head thaws it by itself
// and remembers that it did, so the thaw that comes later says ETIME (a
// snapshot taken meanwhile may be torn: the manager discards it).
//
// Deadlines are kept by Run() on a thread of its own, not by the Watch: a
// freeze may be as short as 100 ms, the Watch looks every few seconds and
// may block behind a dying disk. ThawExpired() is Run()'s one step, for
// tests driving a FakeClock.
//
// Only Assembly::Freeze freezes (it holds the assembly's lock, so no look
// or trim of the Watch is under way); the Watch, a trim, a rebuild, a grow
// and a detach leave a volume alone while Frozen(). Frozen state lives in
// memory: an agent that restarts resumes what it finds suspended
// (Assembly::Start) and forgets the freezes (a later thaw: ENOENT).
// Thread-safe. No dm call is made holding the lock, so a slow suspend of
// one volume delays no other volume's thaw.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agents/host/device_mapper.h"
#include "lib/clock.h"
#include "lib/status.h"

namespace vastsky {

// freezeVolume's timeout_ms bounds.
constexpr int kFreezeMinMs = 100, kFreezeMaxMs = 60000;

class Freezer {
 public:
  Freezer(DeviceMapper* dm, const Clock* clock) : dm_(dm), clock_(clock) {}

  // Suspends devices (the volume's top device first, then its raids) for
  // at most timeout_ms. A failure resumes those it suspended, and the one
  // that failed (a suspend that timed out may still land), and returns
  // the error. EBUSY if lvol is frozen already; EINVAL for a timeout
  // outside kFreezeMinMs..kFreezeMaxMs.
  Status Freeze(int64_t lvol, const std::vector<std::string>& devices, int timeout_ms);
  // Resumes a frozen volume; *paused_ms: since its freeze began. ETIME if
  // its deadline thawed it (or had passed: the thaw came too late to call
  // the freeze whole); ENOENT if not frozen; the dm error if a resume
  // failed (retried by the deadline thread; a later thaw says ETIME).
  Status Thaw(int64_t lvol, int64_t* paused_ms);
  // The pause of lvol's last thaw that succeeded (a repeated thawVolume
  // answers with it); false if none since its last freeze.
  bool LastPause(int64_t lvol, int64_t* paused_ms) const;
  // True while lvol is being frozen, is frozen, or is being thawed.
  bool Frozen(int64_t lvol) const;

  // Thaws every volume past its deadline; returns the ms until the next
  // deadline, -1 if none.
  int64_t ThawExpired();
  // Keeps the deadlines until Stop(), then thaws what is still frozen.
  void Run();
  void Stop();

 private:
  enum class State { kFreezing, kFrozen, kThawing };
  struct Entry {
    State state = State::kFreezing;
    std::vector<std::string> devices;  // suspended ones, top first
    int64_t start_ms = 0, deadline_ms = 0;
    bool expired = false;  // thawed by the head: a later thaw is ETIME
  };
  struct Outcome {
    bool expired = false;
    int64_t paused_ms = 0;
  };

  // Resumes e's devices in reverse order (its entry kThawing, the lock not
  // held) and records the outcome; on a failure the devices still
  // suspended stay frozen, expired, and are retried within a second.
  Status Resume(int64_t lvol, Entry e, int64_t* paused_ms);

  DeviceMapper* const dm_;
  const Clock* const clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, woken_ = false;  // woken_: a new deadline for Run()
  std::map<int64_t, Entry> frozen_;
  std::map<int64_t, Outcome> thawed_;  // since each volume's last freeze
};

}  // namespace vastsky
