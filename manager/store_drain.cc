// Store: draining a disk or a server before it is deleted.
//
// Redundancy never drops: a written leg on a draining disk gets a new leg
// beside it, in a new slot (the mirror grows by one), and is retired only
// once the head reports the grown mirror in sync. Legs holding nothing yet
// (never attached, or waiting for a rebuild) simply move.
#include <algorithm>
#include <cerrno>

#include "lib/ids.h"
#include "manager/rebuild_scheduler.h"
#include "manager/store.h"

namespace vastsky {

Status Store::Drain(int target, int64_t target_id) {
  if (target != kTargetSsvr && target != kTargetPdsk)
    return Status::Error(EINVAL, "target must be 2 (ssvr) or 3 (pdsk)");
  const char* table = target == kTargetSsvr ? "ssvr" : "pdsk";
  return Mutate([&](Change* change) {
    int prio;
    VS_RETURN_IF_ERROR(GetPriority(table, target_id, &prio));
    if (prio != kHigh && prio != kLow && prio != kEvacuate)
      return Status::Error(EINVAL, std::string(table) + " " + std::to_string(target_id) + " is " + PriorityName(prio) +
                                       ": only a live one can be drained (a failed one's legs are replaced already)");
    int64_t ssvr_id = target_id;
    if (target == kTargetSsvr) {
      Stmt up(db_, "UPDATE ssvr SET priority = 3 WHERE id = ?1");
      VS_RETURN_IF_ERROR(up.Bind(1, target_id).Run());
      Stmt disks(db_, "UPDATE pdsk SET priority = 3 WHERE ssvr_id = ?1 AND priority IN (1, 2)");
      VS_RETURN_IF_ERROR(disks.Bind(1, target_id).Run());
    } else {
      Stmt up(db_, "UPDATE pdsk SET priority = 3 WHERE id = ?1 RETURNING ssvr_id");
      up.Bind(1, target_id);
      if (!up.Step()) return up.status();
      ssvr_id = up.Int(0);
    }
    VS_RETURN_IF_ERROR(RefreshAllocatable(ssvr_id, change));
    const std::string where = target == kTargetSsvr ? "p.ssvr_id = ?1" : "c.pdsk_id = ?1";
    // Legs without data move; a leg already being retired is left alone.
    std::vector<int64_t> move, grow;
    Stmt q(db_, ("SELECT c.id, c.status FROM chunk c JOIN pdsk p ON p.id = c.pdsk_id WHERE " + where +
                 " AND NOT EXISTS (SELECT 1 FROM rebuild r WHERE r.retire_chunk = c.id) ORDER BY c.id")
                    .c_str());
    q.Bind(1, target_id);
    while (q.Step()) (q.Int(1) == kInsync ? grow : move).push_back(q.Int(0));
    VS_RETURN_IF_ERROR(q.status());
    VS_RETURN_IF_ERROR(ReplaceChunks(move, change));
    std::unordered_map<int64_t, double> load;
    VS_RETURN_IF_ERROR(QueuedRebuildLoad(&load));
    int64_t stuck = 0;
    for (int64_t c : grow) {
      bool placed = false;
      VS_RETURN_IF_ERROR(AddLegBeside(c, &load, &placed, change));
      if (!placed) ++stuck;
    }
    std::string what = std::to_string(grow.size()) + " written leg(s) get a new leg beside them, " +
                       std::to_string(move.size()) + " empty leg(s) moved";
    if (stuck) what += "; " + std::to_string(stuck) + " leg(s) find no room elsewhere and stay";
    return AddEvent(stuck ? "error" : "info", "drain", table, target_id, "draining: " + what);
  });
}

Status Store::AddLegBeside(int64_t chunk_id, std::unordered_map<int64_t, double>* load, bool* placed,
                           Change* change) {
  Stmt q(db_, "SELECT mirror_id, length_mib FROM chunk WHERE id = ?1");
  q.Bind(1, chunk_id);
  if (!q.Step()) return q.status();
  const int64_t mirror_id = q.Int(0), length = q.Int(1);
  q.Reset();
  // Every leg, the draining one too, keeps its server: the new leg must
  // stand on its own.
  std::vector<Placement> keep;
  int64_t next_slot = 0;
  Stmt legs(db_,
            "SELECT c.pdsk_id, p.ssvr_id, c.slot FROM chunk c JOIN pdsk p ON p.id = c.pdsk_id WHERE c.mirror_id = ?1");
  legs.Bind(1, mirror_id);
  while (legs.Step()) {
    keep.push_back({legs.Int(0), legs.Int(1), 0, 0});
    next_slot = std::max(next_slot, legs.Int(2) + 1);
  }
  VS_RETURN_IF_ERROR(legs.status());
  std::vector<RebuildTask> task(1);
  task[0].id = chunk_id;
  VS_RETURN_IF_ERROR(SourceDisks(mirror_id, 0, &task[0].sources));
  ChooseSources(&task, load);
  std::vector<Placement> out;
  Status st = alloc_.PlaceMirror(1, length + kMetaMib, keep, &change->journal, &out, load, task[0].source);
  if (st.code() == ENOSPC) {
    *placed = false;
    return AddEvent("error", "drain", "dext", chunk_id, "no room for a leg to take over: " + st.message());
  }
  VS_RETURN_IF_ERROR(st);
  *placed = true;
  (*load)[out[0].pdsk_id] += 1;
  int64_t new_id;
  VS_RETURN_IF_ERROR(NextIds("lvol", 1, &new_id));
  int64_t thin_id;
  VS_RETURN_IF_ERROR(NextThinId(out[0].pdsk_id, &thin_id));
  Stmt ins(db_,
           "INSERT INTO chunk(id, mirror_id, pdsk_id, offset_mib, length_mib, status, slot, thin_id) "
           "VALUES (?1, ?2, ?3, ?4, ?5, 3, ?6, ?7)");
  ins.Bind(7, thin_id);
  ins.Bind(1, new_id).Bind(2, mirror_id).Bind(3, out[0].pdsk_id).Bind(4, out[0].offset).Bind(5, length);
  VS_RETURN_IF_ERROR(ins.Bind(6, next_slot).Run());
  Stmt rb(db_,
          "INSERT INTO rebuild(mirror_id, chunk_id, state, ctime, source_pdsk, retire_chunk) "
          "VALUES (?1, ?2, 0, ?3, ?4, ?5)");
  return rb.Bind(1, mirror_id).Bind(2, new_id).Bind(3, NowIso8601()).Bind(4, task[0].source).Bind(5, chunk_id).Run();
}

Status Store::RetiringLegs(int64_t mirror_id, std::vector<int64_t>* chunks) {
  Stmt q(db_, "SELECT retire_chunk FROM rebuild WHERE mirror_id = ?1 AND retire_chunk != 0 ORDER BY retire_chunk");
  q.Bind(1, mirror_id);
  while (q.Step()) chunks->push_back(q.Int(0));
  return q.status();
}

}  // namespace vastsky
