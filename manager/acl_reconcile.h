// ACL reconciliation: a storage agent that starts restores the ACLs it
// persisted (agents/PROTOCOL.md), so a head fenced while that server was
// down or OFFLINE (a fence skips such servers) would get its access back.
// After every registration of a storage server (reconnects too) the manager
// compares what its agent exports (listExports) with what the manager
// grants (Store::GrantedAclsOn) and revokes the rest: initiators of heads
// whose volumes no longer need the disk, and initiators no head has; an
// initiator mapped legs beyond its grant is narrowed to it; thin devices
// the database knows nowhere are deleted (deleteLegs) if the manager gave
// their id out, else raise an error event (the database is behind the
// disks) and are left alone.
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
#include <vector>

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
  // pdsk -> the chunks the initiator is mapped there (its ACL's disks, even empty).
  using Exported = std::map<int64_t, std::vector<int64_t>>;
  // Revokes `initiator` on the disks of `exported` the manager does not
  // grant it, and narrows it where it sees legs beyond its grant; failures
  // are added to *failed.
  void ReconcileInitiator(int64_t ssvr_id, const std::string& url, const std::string& opid,
                          const std::string& initiator, const Exported& exported, std::string* failed);
  static bool Beyond(const std::vector<int64_t>& mapped, const std::vector<LegGrant>& granted);
  // Thin devices the database knows nowhere: deleted if their id was given
  // out (thin_id < next_thin_id), else an error event and left alone.
  void DeleteUnknownLegs(int64_t ssvr_id, const std::string& url, const std::string& opid,
                         const std::vector<ExportAcl>& list, std::string* failed);

  Store* store_;
  Attacher* attacher_;
  Attacher::Locked locked_;
  MarkedIds pending_;
};

}  // namespace vastsky
