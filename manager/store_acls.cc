// Store: the iSCSI ACLs the manager grants, for the comparison with what a
// storage agent exports (manager/acl_reconcile.h).
#include "manager/store.h"

namespace vastsky {

Status Store::GrantedAclsOn(int64_t ssvr_id, GrantedAcls* out) {
  Txn txn(db_);
  VS_RETURN_IF_ERROR(txn.status());
  {
    Stmt q(db_, "SELECT initiator, id FROM hsvr WHERE initiator != ''");
    while (q.Step()) out->heads[q.Text(0)] = q.Int(1);
    VS_RETURN_IF_ERROR(q.status());
  }
  // Every leg, SPARE ones too, and the attachments in transition: the
  // ACLs an attach, detach, grow or rebuild may have granted by now.
  Stmt q(db_,
         "SELECT DISTINCT c.pdsk_id, h.initiator FROM attachment a JOIN hsvr h ON h.id = a.hsvr_id "
         "JOIN mirror m ON m.lvol_id = a.lvol_id JOIN chunk c ON c.mirror_id = m.id "
         "JOIN pdsk p ON p.id = c.pdsk_id WHERE p.ssvr_id = ?1 AND h.initiator != ''");
  q.Bind(1, ssvr_id);
  while (q.Step()) out->granted.emplace(q.Int(0), q.Text(1));
  VS_RETURN_IF_ERROR(q.status());
  return txn.Commit();
}

}  // namespace vastsky
