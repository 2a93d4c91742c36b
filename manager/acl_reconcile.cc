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
  std::map<std::string, Exported> exported;  // initiator -> its disks and what it sees there
  for (const ExportAcl& e : list) {
    for (const std::string& initiator : e.initiators) exported[initiator][e.pdsk_id];
    for (const auto& m : e.maps) exported[m.first][e.pdsk_id] = m.second;
  }
  std::string hex;
  VS_RETURN_IF_ERROR(RandomString(12, kHexDigits, &hex));
  const std::string opid = "acl-" + std::to_string(ssvr_id) + "-" + hex;
  std::string failed;
  int n = 0;
  for (const auto& e : exported)
    ReconcileInitiator(ssvr_id, url, opid + "-" + std::to_string(n++), e.first, e.second, &failed);
  DeleteUnknownLegs(ssvr_id, url, opid, list, &failed);
  if (!failed.empty()) return Status::Error(EAGAIN, "not confirmed on" + failed);
  return Status::OK();
}

void AclReconciler::ReconcileInitiator(int64_t ssvr_id, const std::string& url, const std::string& opid,
                                       const std::string& initiator, const Exported& exported, std::string* failed) {
  GrantedAcls view;
  Status st = locked_([&] { return store_->GrantedAclsOn(ssvr_id, &view); });
  auto head = view.heads.find(initiator);
  const int64_t hsvr_id = head == view.heads.end() ? 0 : head->second;
  // The head's turn, then the grants read again: an attach that recorded
  // its intent meanwhile counts, one that has not yet waits for us.
  std::unique_lock<std::mutex> turn;
  HeadAgentInfo agent;
  if (st.ok() && hsvr_id != 0) {
    turn = std::unique_lock<std::mutex>(*attacher_->HeadMutex(hsvr_id));
    view = GrantedAcls();
    st = locked_([&] {
      VS_RETURN_IF_ERROR(store_->LoadHeadAgent(hsvr_id, &agent));
      return store_->GrantedAclsOn(ssvr_id, &view);
    });
  }
  if (!st.ok()) {
    *failed += " " + initiator + " (" + st.ToString() + ")";
    return;
  }
  const std::string whose = hsvr_id ? FormatId("hsvr", hsvr_id) : "no head known to the manager";
  std::set<int64_t> revoked;
  for (const auto& disk : exported) {
    const int64_t pdsk = disk.first;
    auto granted = view.granted.find({pdsk, initiator});
    if (granted != view.granted.end()) {
      if (!Beyond(disk.second, granted->second)) continue;
      // It sees legs it was not given (a grant narrowed while the agent was away).
      st = attacher_->Grant(agent, pdsk, url, opid + "-narrow-" + std::to_string(pdsk), &granted->second);
      if (st.ok()) VS_LOG_WARN("narrowed %s (%s) on %s to the legs the manager gives it", initiator.c_str(),
                               whose.c_str(), FormatId("pdsk", pdsk).c_str());
      else *failed += " " + FormatId("pdsk", pdsk) + " narrow " + initiator + " (" + ErrnoName(st.code()) + ")";
      continue;
    }
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

bool AclReconciler::Beyond(const std::vector<int64_t>& mapped, const std::vector<LegGrant>& granted) {
  std::set<int64_t> given;
  for (const LegGrant& l : granted) given.insert(l.chunk_id);
  for (int64_t chunk : mapped)
    if (!given.count(chunk)) return true;
  return false;
}

void AclReconciler::DeleteUnknownLegs(int64_t ssvr_id, const std::string& url, const std::string& opid,
                                      const std::vector<ExportAcl>& list, std::string* failed) {
  // Read after the listing: a leg is in the database before any grant creates it.
  GrantedAcls view;
  Status st = locked_([&] { return store_->GrantedAclsOn(ssvr_id, &view); });
  if (!st.ok()) {
    *failed += " legs (" + st.ToString() + ")";
    return;
  }
  for (const ExportAcl& e : list) {
    auto next = view.next_thin.find(e.pdsk_id);
    if (next == view.next_thin.end()) continue;  // not this server's disk in the database: left alone
    const std::set<int64_t>& known = view.known_thin[e.pdsk_id];
    std::vector<LegRef> stale;
    std::string ahead;
    for (const LegGrant& l : e.legs) {
      if (known.count(l.thin_id)) continue;
      if (l.thin_id < next->second) stale.push_back(LegRef{l.chunk_id, l.thin_id});
      else ahead += " " + std::to_string(l.thin_id);
    }
    if (!ahead.empty()) {
      // Ids the manager never gave out: the database is behind the disks.
      const std::string msg = FormatId("pdsk", e.pdsk_id) + " holds thin devices the database has not given out yet" +
                              " (ids" + ahead + ", next " + std::to_string(next->second) +
                              "): was the database restored from an old backup? They are left alone";
      st = locked_([&] { return store_->NoteClusterEvent("error", "thin", msg); });
      if (!st.ok()) VS_LOG_ERROR("%s", msg.c_str());
    }
    if (stale.empty()) continue;
    st = attacher_->storage()->DeleteLegs(url, opid + "-delete-" + std::to_string(e.pdsk_id), e.pdsk_id, stale);
    if (st.ok()) VS_LOG_WARN("deleted %zu leg(s) on %s the database does not know", stale.size(),
                             FormatId("pdsk", e.pdsk_id).c_str());
    else *failed += " " + FormatId("pdsk", e.pdsk_id) + " deleteLegs (" + ErrnoName(st.code()) + ")";
  }
}

}  // namespace vastsky
