#include "manager/acl_reconcile.h"

#include <cerrno>
#include <vector>

#include "lib/ids.h"
#include "lib/log.h"
#include "lib/secret.h"

namespace vastsky {

AclReconciler::AclReconciler(Store* store, Attacher* attacher, Attacher::Locked locked)
    : store_(store), attacher_(attacher), locked_(std::move(locked)) {}

void AclReconciler::Mark(int64_t ssvr_id) { pending_.Mark(ssvr_id); }

void AclReconciler::RunPending() {
  for (int64_t id : pending_.Take()) {
    Status st = Reconcile(id);
    if (st.ok()) continue;
    VS_LOG_ERROR("cannot compare the ACLs of %s with what the manager grants (retrying): %s",
                 FormatId("ssvr", id).c_str(), st.ToString().c_str());
    Mark(id);
  }
}

Status AclReconciler::Reconcile(int64_t ssvr_id) {
  std::vector<StorageServerInfo> servers;
  Status st = locked_([&] { return store_->ListStorageServers(ssvr_id, &servers); });
  if (st.code() == ENOENT) return Status::OK();
  VS_RETURN_IF_ERROR(st);
  if (servers.empty() || servers[0].url.empty()) return Status::OK();
  const std::string& url = servers[0].url;
  std::vector<ExportAcl> list;
  VS_RETURN_IF_ERROR(attacher_->storage()->ListExports(url, &list));
  std::map<std::string, std::set<int64_t>> exported;  // initiator -> the disks it is allowed on
  for (const ExportAcl& e : list)
    for (const std::string& initiator : e.initiators) exported[initiator].insert(e.pdsk_id);
  std::string hex;
  VS_RETURN_IF_ERROR(RandomString(12, kHexDigits, &hex));
  std::string failed;
  int n = 0;
  for (const auto& e : exported)
    RevokeUngranted(ssvr_id, url, "acl-" + std::to_string(ssvr_id) + "-" + hex + "-" + std::to_string(n++), e.first,
                    e.second, &failed);
  if (!failed.empty()) return Status::Error(EAGAIN, "revoke not confirmed on" + failed);
  return Status::OK();
}

void AclReconciler::RevokeUngranted(int64_t ssvr_id, const std::string& url, const std::string& opid,
                                    const std::string& initiator, const std::set<int64_t>& exported,
                                    std::string* failed) {
  GrantedAcls view;
  Status st = locked_([&] { return store_->GrantedAclsOn(ssvr_id, &view); });
  auto head = view.heads.find(initiator);
  const int64_t hsvr_id = head == view.heads.end() ? 0 : head->second;
  // The head's turn, then the grants read again: an attach that recorded
  // its intent meanwhile counts, one that has not yet waits for us.
  std::unique_lock<std::mutex> turn;
  if (st.ok() && hsvr_id != 0) {
    turn = std::unique_lock<std::mutex>(*attacher_->HeadMutex(hsvr_id));
    view = GrantedAcls();
    st = locked_([&] { return store_->GrantedAclsOn(ssvr_id, &view); });
  }
  if (!st.ok()) {
    *failed += " " + initiator + " (" + st.ToString() + ")";
    return;
  }
  const std::string whose = hsvr_id ? FormatId("hsvr", hsvr_id) : "no head known to the manager";
  std::set<int64_t> revoked;
  for (int64_t pdsk : exported) {
    if (view.granted.count({pdsk, initiator})) continue;
    st = attacher_->storage()->RevokeInitiator(url, opid + "-" + std::to_string(pdsk), pdsk, initiator);
    // ENOENT: the agent no longer exports that disk, so nothing is open.
    if (st.ok() || st.code() == ENOENT) {
      revoked.insert(pdsk);
      VS_LOG_WARN("revoked %s (%s) on %s: the manager does not grant it that disk (a fence or detach the server "
                  "missed, or an ACL made by hand)",
                  initiator.c_str(), whose.c_str(), FormatId("pdsk", pdsk).c_str());
    } else {
      *failed += " " + FormatId("pdsk", pdsk) + " " + initiator + " (" + ErrnoName(st.code()) + ")";
    }
  }
  // The head can no longer write there: what was held for it (a fence
  // that found this server OFFLINE kept it) may go back to the pool.
  if (hsvr_id == 0 || revoked.empty()) return;
  st = locked_([&] { return store_->ReleaseRevoked(hsvr_id, revoked); });
  if (!st.ok())
    VS_LOG_ERROR("cannot free the space held for %s on the disks it was just revoked on: %s", whose.c_str(),
                 st.ToString().c_str());
}

}  // namespace vastsky
