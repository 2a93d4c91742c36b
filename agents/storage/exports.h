// What this storage server exports: one iSCSI target per registered disk
// (iqn DiskIqn(pdskid), LUN 0, serial the pdsk id, a portal per data IP) and
// the initiators the manager allowed on each. Allowed ACLs are persisted in
// state_dir/acls so they are re-applied after a reboot, when the kernel
// target has forgotten them. Thread-safe (one lock, held across each
// kernel call): the RPC threads, the heartbeat thread (registration) and
// the scrub thread (List) share it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agents/host/iscsi_target.h"
#include "lib/status.h"

namespace vastsky {

struct ExportInfo {
  int64_t pdsk_id = 0;
  std::string iqn, device;
  std::vector<std::string> initiators;
};

class Exports {
 public:
  Exports(std::unique_ptr<IscsiTarget> target, std::vector<std::string> portals, std::string acl_file);

  // Loads the persisted ACLs; call once before anything else.
  Status Load();
  // Exports device as disk pdsk_id (again, after a restart) and re-applies
  // its persisted ACLs. A disk that moved to a new id drops the old target.
  Status Export(int64_t pdsk_id, const std::string& device);
  // ENOENT if pdsk_id is not exported here. Credentials must be checked
  // by the caller (ValidIscsiName, CheckChap).
  Status Allow(int64_t pdsk_id, const InitiatorAccess& access);
  // Success means the initiator is out of the kernel's ACL and the ACL
  // file is synced without it, so no restart brings it back.
  Status Revoke(int64_t pdsk_id, const std::string& initiator);
  Status List(std::vector<ExportInfo>* out);

 private:
  Status SaveAcls();

  std::mutex mu_;
  std::unique_ptr<IscsiTarget> target_;
  std::vector<std::string> portals_;
  std::string acl_file_;
  std::map<int64_t, std::string> devices_;  // pdsk id -> device, exported now
  std::map<int64_t, std::map<std::string, InitiatorAccess>> acls_;
};

}  // namespace vastsky
