// The storage agent's standing with the manager: registers the server and
// its disks (with reconnect, so a restart keeps its ids), exports each
// registered disk, remembers the ids in state_dir/ids (so the disks are
// exported again at boot even while the manager is down), and heartbeats.
// Run() is the heartbeat thread: it never gives up on the manager, logs an
// outage once at WARNING (and its end at INFO), and re-registers when the
// manager answers again or no longer knows the server.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agents/storage/exports.h"
#include "agents/common/manager_link.h"

namespace vastsky {

struct RegistrationOptions {
  std::vector<std::string> data_ips;
  std::string domain;              // empty: none sent
  std::vector<std::string> disks;  // stable paths
  std::string ids_file;            // state_dir/ids
  int heartbeat_s = 5;
};

class Registration {
 public:
  Registration(RegistrationOptions options, ManagerLink* link, Exports* exports);

  // Exports the disks whose ids a previous run recorded (no manager needed).
  Status RestoreExports();
  // One registration pass: server, disks, exports, ids file.
  Status Register();
  // Heartbeats until Stop().
  void Run();
  void Stop();

 private:
  Status SaveIds();
  void Tick();

  RegistrationOptions options_;
  ManagerLink* link_;
  Exports* exports_;
  int64_t ssvr_id_ = 0;
  std::map<std::string, int64_t> pdsk_ids_;  // path -> id
  bool registered_ = false;  // this run registered, and the manager still knows us
  bool outage_ = false;      // the last call found no manager (logged once)

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace vastsky
