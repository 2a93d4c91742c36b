// Store: failure reports, chunk replacement and cluster shutdown.
//
// A lost leg gets a replacement chunk from the pool at once (never on a
// server or domain holding another leg of its mirror) and a rebuild queue
// entry. With no room, the leg is kept and marked SPARE: the mirror is
// recorded as degraded, never rolled back.
#include <algorithm>
#include <cerrno>

#include "lib/ids.h"
#include "manager/access.h"
#include "manager/rebuild_scheduler.h"
#include "manager/store.h"

namespace vastsky {

namespace {
std::string HeldWords(int64_t held_for) {
  if (held_for == 0) return "";
  return "; its space stays held until " + FormatId("hsvr", held_for) + " drops the old leg or is fenced";
}
}  // namespace

Status Store::ReplaceChunk(int64_t chunk_id, int64_t source_pdsk, std::unordered_map<int64_t, double>* load,
                           bool avoid_own_server, Change* change) {
  Stmt q(db_,
         "SELECT c.mirror_id, c.pdsk_id, c.length_mib, c.status, c.slot, m.written FROM chunk c "
         "JOIN mirror m ON m.id = c.mirror_id WHERE c.id = ?1");
  q.Bind(1, chunk_id);
  if (!q.Step()) {
    VS_RETURN_IF_ERROR(q.status());
    return Status::Error(ENOENT, "no chunk " + FormatId("dext", chunk_id));
  }
  const int64_t mirror_id = q.Int(0), pdsk_id = q.Int(1), length = q.Int(2), slot = q.Int(4);
  const int status = static_cast<int>(q.Int(3));
  const bool written = q.Int(5) != 0;
  q.Reset();
  int64_t held_for = 0;
  // A leg being drained already has its successor: it just goes.
  Stmt retiring(db_, "UPDATE rebuild SET retire_chunk = 0 WHERE retire_chunk = ?1");
  VS_RETURN_IF_ERROR(retiring.Bind(1, chunk_id).Run());
  if (sqlite3_changes(db_.handle()) > 0) {
    VS_RETURN_IF_ERROR(RetireChunk(chunk_id, change, &held_for));
    return AddEvent("warning", "replace", "mirr", mirror_id,
                    FormatId("dext", chunk_id) + " lost while being drained: its successor is being rebuilt" +
                        HeldWords(held_for));
  }
  std::vector<Placement> keep;
  Stmt legs(db_,
            "SELECT c.pdsk_id, p.ssvr_id FROM chunk c JOIN pdsk p ON p.id = c.pdsk_id "
            "WHERE c.mirror_id = ?1 AND (c.id != ?2 OR ?3)");
  legs.Bind(1, mirror_id).Bind(2, chunk_id).Bind(3, avoid_own_server ? 1 : 0);
  while (legs.Step()) keep.push_back({legs.Int(0), legs.Int(1), 0, 0});
  VS_RETURN_IF_ERROR(legs.status());

  std::vector<Placement> placed;
  Status st = alloc_.PlaceMirror(1, length + kMetaMib, keep, &change->journal, &placed, load, source_pdsk);
  if (st.code() == ENOSPC) {
    Stmt spare(db_, "UPDATE chunk SET status = 3 WHERE id = ?1");
    VS_RETURN_IF_ERROR(spare.Bind(1, chunk_id).Run());
    return AddEvent("error", "degraded", "mirr", mirror_id,
                    "no room for a replacement of " + FormatId("dext", chunk_id) + ": mirror runs degraded");
  }
  VS_RETURN_IF_ERROR(st);
  (*load)[placed[0].pdsk_id] += 1;
  int64_t new_id;
  VS_RETURN_IF_ERROR(NextIds("lvol", 1, &new_id));
  // A mirror never handed to a head holds nothing yet, so its replacement
  // needs no copy; once handed, even a leg still ALLOCATED may hold data.
  const int new_status = status == kAllocated && !written ? kAllocated : kSpare;
  int64_t thin_id;
  VS_RETURN_IF_ERROR(NextThinId(placed[0].pdsk_id, &thin_id));
  Stmt ins(db_,
           "INSERT INTO chunk(id, mirror_id, pdsk_id, offset_mib, length_mib, status, slot, thin_id) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  ins.Bind(8, thin_id);
  ins.Bind(1, new_id).Bind(2, mirror_id).Bind(3, placed[0].pdsk_id).Bind(4, placed[0].offset).Bind(5, length);
  VS_RETURN_IF_ERROR(ins.Bind(6, new_status).Bind(7, slot).Run());
  if (new_status == kSpare) {
    Stmt rb(db_,
            "INSERT INTO rebuild(mirror_id, chunk_id, state, ctime, source_pdsk) VALUES (?1, ?2, 0, ?3, ?4)");
    VS_RETURN_IF_ERROR(rb.Bind(1, mirror_id).Bind(2, new_id).Bind(3, NowIso8601()).Bind(4, source_pdsk).Run());
  }
  VS_RETURN_IF_ERROR(RetireChunk(chunk_id, change, &held_for));
  return AddEvent("info", "replace", "mirr", mirror_id,
                  FormatId("dext", chunk_id) + " on " + FormatId("pdsk", pdsk_id) + " replaced by " +
                      FormatId("dext", new_id) + " on " + FormatId("pdsk", placed[0].pdsk_id) + HeldWords(held_for));
}

Status Store::QueuedRebuildLoad(std::unordered_map<int64_t, double>* load) {
  // Every queued or running rebuild writes its leg's disk and reads its source.
  Stmt q(db_, "SELECT c.pdsk_id, r.source_pdsk FROM rebuild r JOIN chunk c ON c.id = r.chunk_id");
  while (q.Step()) {
    (*load)[q.Int(0)] += 1;
    if (q.Int(1)) (*load)[q.Int(1)] += 1;
  }
  return q.status();
}

Status Store::ReplaceChunks(const std::vector<int64_t>& chunks, Change* change, bool avoid_own_server) {
  // As the rebuild simulator shows (tests/rebuild_sim): all the legs a
  // failure takes get their sources first, then their destinations, both
  // by the work already queued per disk, so the rebuild spreads evenly.
  std::unordered_map<int64_t, double> load;
  VS_RETURN_IF_ERROR(QueuedRebuildLoad(&load));
  std::vector<RebuildTask> tasks;
  Stmt mirror(db_, "SELECT mirror_id FROM chunk WHERE id = ?1");
  for (int64_t c : chunks) {
    RebuildTask t;
    t.id = c;
    mirror.Bind(1, c);
    if (mirror.Step()) VS_RETURN_IF_ERROR(SourceDisks(mirror.Int(0), c, &t.sources));
    VS_RETURN_IF_ERROR(mirror.status());
    mirror.Reset();
    tasks.push_back(t);
  }
  ChooseSources(&tasks, &load);
  for (const RebuildTask& t : tasks) VS_RETURN_IF_ERROR(ReplaceChunk(t.id, t.source, &load, avoid_own_server, change));
  return Status::OK();
}

Status Store::ReplaceDeadLeg(int64_t chunk_id, int64_t hsvr_id) {
  return Mutate([&](Change* change) {
    Stmt q(db_,
           "SELECT c.mirror_id, c.pdsk_id, p.priority IN (1, 2, 3) AND s.priority IN (1, 2, 3) "
           "FROM chunk c JOIN pdsk p ON p.id = c.pdsk_id JOIN ssvr s ON s.id = p.ssvr_id "
           "JOIN mirror m ON m.id = c.mirror_id JOIN attachment a ON a.lvol_id = m.lvol_id "
           "WHERE c.id = ?1 AND a.hsvr_id = ?2");
    q.Bind(1, chunk_id).Bind(2, hsvr_id);
    if (!q.Step() || q.Int(2) == 0) return q.status();
    const int64_t mirror_id = q.Int(0), pdsk_id = q.Int(1);
    q.Reset();
    std::vector<int64_t> sources;
    VS_RETURN_IF_ERROR(SourceDisks(mirror_id, chunk_id, &sources));
    if (sources.empty())
      return Status::Error(EAGAIN, "no other leg of " + FormatId("mirr", mirror_id) +
                                       " is in sync: the dead leg is kept, it may hold the only copy");
    VS_RETURN_IF_ERROR(AddEvent("warning", "failure", "dext", chunk_id,
                                "leg dead on " + FormatId("hsvr", hsvr_id) + " beyond the grace period while " +
                                    FormatId("pdsk", pdsk_id) + " lives: replaced"));
    return ReplaceChunks({chunk_id}, change, /*avoid_own_server=*/true);
  });
}

Status Store::ReplaceLostLegs(int64_t pdsk_id, const std::vector<int64_t>& chunks, int* replaced) {
  int count = 0;
  Status st = Mutate([&](Change* change) {
    // Only legs still there and granted as existing: the grant that found
    // them missing may be older than a replacement since.
    Stmt q(db_, "SELECT mirror_id FROM chunk WHERE id = ?1 AND pdsk_id = ?2 AND status = 2 AND created = 1");
    std::vector<int64_t> lost;
    for (int64_t chunk : chunks) {
      q.Bind(1, chunk).Bind(2, pdsk_id);
      const bool found = q.Step();
      const int64_t mirror_id = found ? q.Int(0) : 0;
      VS_RETURN_IF_ERROR(q.status());
      q.Reset();
      if (!found) continue;
      std::vector<int64_t> sources;
      VS_RETURN_IF_ERROR(SourceDisks(mirror_id, chunk, &sources));
      const std::string what = FormatId("dext", chunk) + "'s thin device is missing on " + FormatId("pdsk", pdsk_id);
      if (sources.empty()) {
        VS_RETURN_IF_ERROR(AddEvent("error", "lost", "dext", chunk,
                                    what + " and no other leg of " + FormatId("mirr", mirror_id) +
                                        " is in sync: it may be the only copy, kept; restore the disk's pool"));
        continue;
      }
      VS_RETURN_IF_ERROR(AddEvent("warning", "lost", "dext", chunk, what + ": replaced, rebuilt from another leg"));
      lost.push_back(chunk);
    }
    count = static_cast<int>(lost.size());
    return ReplaceChunks(lost, change);
  });
  *replaced = st.ok() ? count : 0;
  return st;
}

Status Store::ReplaceChunksOn(const char* where_sql, int64_t id, Change* change) {
  std::vector<int64_t> chunks;
  // SPARE legs move too: a leg waiting for rebuild on a dead disk must be
  // rebuilt elsewhere. One that finds no room stays, recorded as degraded.
  std::string sql = std::string("SELECT c.id FROM chunk c JOIN pdsk p ON p.id = c.pdsk_id WHERE ") + where_sql +
                    " ORDER BY c.id";
  Stmt q(db_, sql.c_str());
  q.Bind(1, id);
  while (q.Step()) chunks.push_back(q.Int(0));
  VS_RETURN_IF_ERROR(q.status());
  return ReplaceChunks(chunks, change);
}

Status Store::NotifyFailure(int target, int64_t target_id, const std::set<int64_t>* fenced_pdsks) {
  if (target < kTargetHsvr || target > kTargetDext)
    return Status::Error(EINVAL, "target must be 1 (hsvr), 2 (ssvr), 3 (pdsk) or 4 (dext)");
  return Mutate([&](Change* change) -> Status {
    int prio = 0;
    switch (target) {
      case kTargetHsvr: {
        VS_RETURN_IF_ERROR(GetPriority("hsvr", target_id, &prio));
        if (prio == kOffline || prio == kFaulty) return Status::OK();
        Stmt up(db_, "UPDATE hsvr SET priority = 4 WHERE id = ?1");
        VS_RETURN_IF_ERROR(up.Bind(1, target_id).Run());
        Stmt det(db_, "DELETE FROM attachment WHERE hsvr_id = ?1");
        VS_RETURN_IF_ERROR(det.Bind(1, target_id).Run());
        int detached = sqlite3_changes(db_.handle());
        Stmt requeue(db_, "UPDATE rebuild SET state = 0, hsvr_id = 0, started = '' WHERE state = 1 AND hsvr_id = ?1");
        VS_RETURN_IF_ERROR(requeue.Bind(1, target_id).Run());
        // Fenced on these disks, it can no longer write its old legs there;
        // elsewhere (a server it could not be revoked on) they stay held.
        int64_t freed = 0;
        if (fenced_pdsks) {
          HeldFilter held;
          held.hsvr_id = target_id;
          held.on_pdsks = fenced_pdsks;
          VS_RETURN_IF_ERROR(FreeHeld(held, change, &freed));
        }
        return AddEvent("warning", "failure", "hsvr", target_id,
                        "head server reported failed; " + std::to_string(detached) + " volumes marked detached" +
                            (freed ? "; " + std::to_string(freed) + " old leg(s) it held freed" : std::string()));
      }
      case kTargetSsvr: {
        VS_RETURN_IF_ERROR(GetPriority("ssvr", target_id, &prio));
        if (prio == kOffline || prio == kFaulty) return Status::OK();
        Stmt up(db_, "UPDATE ssvr SET priority = 4 WHERE id = ?1");
        VS_RETURN_IF_ERROR(up.Bind(1, target_id).Run());
        Stmt disks(db_, "UPDATE pdsk SET priority = 4 WHERE ssvr_id = ?1 AND priority != 5");
        VS_RETURN_IF_ERROR(disks.Bind(1, target_id).Run());
        VS_RETURN_IF_ERROR(RefreshAllocatable(target_id, change));
        VS_RETURN_IF_ERROR(AddEvent("warning", "failure", "ssvr", target_id, "storage server reported failed"));
        return ReplaceChunksOn("p.ssvr_id = ?1", target_id, change);
      }
      case kTargetPdsk: {
        VS_RETURN_IF_ERROR(GetPriority("pdsk", target_id, &prio));
        if (prio == kFaulty) return Status::OK();
        return FailDisk(target_id, kFaulty, change);
      }
      default: {
        Stmt q(db_,
               "SELECT c.status, EXISTS(SELECT 1 FROM attachment a WHERE a.lvol_id = m.lvol_id), c.mirror_id "
               "FROM chunk c JOIN mirror m ON m.id = c.mirror_id WHERE c.id = ?1");
        q.Bind(1, target_id);
        if (!q.Step()) {
          VS_RETURN_IF_ERROR(q.status());
          return Status::Error(ENOENT, "no chunk " + FormatId("dext", target_id));
        }
        // As 3.0: a leg that drops out of an attached mirror is re-added
        // (the write-intent bitmap makes that resync short).
        if (q.Int(0) != kInsync || q.Int(1) == 0) return Status::OK();
        const int64_t mirror_id = q.Int(2);
        Stmt spare(db_, "UPDATE chunk SET status = 3 WHERE id = ?1");
        VS_RETURN_IF_ERROR(spare.Bind(1, target_id).Run());
        Stmt rb(db_, "INSERT OR IGNORE INTO rebuild(mirror_id, chunk_id, state, ctime) VALUES (?1, ?2, 0, ?3)");
        VS_RETURN_IF_ERROR(rb.Bind(1, mirror_id).Bind(2, target_id).Bind(3, NowIso8601()).Run());
        return AddEvent("warning", "failure", "dext", target_id, "leg dropped out of its mirror; queued for resync");
      }
    }
  });
}

Status Store::FailDisk(int64_t pdsk_id, int new_priority, Change* change) {
  Stmt up(db_, "UPDATE pdsk SET priority = ?2 WHERE id = ?1 RETURNING ssvr_id");
  up.Bind(1, pdsk_id).Bind(2, new_priority);
  if (!up.Step()) return up.status().ok() ? Status::Error(ENOENT, "no disk") : up.status();
  const int64_t ssvr_id = up.Int(0);
  up.Reset();
  VS_RETURN_IF_ERROR(RefreshAllocatable(ssvr_id, change));
  VS_RETURN_IF_ERROR(AddEvent("warning", "failure", "pdsk", pdsk_id,
                              std::string("disk reported failed; now ") + PriorityName(new_priority)));
  return ReplaceChunksOn("c.pdsk_id = ?1", pdsk_id, change);
}

Status Store::NotifyBadBlocks(int64_t pdsk_id, const std::vector<int64_t>& blocks_gib, const Caller* caller) {
  return Mutate([&](Change* change) {
    Stmt d(db_, "SELECT size_mib, priority, ssvr_id FROM pdsk WHERE id = ?1");
    d.Bind(1, pdsk_id);
    if (!d.Step()) {
      VS_RETURN_IF_ERROR(d.status());
      return Status::Error(ENOENT, "no disk " + FormatId("pdsk", pdsk_id));
    }
    const int64_t size_mib = d.Int(0), ssvr_id = d.Int(2);
    const int prio = static_cast<int>(d.Int(1));
    if (caller) VS_RETURN_IF_ERROR(OwnServer(*caller, Role::kStorage, ssvr_id));
    d.Reset();
    std::vector<int64_t> chunks;
    Stmt hit(db_,
             "SELECT id FROM chunk WHERE pdsk_id = ?1 AND offset_mib < ?3 AND offset_mib + length_mib + 1 > ?2 "
             "AND status != 3");
    for (int64_t b : blocks_gib) {
      if (b < 0 || b * 1024 >= size_mib)
        return Status::Error(EINVAL, "block " + std::to_string(b) + " GiB lies outside the disk");
      hit.Bind(1, pdsk_id).Bind(2, b * 1024).Bind(3, (b + 1) * 1024);
      while (hit.Step()) chunks.push_back(hit.Int(0));
      VS_RETURN_IF_ERROR(hit.status());
      hit.Reset();
    }
    if (prio == kHigh) {
      // A disk with bad sectors still takes chunks, but is known as LOW.
      Stmt low(db_, "UPDATE pdsk SET priority = 2 WHERE id = ?1");
      VS_RETURN_IF_ERROR(low.Bind(1, pdsk_id).Run());
      VS_RETURN_IF_ERROR(RefreshAllocatable(ssvr_id, change));
    }
    VS_RETURN_IF_ERROR(AddEvent("warning", "badblocks", "pdsk", pdsk_id,
                                std::to_string(blocks_gib.size()) + " bad blocks reported; " +
                                    std::to_string(chunks.size()) + " chunks to replace"));
    // A written leg keeps serving reads elsewhere on its disk while a new
    // leg is rebuilt beside it, as in a drain: redundancy never drops, and
    // its space is freed only once its head has let it go.
    std::unordered_map<int64_t, double> load;
    VS_RETURN_IF_ERROR(QueuedRebuildLoad(&load));
    std::sort(chunks.begin(), chunks.end());
    chunks.erase(std::unique(chunks.begin(), chunks.end()), chunks.end());
    for (int64_t c : chunks) {
      Stmt q(db_,
             "SELECT status, EXISTS(SELECT 1 FROM rebuild WHERE retire_chunk = ?1) FROM chunk WHERE id = ?1");
      q.Bind(1, c);
      if (!q.Step()) {
        VS_RETURN_IF_ERROR(q.status());
        continue;
      }
      const int status = static_cast<int>(q.Int(0));
      const bool retiring = q.Int(1) != 0;
      q.Reset();
      if (retiring) continue;
      if (status == kInsync) {
        bool placed = false;
        VS_RETURN_IF_ERROR(AddLegBeside(c, &load, &placed, change));
      } else {  // never written: it just moves
        VS_RETURN_IF_ERROR(ReplaceChunks({c}, change));
      }
    }
    return Status::OK();
  });
}

Status Store::ShutdownAll() {
  return Mutate([&](Change* change) {
    Stmt att(db_, "SELECT count(*) FROM attachment");
    if (att.Step() && att.Int(0) > 0)
      return Status::Error(EBUSY, std::to_string(att.Int(0)) + " volumes are attached; detach them first");
    VS_RETURN_IF_ERROR(att.status());
    VS_RETURN_IF_ERROR(db_.Exec("UPDATE hsvr SET priority = 4"));
    VS_RETURN_IF_ERROR(db_.Exec("UPDATE ssvr SET priority = 6 WHERE priority IN (1, 2, 3)"));
    VS_RETURN_IF_ERROR(db_.Exec("UPDATE pdsk SET priority = 6 WHERE priority IN (1, 2, 3)"));
    Stmt servers(db_, "SELECT id FROM ssvr");
    std::vector<int64_t> ids;
    while (servers.Step()) ids.push_back(servers.Int(0));
    VS_RETURN_IF_ERROR(servers.status());
    for (int64_t id : ids) VS_RETURN_IF_ERROR(RefreshAllocatable(id, change));
    return AddEvent("warning", "shutdown", "cluster", 0, "cluster shut down: servers HALT until they register again");
  });
}

}  // namespace vastsky
