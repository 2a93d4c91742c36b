// Store: what the manager grants each head on each disk (the legs its
// grants carry, manager/attacher.h) and the comparison with what a storage
// agent exports (manager/acl_reconcile.h).
#include "manager/store.h"

namespace vastsky {

// Every leg, SPARE ones too, of the volumes attached to a head or in
// transition there (an attach, detach, grow or rebuild may have granted
// them by now), and the old legs held for it (it may still have them
// assembled; created if missing: its data no longer counts, and a device
// it never had must not make every later grant there fail). A leg is
// created if missing unless it is INSYNC and known to exist: a lost thin
// device of a leg holding data must show (ENOENT), never come back blank;
// an INSYNC leg never created (3.0's state-only attach) holds nothing.
// hsvr 0: every head; except: a volume not counted;
// ssvr 0: every server's disks.
Status Store::EachGrantedLeg(int64_t hsvr_id, int64_t except_lvol, int64_t ssvr_id,
                             const std::function<void(int64_t hsvr, int64_t pdsk, const LegGrant&)>& fn) {
  Stmt q(db_,
         "SELECT a.hsvr_id, c.pdsk_id, c.id, c.thin_id, c.length_mib, c.status != 2 OR c.created = 0 FROM attachment a "
         "JOIN mirror m ON m.lvol_id = a.lvol_id JOIN chunk c ON c.mirror_id = m.id JOIN pdsk p ON p.id = c.pdsk_id "
         "WHERE (?1 = 0 OR a.hsvr_id = ?1) AND (?3 = 0 OR p.ssvr_id = ?3) AND a.lvol_id != ?2 "
         "UNION ALL SELECT h.hsvr_id, h.pdsk_id, h.chunk_id, h.thin_id, h.length_mib, 1 FROM held_extent h "
         "JOIN pdsk p ON p.id = h.pdsk_id WHERE (?1 = 0 OR h.hsvr_id = ?1) AND (?3 = 0 OR p.ssvr_id = ?3) "
         "AND h.lvol_id != ?2 "
         "ORDER BY 1, 2, 3");
  q.Bind(1, hsvr_id).Bind(2, except_lvol).Bind(3, ssvr_id);
  while (q.Step()) fn(q.Int(0), q.Int(1), LegGrant{q.Int(2), q.Int(3), kMetaMib + q.Int(4), q.Int(5) != 0});
  return q.status();
}

Status Store::HeadLegs(int64_t hsvr_id, int64_t except_lvol, std::map<int64_t, std::vector<LegGrant>>* by_pdsk) {
  return EachGrantedLeg(hsvr_id, except_lvol, 0,
                        [&](int64_t, int64_t pdsk, const LegGrant& leg) { (*by_pdsk)[pdsk].push_back(leg); });
}

Status Store::GrantedAclsOn(int64_t ssvr_id, GrantedAcls* out) {
  Txn txn(db_);
  VS_RETURN_IF_ERROR(txn.status());
  std::map<int64_t, std::string> initiators;
  {
    Stmt q(db_, "SELECT initiator, id FROM hsvr WHERE initiator != ''");
    while (q.Step()) {
      out->heads[q.Text(0)] = q.Int(1);
      initiators[q.Int(1)] = q.Text(0);
    }
    VS_RETURN_IF_ERROR(q.status());
  }
  VS_RETURN_IF_ERROR(EachGrantedLeg(0, 0, ssvr_id, [&](int64_t hsvr, int64_t pdsk, const LegGrant& leg) {
    auto it = initiators.find(hsvr);
    if (it != initiators.end()) out->granted[{pdsk, it->second}].push_back(leg);
  }));
  Stmt d(db_, "SELECT id, next_thin_id FROM pdsk WHERE ssvr_id = ?1");
  d.Bind(1, ssvr_id);
  while (d.Step()) out->next_thin[d.Int(0)] = d.Int(1);
  VS_RETURN_IF_ERROR(d.status());
  Stmt k(db_,
         "SELECT c.pdsk_id, c.thin_id FROM chunk c JOIN pdsk p ON p.id = c.pdsk_id WHERE p.ssvr_id = ?1 "
         "UNION ALL SELECT h.pdsk_id, h.thin_id FROM held_extent h JOIN pdsk p ON p.id = h.pdsk_id WHERE p.ssvr_id = ?1 "
         "UNION ALL SELECT d.pdsk_id, d.thin_id FROM doomed_leg d JOIN pdsk p ON p.id = d.pdsk_id WHERE p.ssvr_id = ?1");
  k.Bind(1, ssvr_id);
  while (k.Step()) out->known_thin[k.Int(0)].insert(k.Int(1));
  VS_RETURN_IF_ERROR(k.status());
  return txn.Commit();
}

}  // namespace vastsky
