// The storage agent's registration with the manager: the server and its
// disks (with reconnect, so a restart keeps its ids), each disk's thin pool
// (agents/host/thin_pool.h: a labelled disk registers under its label's
// pdsk id, a blank one is formatted with the id the manager gives it), an
// export of each registered disk, and the ids in state_dir/ids (so the
// pools come up and the disks are exported again at boot even while the
// manager is down). Heartbeats carry each open pool's usage. agents/common/heartbeat.h
// drives Register() and Beat(). Not thread-safe: RestoreExports runs
// before the heartbeat thread starts, and only that thread uses it after;
// its ManagerLink is that thread's own (the scrub thread has another).
// LastUsage() alone is thread-safe (the /metrics server calls it).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agents/host/thin_pool.h"
#include "agents/storage/exports.h"
#include "lib/manager_link.h"

namespace vastsky {

// The pools' usage as the last heartbeat read it, at at_ms on the
// monotonic clock (-1: no heartbeat read it yet).
struct PoolUsageLook {
  std::map<int64_t, PoolUsage> pools;  // pdsk id -> usage
  int64_t at_ms = -1;
};

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
  Registration(RegistrationOptions options, ManagerLink* link, Exports* exports, ThinPools* pools);

  // Opens the pools and exports the disks a previous run recorded, when
  // their labels still say so (no manager needed).
  Status RestoreExports();
  // One registration pass: server, cluster id, disks, pools, exports, ids
  // file. A disk refused (foreign, old layout, other cluster, damaged
  // metadata) is logged with what to do and skipped; the others go on.
  Status Register();
  // One heartbeat, with the pools' usage.
  Status Beat();
  PoolUsageLook LastUsage() const;

 private:
  Status SaveIds();
  Status ClusterId(std::string* cluster);
  Status RegisterDisk(const std::string& disk, const std::string& cluster);

  RegistrationOptions options_;
  ManagerLink* link_;
  Exports* exports_;
  ThinPools* pools_;
  int64_t ssvr_id_ = 0;
  std::map<std::string, int64_t> pdsk_ids_;  // path -> id
  mutable std::mutex usage_mu_;
  PoolUsageLook last_usage_;
};

}  // namespace vastsky
