// Store: the rebuild queue as the scheduler and the recovery loop use it,
// and the servers whose silence the failure detector judges.
//
// A rebuild runs where its volume is attached: the head's raid1 copies the
// data into the replacement leg. Rows of one mirror move together (one
// table reload rebuilds all its new legs), so the scheduler's task is a
// mirror, named by its id.
#include <algorithm>
#include <cerrno>

#include "lib/ids.h"
#include "manager/store.h"

namespace vastsky {

Status Store::SourceDisks(int64_t mirror_id, int64_t except_chunk, std::vector<int64_t>* out) {
  Stmt q(db_,
         "SELECT c.pdsk_id FROM chunk c JOIN pdsk p ON p.id = c.pdsk_id JOIN ssvr s ON s.id = p.ssvr_id "
         "WHERE c.mirror_id = ?1 AND c.id != ?2 AND c.status = 2 AND p.priority IN (1, 2, 3) "
         "AND s.priority IN (1, 2, 3) ORDER BY c.slot");
  q.Bind(1, mirror_id).Bind(2, except_chunk);
  while (q.Step()) out->push_back(q.Int(0));
  return q.status();
}

Status Store::RebuildWork(std::vector<RebuildTask>* queued, std::set<int64_t>* busy,
                          std::vector<RunningRebuild>* running) {
  Txn txn(db_);
  VS_RETURN_IF_ERROR(txn.status());
  // Runnable: the volume is bound (not in transition) on a head with an agent.
  Stmt q(db_,
         "SELECT r.mirror_id, r.state, c.pdsk_id, r.source_pdsk, r.hsvr_id, m.lvol_id, h.url "
         "FROM rebuild r JOIN chunk c ON c.id = r.chunk_id JOIN mirror m ON m.id = r.mirror_id "
         "JOIN attachment a ON a.lvol_id = m.lvol_id JOIN hsvr h ON h.id = a.hsvr_id "
         "WHERE a.status = 1 AND a.event = 0 AND h.url != '' ORDER BY r.mirror_id");
  std::map<int64_t, RebuildTask> tasks;
  std::map<int64_t, RunningRebuild> runs;
  while (q.Step()) {
    const int64_t mirror = q.Int(0), dest = q.Int(2), source = q.Int(3);
    if (q.Int(1) == 1) {
      busy->insert(dest);
      if (source) busy->insert(source);
      runs[mirror] = {mirror, q.Int(5), q.Int(4), q.Text(6)};
      continue;
    }
    RebuildTask& t = tasks[mirror];
    t.id = mirror;
    t.dests.push_back(dest);
    t.source = source;
  }
  VS_RETURN_IF_ERROR(q.status());
  for (auto& e : tasks) {
    RebuildTask& t = e.second;
    if (runs.count(t.id)) continue;  // part of it already runs: wait for that
    VS_RETURN_IF_ERROR(SourceDisks(t.id, 0, &t.sources));
    if (std::find(t.sources.begin(), t.sources.end(), t.source) == t.sources.end())
      t.source = 0;  // its source failed since: any leg will do
    t.live_legs = static_cast<int>(t.sources.size());
    if (!t.sources.empty()) queued->push_back(t);
  }
  for (const auto& r : runs) running->push_back(r.second);
  return txn.Commit();
}

Status Store::ListRebuilds(std::vector<RebuildInfo>* out) {
  Txn txn(db_);
  VS_RETURN_IF_ERROR(txn.status());
  Stmt q(db_,
         "SELECT r.mirror_id, m.lvol_id, l.name, m.capacity_gib, r.state, r.hsvr_id, r.source_pdsk, c.pdsk_id, "
         "r.retire_chunk, r.ctime, r.started FROM rebuild r JOIN chunk c ON c.id = r.chunk_id "
         "JOIN mirror m ON m.id = r.mirror_id JOIN lvol l ON l.id = m.lvol_id "
         "ORDER BY r.state DESC, r.mirror_id, c.pdsk_id");
  while (q.Step()) {
    if (out->empty() || out->back().mirror_id != q.Int(0)) {
      RebuildInfo r;
      r.mirror_id = q.Int(0);
      r.lvol_id = q.Int(1);
      r.lvol_name = q.Text(2);
      r.capacity_gib = q.Int(3);
      r.running = q.Int(4) == 1;
      r.hsvr_id = q.Int(5);
      r.source_pdsk = q.Int(6);
      r.queued = q.Text(9);
      r.started = q.Text(10);
      out->push_back(r);
    }
    out->back().dest_pdsks.push_back(q.Int(7));
    if (q.Int(8) != 0) out->back().retires = true;
  }
  VS_RETURN_IF_ERROR(q.status());
  return txn.Commit();
}

Status Store::StartRebuild(int64_t mirror_id, int64_t source_pdsk, RebuildPlan* plan) {
  return Mutate([&](Change*) {
    Stmt q(db_,
           "SELECT m.lvol_id, a.hsvr_id FROM mirror m JOIN attachment a ON a.lvol_id = m.lvol_id "
           "WHERE m.id = ?1 AND a.status = 1 AND a.event = 0");
    q.Bind(1, mirror_id);
    if (!q.Step()) {
      VS_RETURN_IF_ERROR(q.status());
      return Status::Error(EAGAIN, FormatId("mirr", mirror_id) + " is no longer attached");
    }
    const int64_t lvol_id = q.Int(0), hsvr_id = q.Int(1);
    q.Reset();
    VolumeInfo vol;
    VS_RETURN_IF_ERROR(LoadVolume(lvol_id, &vol));
    VS_RETURN_IF_ERROR(LoadLayout(vol, &plan->layout));
    VS_RETURN_IF_ERROR(LoadHeadAgent(hsvr_id, &plan->head));
    plan->mirror_id = mirror_id;
    plan->source_pdsk = source_pdsk;
    Stmt up(db_, "UPDATE rebuild SET state = 1, hsvr_id = ?2, started = ?3, source_pdsk = ?4 WHERE mirror_id = ?1");
    return up.Bind(1, mirror_id).Bind(2, hsvr_id).Bind(3, NowIso8601()).Bind(4, source_pdsk).Run();
  });
}

Status Store::FinishRebuild(int64_t mirror_id, const std::vector<int64_t>& chunks) {
  return Mutate([&](Change* change) {
    // The head rebuilt it: its thin device exists. Never a leg on a disk
    // declared failed since (no head could have written it): it stays
    // SPARE with its rebuild, which the head's dead-leg report re-places.
    Stmt sync(db_, "UPDATE chunk SET status = 2, created = 1 WHERE id = ?1 AND status = 3");
    Stmt del(db_,
             "DELETE FROM rebuild WHERE chunk_id = ?1 AND state = 1 AND chunk_id NOT IN (SELECT c.id FROM chunk c "
             "JOIN pdsk p ON p.id = c.pdsk_id WHERE p.priority IN (4, 5)) RETURNING retire_chunk");
    Stmt retired(db_, "DELETE FROM chunk WHERE id = ?1 RETURNING pdsk_id, offset_mib, length_mib, thin_id");
    int64_t done = 0, gone = 0;
    for (int64_t c : chunks) {
      del.Bind(1, c);
      if (!del.Step()) {  // replaced or requeued meanwhile
        VS_RETURN_IF_ERROR(del.status());
        del.Reset();
        continue;
      }
      const int64_t retire = del.Int(0);
      del.Reset();
      VS_RETURN_IF_ERROR(sync.Bind(1, c).Run());
      ++done;
      if (retire == 0) continue;
      // The head has already dropped the drained leg (Recovery asks it
      // first), so its space may go to others now.
      retired.Bind(1, retire);
      if (retired.Step()) {
        VS_RETURN_IF_ERROR(DropLeg(LegExtent{retired.Int(0), retired.Int(1), retired.Int(2), retire, retired.Int(3), true},
                                   &change->journal));
        ++gone;
      }
      VS_RETURN_IF_ERROR(retired.status());
      retired.Reset();
    }
    if (done == 0) return Status::OK();
    return AddEvent("info", "rebuilt", "mirr", mirror_id,
                    std::to_string(done) + " leg(s) rebuilt: the mirror is whole again" +
                        (gone ? "; " + std::to_string(gone) + " drained leg(s) retired" : std::string()));
  });
}

Status Store::RequeueRebuild(int64_t mirror_id, const std::string& why) {
  return Mutate([&](Change*) {
    Stmt up(db_, "UPDATE rebuild SET state = 0, hsvr_id = 0, started = '' WHERE mirror_id = ?1 AND state = 1");
    VS_RETURN_IF_ERROR(up.Bind(1, mirror_id).Run());
    if (sqlite3_changes(db_.handle()) == 0) return Status::OK();
    return AddEvent("warning", "rebuild", "mirr", mirror_id, "rebuild put back in the queue: " + why);
  });
}

Status Store::RebuildAttachWork(int limit, std::vector<std::pair<int64_t, int64_t>>* lvol_hsvr) {
  Txn txn(db_);
  VS_RETURN_IF_ERROR(txn.status());
  Stmt busy(db_, "SELECT count(*) FROM attachment WHERE rebuild_only = 1");
  if (!busy.Step()) return busy.status();
  limit -= static_cast<int>(busy.Int(0));
  if (limit <= 0) return Status::OK();
  // Snapshots too: each is a volume of its own. One being made waits.
  Stmt vols(db_,
            "SELECT DISTINCT m.lvol_id FROM rebuild r JOIN mirror m ON m.id = r.mirror_id JOIN lvol l ON l.id = m.lvol_id "
            "WHERE l.state = 0 AND NOT EXISTS (SELECT 1 FROM attachment a WHERE a.lvol_id = l.id) "
            "ORDER BY m.lvol_id LIMIT ?1");
  vols.Bind(1, limit);
  std::vector<int64_t> ids;
  while (vols.Step()) ids.push_back(vols.Int(0));
  VS_RETURN_IF_ERROR(vols.status());
  if (ids.empty()) return Status::OK();
  Stmt heads(db_,
             "SELECT h.id, (SELECT count(*) FROM attachment a WHERE a.hsvr_id = h.id) FROM hsvr h "
             "WHERE h.priority IN (1, 2) AND h.url != '' AND h.chap_user != '' ORDER BY 2, h.id");
  std::vector<std::pair<int64_t, int64_t>> load;  // attachments, hsvr
  while (heads.Step()) load.push_back({heads.Int(1), heads.Int(0)});
  VS_RETURN_IF_ERROR(heads.status());
  if (load.empty()) return Status::OK();
  for (int64_t id : ids) {
    std::sort(load.begin(), load.end());
    lvol_hsvr->push_back({id, load[0].second});
    ++load[0].first;
  }
  return Status::OK();
}

Status Store::IdleRebuildAttachments(std::vector<int64_t>* lvols) {
  Stmt q(db_,
         "SELECT a.lvol_id FROM attachment a WHERE a.rebuild_only = 1 AND a.event = 0 AND NOT EXISTS "
         "(SELECT 1 FROM rebuild r JOIN mirror m ON m.id = r.mirror_id WHERE m.lvol_id = a.lvol_id) ORDER BY 1");
  while (q.Step()) lvols->push_back(q.Int(0));
  return q.status();
}

Status Store::AdoptRebuildAttachment(int64_t lvol_id, int64_t hsvr_id, bool* adopted) {
  return Mutate([&](Change*) {
    Stmt up(db_,
            "UPDATE attachment SET rebuild_only = 0 WHERE lvol_id = ?1 AND hsvr_id = ?2 AND rebuild_only = 1 "
            "AND status = 1 AND event = 0");
    VS_RETURN_IF_ERROR(up.Bind(1, lvol_id).Bind(2, hsvr_id).Run());
    *adopted = sqlite3_changes(db_.handle()) == 1;
    if (!*adopted) return Status::OK();
    return AddEvent("info", "attach", "lvol", lvol_id,
                    "attached to hsvr " + std::to_string(hsvr_id) + " (it was there already, being rebuilt)");
  });
}

Status Store::MonitoredServers(std::vector<MonitoredServer>* out) {
  Txn txn(db_);
  VS_RETURN_IF_ERROR(txn.status());
  Stmt s(db_, "SELECT id, domain FROM ssvr WHERE priority IN (1, 2, 3) AND url != '' ORDER BY id");
  while (s.Step()) out->push_back({kTargetSsvr, s.Int(0), s.Text(1)});
  VS_RETURN_IF_ERROR(s.status());
  Stmt h(db_, "SELECT id FROM hsvr WHERE priority IN (1, 2, 3) AND url != '' ORDER BY id");
  while (h.Step()) out->push_back({kTargetHsvr, h.Int(0), ""});
  VS_RETURN_IF_ERROR(h.status());
  return txn.Commit();
}

Status Store::NoteClusterEvent(const std::string& level, const std::string& type, const std::string& message) {
  return Mutate([&](Change*) { return AddEvent(level, type, "cluster", 0, message); });
}

Status Store::FenceTargets(int64_t hsvr_id, HeadAgentInfo* head, std::vector<ChunkInfo>* disks) {
  Txn txn(db_);
  VS_RETURN_IF_ERROR(txn.status());
  VS_RETURN_IF_ERROR(LoadHeadAgent(hsvr_id, head));
  // Every disk of every server that may still answer: the head may have
  // been granted any of them, and a failed server's legs are being replaced.
  Stmt q(db_,
         "SELECT p.id, p.ssvr_id, s.url FROM pdsk p JOIN ssvr s ON s.id = p.ssvr_id "
         "WHERE s.priority IN (1, 2, 3) AND s.url != '' ORDER BY p.id");
  while (q.Step()) {
    ChunkInfo c;
    c.pdsk_id = q.Int(0);
    c.ssvr_id = q.Int(1);
    c.ssvr_url = q.Text(2);
    disks->push_back(c);
  }
  VS_RETURN_IF_ERROR(q.status());
  return txn.Commit();
}

}  // namespace vastsky
