// The manager calls the driver makes (manager/API.md), over ManagerLink's
// fail-over across the SR's manager URLs. Failures are the manager's errno
// Status; sm::FromCluster turns them into faults.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lib/manager_link.h"
#include "lib/status.h"
#include "sm_plugin/changed_blocks.h"

namespace vastsky {
namespace sm {

struct Volume {
  int64_t lvolid = 0;
  std::string name;
  int64_t capacity_gib = 0;
  int redundancy = 0;
  int64_t hsvrid = 0;  // 0: not attached
  int bind_status = 0, bind_event = 0;
  bool fault = false;
  // A snapshot (read-only, lvoltype SNAPSHOT) is associated to its origin
  // ("snapshot"), a clone to its source ("clone"): that volume's lvolid, or 0.
  bool read_only = false;
  int64_t snapshot_of = 0, clone_of = 0;
  std::string ctime;  // "YYYY-MM-DDTHH:MM:SS", UTC
  int state = 0;      // kVolumeReady, kVolumeCreating (a snapshot or clone being made), kVolumeError
};

enum VolumeState { kVolumeReady = 0, kVolumeCreating = 1, kVolumeError = 2 };

struct ClusterStatus {
  int64_t capacity_gib = 0, used_gib = 0, available_gib = 0;
  int ssvrs_online = 0, domains = 0;
};

class Cluster {
 public:
  // user: "admin" with the cluster secret, or a tenant's user and secret.
  Cluster(const std::vector<std::string>& urls, const std::string& user, const std::string& secret,
          const std::string& ca_file);

  Status Volumes(std::vector<Volume>* out);
  // ENOENT if no volume has this name.
  Status Find(const std::string& name, Volume* out);
  Status Create(const std::string& name, int64_t gib, int redundancy);
  Status Delete(const std::string& name);
  Status Attach(const std::string& name, int64_t hsvrid);
  Status Detach(const std::string& name);
  Status Resize(const std::string& name, int64_t gib);
  // createSnapshot / cloneLogicalVolume: the new volume's id.
  Status Snapshot(const std::string& origin, const std::string& name, int64_t* lvolid);
  Status Clone(const std::string& source, const std::string& name, int64_t* lvolid);
  // listChangedBlocks: what may differ between base (a snapshot) and lvol.
  Status ChangedBlocks(const std::string& lvol, const std::string& base, ChangedRuns* out);
  Status Stat(ClusterStatus* out);
  // The head server's priority (1 HIGH .. 6 HALT); ENOENT if unknown.
  Status HeadPriority(int64_t hsvrid, int* priority);
  // Failure domains of the live storage servers ("" for a server without one).
  Status ServerDomains(std::vector<std::string>* domains);

 private:
  // A call whose answer (0) says nothing more than success.
  Status Do(const std::string& method, std::map<std::string, xmlrpc_c::value> members);
  // A call answering the id of the volume it made.
  Status Created(const std::string& method, std::map<std::string, xmlrpc_c::value> members, int64_t* lvolid);
  // A call answering a list of structs.
  Status List(const std::string& method, std::map<std::string, xmlrpc_c::value> members,
              std::vector<xmlrpc_c::value>* rows);
  ManagerLink link_;
};

}  // namespace sm
}  // namespace vastsky
