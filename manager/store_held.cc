// Store: space a head may still write, and legs that may hold data.
//
// A leg that leaves its mirror while its volume is attached (any bind
// status or event) may still be assembled on that head, and written
// through: its extent goes to held_extent for that head, not back to the
// pool, until the head confirms it dropped the leg (an answer whose spec
// no longer names it), the head is fenced on that disk, or the head is
// deleted. Until then the allocator counts it as used: it is in neither
// chunk nor free_extent, and LoadAllocator reads free space only.
//
// A mirror handed to a head (the intent of an attach or grow, recorded
// before any agent is called) is `written`: its legs are never given out
// ALLOCATED again, since a head builds an all-ALLOCATED mirror nosync.
#include <cerrno>
#include <map>

#include "lib/ids.h"
#include "manager/store.h"

namespace vastsky {

Status Store::RetireChunk(int64_t chunk_id, Change* change, int64_t* held_for) {
  Stmt q(db_,
         "SELECT c.pdsk_id, c.offset_mib, c.length_mib, c.mirror_id, m.lvol_id, ifnull(a.hsvr_id, 0), c.thin_id, "
         "m.written "
         "FROM chunk c JOIN mirror m ON m.id = c.mirror_id LEFT JOIN attachment a ON a.lvol_id = m.lvol_id "
         "WHERE c.id = ?1");
  q.Bind(1, chunk_id);
  if (!q.Step()) return q.status().ok() ? Status::Error(ENOENT, "no chunk " + FormatId("dext", chunk_id)) : q.status();
  const int64_t pdsk = q.Int(0), offset = q.Int(1), length = q.Int(2), mirror = q.Int(3), lvol = q.Int(4);
  *held_for = q.Int(5);
  LegExtent leg{pdsk, offset, length, chunk_id, q.Int(6), q.Int(7) != 0};
  q.Reset();
  Stmt del(db_, "DELETE FROM chunk WHERE id = ?1");
  VS_RETURN_IF_ERROR(del.Bind(1, chunk_id).Run());
  if (*held_for == 0) return DropLeg(leg, &change->journal);
  Stmt hold(db_,
            "INSERT INTO held_extent(pdsk_id, offset_mib, length_mib, hsvr_id, lvol_id, mirror_id, chunk_id, ctime, "
            "thin_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  hold.Bind(1, pdsk).Bind(2, offset).Bind(3, length).Bind(4, *held_for).Bind(5, lvol).Bind(6, mirror);
  return hold.Bind(7, chunk_id).Bind(8, NowIso8601()).Bind(9, leg.thin_id).Run();
}

Status Store::DropLeg(const LegExtent& leg, Journal* journal) {
  bool agent = false;
  if (leg.written) {
    Stmt q(db_, "SELECT s.url != '' FROM pdsk p JOIN ssvr s ON s.id = p.ssvr_id WHERE p.id = ?1");
    q.Bind(1, leg.pdsk_id);
    agent = q.Step() && q.Int(0) != 0;
    VS_RETURN_IF_ERROR(q.status());
  }
  if (!agent) {
    alloc_.Free(leg.pdsk_id, leg.offset_mib, leg.length_mib + kMetaMib, journal);
    return Status::OK();
  }
  Stmt ins(db_,
           "INSERT INTO doomed_leg(pdsk_id, thin_id, chunk_id, offset_mib, length_mib, ctime) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  ins.Bind(1, leg.pdsk_id).Bind(2, leg.thin_id).Bind(3, leg.chunk_id).Bind(4, leg.offset_mib);
  return ins.Bind(5, leg.length_mib).Bind(6, NowIso8601()).Run();
}

Status Store::FreeHeld(const HeldFilter& f, Change* change, int64_t* freed) {
  Stmt q(db_,
         "SELECT pdsk_id, offset_mib, length_mib, chunk_id, thin_id FROM held_extent WHERE hsvr_id = ?1 "
         "AND (?2 = 0 OR lvol_id = ?2) AND (?3 = 0 OR mirror_id = ?3)");
  q.Bind(1, f.hsvr_id).Bind(2, f.lvol_id).Bind(3, f.mirror_id);
  // A held leg was handed to a head: its thin device may exist.
  std::vector<LegExtent> gone;
  while (q.Step()) {
    if (f.kept && f.kept->count(q.Int(3))) continue;
    if (f.on_pdsks && !f.on_pdsks->count(q.Int(0))) continue;
    gone.push_back(LegExtent{q.Int(0), q.Int(1), q.Int(2), q.Int(3), q.Int(4), true});
  }
  VS_RETURN_IF_ERROR(q.status());
  Stmt del(db_, "DELETE FROM held_extent WHERE pdsk_id = ?1 AND offset_mib = ?2");
  for (const LegExtent& h : gone) {
    VS_RETURN_IF_ERROR(del.Bind(1, h.pdsk_id).Bind(2, h.offset_mib).Run());
    VS_RETURN_IF_ERROR(DropLeg(h, &change->journal));
  }
  if (freed) *freed = static_cast<int64_t>(gone.size());
  return Status::OK();
}

Status Store::FreeHeldOfVolume(const VolumeInfo& vol, int64_t hsvr_id, Change* change) {
  HeldFilter f;
  f.hsvr_id = hsvr_id;
  f.lvol_id = vol.id;
  return FreeHeld(f, change);
}

Status Store::ReleaseHeld(const HeldFilter& f, const std::string& target, int64_t target_id, const std::string& why) {
  return Mutate([&](Change* change) {
    int64_t freed = 0;
    VS_RETURN_IF_ERROR(FreeHeld(f, change, &freed));
    if (freed == 0) return Status::OK();
    return AddEvent("info", "released", target, target_id, std::to_string(freed) + " old leg(s) freed: " + why);
  });
}

Status Store::ConfirmLegs(int64_t hsvr_id, int64_t lvol_id, int64_t mirror_id, const std::set<int64_t>& chunks) {
  HeldFilter f;
  f.hsvr_id = hsvr_id;
  f.lvol_id = lvol_id;
  f.mirror_id = mirror_id;
  f.kept = &chunks;
  return ReleaseHeld(f, "lvol", lvol_id, FormatId("hsvr", hsvr_id) + " has dropped them");
}

Status Store::ReleaseRevoked(int64_t hsvr_id, const std::set<int64_t>& pdsks) {
  HeldFilter f;
  f.hsvr_id = hsvr_id;
  f.on_pdsks = &pdsks;
  return ReleaseHeld(f, "hsvr", hsvr_id, "the head's access to their disks is revoked");
}

Status Store::ListHeld(std::vector<HeldExtent>* out) {
  Stmt q(db_,
         "SELECT pdsk_id, offset_mib, length_mib, hsvr_id, lvol_id, mirror_id, chunk_id FROM held_extent "
         "ORDER BY pdsk_id, offset_mib");
  while (q.Step()) {
    HeldExtent h;
    h.pdsk_id = q.Int(0);
    h.offset_mib = q.Int(1);
    h.length_mib = q.Int(2);
    h.hsvr_id = q.Int(3);
    h.lvol_id = q.Int(4);
    h.mirror_id = q.Int(5);
    h.chunk_id = q.Int(6);
    out->push_back(h);
  }
  return q.status();
}

Status Store::DoomedLegs(std::vector<DoomedDisk>* out) {
  Stmt q(db_,
         "SELECT d.pdsk_id, p.ssvr_id, s.url, d.chunk_id, d.thin_id FROM doomed_leg d JOIN pdsk p ON p.id = d.pdsk_id "
         "JOIN ssvr s ON s.id = p.ssvr_id WHERE s.url != '' AND p.priority IN (1, 2, 3) AND s.priority IN (1, 2, 3) "
         "ORDER BY d.pdsk_id, d.thin_id");
  while (q.Step()) {
    if (out->empty() || out->back().pdsk_id != q.Int(0)) out->push_back(DoomedDisk{q.Int(0), q.Int(1), q.Text(2), {}});
    out->back().legs.push_back(LegRef{q.Int(3), q.Int(4)});
  }
  return q.status();
}

Status Store::ForgetDoomed(int64_t pdsk_id, const std::vector<LegRef>& legs) {
  return Mutate([&](Change* change) {
    Stmt del(db_, "DELETE FROM doomed_leg WHERE pdsk_id = ?1 AND chunk_id = ?2 RETURNING offset_mib, length_mib");
    int64_t freed = 0;
    for (const LegRef& leg : legs) {
      del.Bind(1, pdsk_id).Bind(2, leg.chunk_id);
      if (del.Step()) {
        alloc_.Free(pdsk_id, del.Int(0), del.Int(1) + kMetaMib, &change->journal);
        ++freed;
      }
      VS_RETURN_IF_ERROR(del.status());
      del.Reset();
    }
    if (freed == 0) return Status::OK();
    return AddEvent("info", "released", "pdsk", pdsk_id,
                    std::to_string(freed) + " deleted leg(s) freed: their thin devices are gone");
  });
}

Status Store::MarkWritten(int64_t lvol_id, int64_t from_idx) {
  Stmt up(db_, "UPDATE mirror SET written = 1 WHERE lvol_id = ?1 AND idx >= ?2");
  return up.Bind(1, lvol_id).Bind(2, from_idx).Run();
}

Status Store::SettleWrittenLegs(int64_t lvol_id) {
  // Which legs of a written mirror may hold data. Status alone cannot say:
  // an attach skips a leg whose disk it cannot reach (missing on the head)
  // and a manager may stop between grants, so a leg of a written mirror
  // may have no thin device at all; INSYNC would make every grant say it
  // exists (ENOENT ever after) and assemble a blank leg beside the data.
  // A head is handed a leg only once its storage agent answered a grant
  // carrying it, recorded first (chunk.created, Attacher::Grant): a leg
  // never created was never assembled and holds nothing. Per mirror:
  // - a created leg in sync may hold data: every unsettled leg (ALLOCATED,
  //   or INSYNC never created) becomes SPARE, rebuilt from it;
  // - else the created ALLOCATED legs were built together (in sync with
  //   each other) and those never created beside them are rebuilt;
  // - else no leg was ever created, nothing was written: they are in sync
  //   as they are, all blank, each created by its next grant.
  Stmt q(db_,
         "SELECT c.mirror_id, c.id, c.status, c.created FROM chunk c JOIN mirror m ON m.id = c.mirror_id "
         "WHERE m.written = 1 AND (?1 = 0 OR m.lvol_id = ?1) AND EXISTS (SELECT 1 FROM chunk u WHERE "
         "u.mirror_id = c.mirror_id AND (u.status = 1 OR (u.status = 2 AND u.created = 0))) ORDER BY c.mirror_id");
  q.Bind(1, lvol_id);
  struct Leg {
    int64_t id;
    int status;
    bool created;
  };
  std::map<int64_t, std::vector<Leg>> mirrors;
  while (q.Step()) mirrors[q.Int(0)].push_back(Leg{q.Int(1), static_cast<int>(q.Int(2)), q.Int(3) != 0});
  VS_RETURN_IF_ERROR(q.status());
  Stmt up(db_, "UPDATE chunk SET status = ?2 WHERE id = ?1");
  Stmt rb(db_, "INSERT OR IGNORE INTO rebuild(mirror_id, chunk_id, state, ctime) VALUES (?1, ?2, 0, ?3)");
  for (const auto& m : mirrors) {
    bool holds = false, built = false;
    for (const Leg& l : m.second) {
      holds |= l.created && l.status == kInsync;
      built |= l.created && l.status == kAllocated;
    }
    for (const Leg& l : m.second) {
      if (l.status == kSpare || (l.status == kInsync && l.created)) continue;
      const int to = holds || (built && !l.created) ? kSpare : kInsync;
      if (to == l.status) continue;
      VS_RETURN_IF_ERROR(up.Bind(1, l.id).Bind(2, to).Run());
      if (to == kSpare) VS_RETURN_IF_ERROR(rb.Bind(1, m.first).Bind(2, l.id).Bind(3, NowIso8601()).Run());
    }
  }
  return Status::OK();
}

Status Store::MarkLegsCreated(const std::vector<LegGrant>& legs) {
  return Mutate([&](Change*) {
    Stmt up(db_, "UPDATE chunk SET created = 1 WHERE id = ?1 AND created = 0");
    for (const LegGrant& l : legs) VS_RETURN_IF_ERROR(up.Bind(1, l.chunk_id).Run());
    return Status::OK();
  });
}

}  // namespace vastsky
