#include "manager/access.h"

#include <algorithm>
#include <cerrno>

namespace vastsky {

namespace {

// What each agent calls, and what the XCP driver needs for an SR's VDIs.
const std::vector<std::string> kStorage = {"registerStorageServer", "registerPhysicalDisk", "heartbeat",
                                           "notifyBadBlocks", "legMap", "getClusterStatus"};
const std::vector<std::string> kHead = {"registerHeadServer", "heartbeat", "legMap"};
const std::vector<std::string> kTenant = {
    "createLogicalVolume", "deleteLogicalVolume", "attachLogicalVolume", "detachLogicalVolume",
    "listLogicalVolumes",  "showLogicalVolume",   "resizeLogicalVolume", "createSnapshot",
    "cloneLogicalVolume",  "revertLogicalVolume", "listChangedBlocks",   "getVolumeFamily",
    "listHeadServers",     "getClusterStatus"};
const std::vector<std::string> kNothing;

}  // namespace

const std::vector<std::string>& MethodsOf(Role role) {
  switch (role) {
    case Role::kStorage: return kStorage;
    case Role::kHead: return kHead;
    case Role::kTenant: return kTenant;
    default: return kNothing;
  }
}

Status MayCall(const std::string& method, const Caller& caller) {
  if (caller.role == Role::kAdmin) return Status::OK();
  const std::vector<std::string>& allowed = MethodsOf(caller.role);
  if (std::find(allowed.begin(), allowed.end(), method) != allowed.end()) return Status::OK();
  return Status::Error(EACCES, method + " is not for " + RoleName(caller.role) + " callers (" + caller.user + ")");
}

}  // namespace vastsky
