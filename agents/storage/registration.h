// The storage agent's registration with the manager: the server and its
// disks (with reconnect, so a restart keeps its ids), an export of each
// registered disk, and the ids in state_dir/ids (so the disks are exported
// again at boot even while the manager is down). agents/common/heartbeat.h
// drives Register() and Beat(). Not thread-safe: RestoreExports runs
// before the heartbeat thread starts, and only that thread uses it after;
// its ManagerLink is that thread's own (the scrub thread has another).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agents/storage/exports.h"
#include "lib/manager_link.h"

namespace vastsky {

struct RegistrationOptions {
  std::vector<std::string> data_ips;
  std::string domain;              // empty: none sent
  std::string url;                 // where the manager calls this agent
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
  // One heartbeat.
  Status Beat();

 private:
  Status SaveIds();

  RegistrationOptions options_;
  ManagerLink* link_;
  Exports* exports_;
  int64_t ssvr_id_ = 0;
  std::map<std::string, int64_t> pdsk_ids_;  // path -> id
};

}  // namespace vastsky
