// An agent's standing with the manager, common to the storage and head
// agents: a first registration, then a heartbeat every period. The loop
// never gives up on the manager; it logs an outage once at WARNING (and its
// end at INFO), and registers again when the manager answers after an
// outage or answers ENOENT (it no longer knows this server).
// RegisterNow, then Run, on one thread at a time (reg and beat run there
// only); Stop from any thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "lib/status.h"

namespace vastsky {

class HeartbeatLoop {
 public:
  // what: "storage server" / "head server", for log lines. reg: one full
  // registration pass. beat: one heartbeat call.
  HeartbeatLoop(std::string what, int period_s, std::function<Status()> reg, std::function<Status()> beat);

  // The first registration, from the caller's thread; on failure Run()
  // retries it.
  Status RegisterNow();
  // Beats until Stop().
  void Run();
  void Stop();

 private:
  void Tick();

  const std::string what_;
  const int period_s_;
  std::function<Status()> reg_, beat_;
  bool registered_ = false;  // registered, and the manager still knows us
  bool outage_ = false;      // the last call found no manager (logged once)

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace vastsky
