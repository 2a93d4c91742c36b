// ACL reconciliation: a storage agent that starts restores the ACLs it
// persisted (agents/PROTOCOL.md), so a head fenced while that server was
// down or OFFLINE (a fence skips such servers) would get its access back.
// After every registration of a storage server (reconnects too) the manager
// compares what its agent exports (listExports) with what the manager
// grants (Store::GrantedAclsOn) and revokes the rest: initiators of heads
// whose volumes no longer need the disk, and initiators no head has.
// A known head's compare-and-revoke holds its turn (Attacher::HeadMutex),
// so it never undoes an attach that has just granted.
//
// The registration only marks the server (Mark, any thread, never waits);
// the recovery loop reconciles the marked ones (RunPending) and keeps
// those that failed for its next tick. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "lib/status.h"
#include "manager/attacher.h"
#include "manager/marked_ids.h"
#include "manager/store.h"

namespace vastsky {

class AclReconciler {
 public:
  AclReconciler(Store* store, Attacher* attacher, Attacher::Locked locked);

  // ssvr_id registered: reconcile it at the next RunPending.
  void Mark(int64_t ssvr_id);
  // Reconciles every marked server; one that fails stays marked.
  void RunPending();
  // One server, now. A server deleted meanwhile, or without an agent URL,
  // has nothing to reconcile. EAGAIN naming what could not be revoked.
  Status Reconcile(int64_t ssvr_id);

 private:
  // Revokes `initiator` on the disks of `exported` the manager does not
  // grant it; failures are added to *failed.
  void RevokeUngranted(int64_t ssvr_id, const std::string& url, const std::string& opid,
                       const std::string& initiator, const std::set<int64_t>& exported, std::string* failed);

  Store* store_;
  Attacher* attacher_;
  Attacher::Locked locked_;
  MarkedIds pending_;
};

}  // namespace vastsky
