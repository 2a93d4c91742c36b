// Store: events, cluster status and the consistency audit.
#include <algorithm>
#include <cerrno>

#include "lib/ids.h"
#include "manager/schema.h"
#include "manager/store.h"

namespace vastsky {

Status Store::ListEvents(int64_t since, int64_t limit, std::vector<EventInfo>* out, bool newest) {
  if (since < 0) return Status::Error(EINVAL, "since must be >= 0");
  if (limit < 1 || limit > 10000) return Status::Error(EINVAL, "limit must be 1 to 10000");
  Stmt q(db_, newest ? "SELECT * FROM (SELECT id, time, level, type, target, target_id, message FROM event "
                       "WHERE id > ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id"
                     : "SELECT id, time, level, type, target, target_id, message FROM event WHERE id > ?1 "
                       "ORDER BY id LIMIT ?2");
  q.Bind(1, since).Bind(2, limit);
  while (q.Step()) {
    EventInfo e;
    e.id = q.Int(0);
    e.time = q.Text(1);
    e.level = q.Text(2);
    e.type = q.Text(3);
    e.target = q.Text(4);
    e.target_id = q.Int(5);
    e.message = q.Text(6);
    out->push_back(e);
  }
  return q.status();
}

Status Store::GetClusterStatus(ClusterStatus* out) {
  out->chunk_gib = chunk_gib_;
  out->cluster_id = cluster_id_;
  out->overcommit = overcommit_;
  out->nearfull_ratio = nearfull_ratio_;
  out->full_ratio = full_ratio_;
  out->max_clock_skew_s = max_clock_skew_s_;
  Stmt disks(db_, "SELECT id, size_mib, priority FROM pdsk");
  int64_t cap = 0, used = 0, avail = 0;
  while (disks.Step()) {
    Allocator::DiskUsage u;
    if (alloc_.Usage(disks.Int(0), &u)) used += u.used_mib;
    cap += disks.Int(1);
    avail += alloc_.Available(disks.Int(0));
    ++out->pdsks;
    if (TakesNewWork(static_cast<int>(disks.Int(2)))) ++out->pdsks_online;
  }
  VS_RETURN_IF_ERROR(disks.status());
  out->capacity_gib = cap / 1024;
  out->used_gib = used / 1024;
  out->available_gib = avail / 1024;
  struct Count {
    const char* sql;
    int64_t* into;
  };
  const Count counts[] = {
      {"SELECT count(*) FROM ssvr", &out->ssvrs},
      {"SELECT count(*) FROM ssvr WHERE priority IN (1, 2, 3)", &out->ssvrs_online},
      {"SELECT count(*) FROM hsvr", &out->hsvrs},
      {"SELECT count(*) FROM hsvr WHERE priority IN (1, 2, 3)", &out->hsvrs_online},
      {"SELECT count(*) FROM lvol", &out->lvols},
      {"SELECT count(*) FROM mirror", &out->mirrors},
      {"SELECT count(DISTINCT c.mirror_id) FROM chunk c INDEXED BY chunk_spare WHERE c.status = 3",
       &out->mirrors_degraded},
      {"SELECT count(*) FROM rebuild WHERE state = 0", &out->rebuilds_queued},
      {"SELECT count(*) FROM rebuild WHERE state = 1", &out->rebuilds_running},
      {"SELECT count(DISTINCT domain) FROM ssvr WHERE domain != ''", &out->domains},
  };
  for (const Count& c : counts) {
    Stmt q(db_, c.sql);
    if (q.Step()) *c.into = q.Int(0);
    VS_RETURN_IF_ERROR(q.status());
  }
  return Status::OK();
}

namespace {

void Problem(std::vector<std::string>* problems, const std::string& p) {
  if (problems->size() < 1000) problems->push_back(p);
}

// Chunks, held, doomed and free extents must tile each disk exactly: no gap, no
// overlap.
Status AuditDisks(Db& db, std::vector<std::string>* problems) {
  struct Piece {
    int64_t offset, length;
    bool free;
  };
  std::map<int64_t, std::vector<Piece>> pieces;
  std::map<int64_t, int64_t> disks;  // id -> size
  Stmt d(db, "SELECT id, size_mib FROM pdsk");
  while (d.Step()) disks[d.Int(0)] = d.Int(1);
  VS_RETURN_IF_ERROR(d.status());
  Stmt c(db, "SELECT pdsk_id, offset_mib, length_mib FROM chunk UNION ALL "
             "SELECT pdsk_id, offset_mib, length_mib FROM held_extent UNION ALL "
             "SELECT pdsk_id, offset_mib, length_mib FROM doomed_leg");
  while (c.Step()) pieces[c.Int(0)].push_back({c.Int(1), c.Int(2) + kMetaMib, false});
  VS_RETURN_IF_ERROR(c.status());
  Stmt f(db, "SELECT pdsk_id, offset_mib, length_mib FROM free_extent");
  while (f.Step()) pieces[f.Int(0)].push_back({f.Int(1), f.Int(2), true});
  VS_RETURN_IF_ERROR(f.status());
  for (auto& entry : disks) {
    const int64_t id = entry.first, size = entry.second;
    std::vector<Piece>& ps = pieces[id];
    std::sort(ps.begin(), ps.end(), [](const Piece& a, const Piece& b) { return a.offset < b.offset; });
    int64_t at = 0;
    bool prev_free = false;
    for (const Piece& p : ps) {
      if (p.offset != at)
        Problem(problems, FormatId("pdsk", id) + ": " + (p.offset < at ? "overlap" : "unaccounted gap") +
                              " at " + std::to_string(std::min(at, p.offset)) + " MiB");
      if (p.free && prev_free && p.offset == at)
        Problem(problems, FormatId("pdsk", id) + ": free extents not coalesced at " + std::to_string(p.offset));
      at = std::max(at, p.offset + p.length);
      prev_free = p.free;
    }
    if (at != size) Problem(problems, FormatId("pdsk", id) + ": pieces end at " + std::to_string(at) + " MiB of " + std::to_string(size));
  }
  return Status::OK();
}

// Every mirror has `redundancy` legs (one more per leg being drained) on
// distinct servers; mirrors tile the volume's capacity in order.
Status AuditVolumes(Db& db, std::vector<std::string>* problems) {
  Stmt legs(db,
            "SELECT m.id, l.redundancy + (SELECT count(*) FROM rebuild r WHERE r.mirror_id = m.id AND "
            "r.retire_chunk != 0), count(c.id), count(DISTINCT p.ssvr_id) FROM mirror m "
            "JOIN lvol l ON l.id = m.lvol_id LEFT JOIN chunk c ON c.mirror_id = m.id "
            "LEFT JOIN pdsk p ON p.id = c.pdsk_id GROUP BY m.id");
  while (legs.Step()) {
    if (legs.Int(2) != legs.Int(1))
      Problem(problems, FormatId("mirr", legs.Int(0)) + ": " + std::to_string(legs.Int(2)) + " legs, redundancy " + std::to_string(legs.Int(1)));
    if (legs.Int(3) != legs.Int(2))
      Problem(problems, FormatId("mirr", legs.Int(0)) + ": two legs on one storage server");
  }
  VS_RETURN_IF_ERROR(legs.status());
  Stmt stale(db,
             "SELECT c.id FROM chunk c JOIN pdsk p ON p.id = c.pdsk_id WHERE p.priority IN (4, 5) AND c.status != 3");
  while (stale.Step()) Problem(problems, FormatId("dext", stale.Int(0)) + ": on a failed disk but not SPARE");
  VS_RETURN_IF_ERROR(stale.status());
  Stmt tiles(db,
             "SELECT l.id, l.capacity_gib, ifnull(sum(m.capacity_gib), 0), "
             "ifnull(max(m.offset_gib + m.capacity_gib), 0) FROM lvol l LEFT JOIN mirror m ON m.lvol_id = l.id "
             "GROUP BY l.id");
  while (tiles.Step())
    if (tiles.Int(1) != tiles.Int(2) || tiles.Int(1) != tiles.Int(3))
      Problem(problems, FormatId("lvol", tiles.Int(0)) + ": mirrors do not add up to its capacity");
  return tiles.status();
}

// Every tenant a volume names was enrolled; every head a tenant was given exists.
Status AuditTenants(Db& db, std::vector<std::string>* problems) {
  Stmt vols(db, "SELECT id, tenant FROM lvol WHERE tenant != '' AND tenant NOT IN "
                "(SELECT tenant FROM credential WHERE role = 'tenant')");
  while (vols.Step()) Problem(problems, FormatId("lvol", vols.Int(0)) + ": of tenant '" + vols.Text(1) + "', which was never enrolled");
  VS_RETURN_IF_ERROR(vols.status());
  Stmt heads(db, "SELECT tenant, hsvr_id FROM tenant_head WHERE hsvr_id NOT IN (SELECT id FROM hsvr)");
  while (heads.Step()) Problem(problems, "tenant '" + heads.Text(0) + "' was given " + FormatId("hsvr", heads.Int(1)) + ", which does not exist");
  return heads.status();
}

}  // namespace

Status Store::Audit(const std::string& path, std::vector<std::string>* problems) {
  Db db;
  VS_RETURN_IF_ERROR(db.Open(path, /*read_only=*/true));
  {
    Stmt v(db, "PRAGMA user_version");
    const int64_t version = v.Step() ? v.Int(0) : 0;
    VS_RETURN_IF_ERROR(v.status());
    if (version > kSchemaVersion) return Status::Error(EPROTO, "database is newer than this program");
    if (version < kFirstThinSchema)
      return Status::Error(EPROTO, "database schema " + std::to_string(version) +
                                       " is the slice layout, which this program no longer supports: start a fresh database");
    if (version < kSchemaVersion)
      return Status::Error(EPROTO, "database schema " + std::to_string(version) + " is older than this program's (" +
                                       std::to_string(kSchemaVersion) + "): start the manager on it once to upgrade it");
  }
  Stmt ic(db, "PRAGMA integrity_check");
  while (ic.Step())
    if (ic.Text(0) != "ok") Problem(problems, "sqlite: " + ic.Text(0));
  VS_RETURN_IF_ERROR(ic.status());
  Stmt fk(db, "PRAGMA foreign_key_check");
  while (fk.Step()) Problem(problems, "foreign key broken in table " + fk.Text(0) + " row " + std::to_string(fk.Int(1)));
  VS_RETURN_IF_ERROR(fk.status());
  VS_RETURN_IF_ERROR(AuditDisks(db, problems));
  VS_RETURN_IF_ERROR(AuditTenants(db, problems));
  return AuditVolumes(db, problems);
}

}  // namespace vastsky
