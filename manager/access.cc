#include "manager/access.h"

#include <algorithm>
#include <cerrno>

#include "lib/ids.h"

namespace vastsky {

namespace {

// What each agent calls, and what the XCP driver needs for an SR's VDIs.
const std::vector<std::string> kStorage = {"registerStorageServer", "registerPhysicalDisk", "heartbeat",
                                           "notifyBadBlocks", "getClusterStatus"};
const std::vector<std::string> kHead = {"registerHeadServer", "heartbeat", "legMap"};
const std::vector<std::string> kTenant = {
    "createLogicalVolume", "deleteLogicalVolume", "attachLogicalVolume", "detachLogicalVolume",
    "listLogicalVolumes",  "showLogicalVolume",   "resizeLogicalVolume", "createSnapshot",
    "cloneLogicalVolume",  "revertLogicalVolume", "listChangedBlocks",   "getVolumeFamily",
    "listHeadServers",     "listStorageServers",  "getClusterStatus"};
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

Status OwnServer(const Caller& caller, Role kind, int64_t id) {
  if (caller.role == Role::kAdmin) return Status::OK();
  const char* prefix = kind == Role::kStorage ? "ssvr" : "hsvr";
  if (caller.role == kind && caller.id != 0 && caller.id == id) return Status::OK();
  return Status::Error(EACCES, caller.user + " may not act for " + FormatId(prefix, id) +
                                   (caller.role == kind && caller.id != 0 ? ": it is " + FormatId(prefix, caller.id) + "'s credential"
                                                                          : ""));
}

bool Sees(const Caller& caller, const std::string& owner) {
  return caller.role == Role::kAdmin || (caller.role == Role::kTenant && caller.tenant == owner);
}

Status OwnVolume(const Caller& caller, const VolumeInfo& vol, const std::string& names) {
  if (Sees(caller, vol.tenant)) return Status::OK();
  return Status::Error(ENOENT, "no volume " + names);
}

Status MayAttachTo(const Caller& caller, int64_t hsvr_id, const std::vector<int64_t>& heads) {
  if (caller.role == Role::kAdmin) return Status::OK();
  if (caller.role == Role::kTenant && std::find(heads.begin(), heads.end(), hsvr_id) != heads.end())
    return Status::OK();
  return Status::Error(EACCES, caller.user + " may not attach to " + FormatId("hsvr", hsvr_id) +
                                   ": an admin grants a tenant its heads (vastsky tenant heads)");
}

}  // namespace vastsky
