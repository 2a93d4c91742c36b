// Store: the database's side of /metrics (manager/metrics.h).
#include "manager/store.h"

namespace vastsky {

namespace {

// Rows of (key, count) into a map.
Status CountBy(Db& db, const char* sql, std::map<int, int64_t>* out) {
  Stmt q(db, sql);
  while (q.Step()) (*out)[static_cast<int>(q.Int(0))] += q.Int(1);
  return q.status();
}

}  // namespace

Status Store::ReadGauges(StoreGauges* out) {
  Stmt disks(db_, "SELECT id, ssvr_id, priority, size_mib FROM pdsk ORDER BY id");
  while (disks.Step()) {
    StoreGauges::Disk d;
    d.id = disks.Int(0);
    d.ssvr_id = disks.Int(1);
    d.priority = static_cast<int>(disks.Int(2));
    d.capacity_mib = disks.Int(3);
    Allocator::DiskUsage u;
    if (alloc_.Usage(d.id, &u)) d.provisioned_mib = u.used_mib;
    auto pool = pools_.find(d.id);
    if (pool != pools_.end()) {
      d.pool_reported = true;
      d.pool_used_mib = pool->second.report.data_used_mib;
    }
    out->disks.push_back(d);
  }
  VS_RETURN_IF_ERROR(disks.status());
  VS_RETURN_IF_ERROR(CountBy(db_, "SELECT priority, count(*) FROM ssvr GROUP BY priority", &out->ssvrs));
  VS_RETURN_IF_ERROR(CountBy(db_, "SELECT priority, count(*) FROM hsvr GROUP BY priority", &out->hsvrs));
  VS_RETURN_IF_ERROR(CountBy(db_,
                             "SELECT ifnull(a.status, 0), count(*) FROM lvol l "
                             "LEFT JOIN attachment a ON a.lvol_id = l.id GROUP BY 1",
                             &out->lvols_by_bind));
  std::map<int, int64_t> rebuilds;
  VS_RETURN_IF_ERROR(CountBy(db_, "SELECT state, count(*) FROM rebuild GROUP BY state", &rebuilds));
  out->rebuilds_queued = rebuilds[0];  // rebuild.state: 0 queued, 1 running (manager/schema.cc)
  out->rebuilds_running = rebuilds[1];
  Stmt mirrors(db_, "SELECT count(*) FROM mirror");
  if (mirrors.Step()) out->mirrors = mirrors.Int(0);
  VS_RETURN_IF_ERROR(mirrors.status());
  // A degraded mirror has SPARE legs (their replacements not yet in sync).
  Stmt degraded(db_,
                "SELECT n, count(*) FROM (SELECT count(*) AS n FROM chunk INDEXED BY chunk_spare "
                "WHERE status = 3 GROUP BY mirror_id) GROUP BY n");  // 3: kSpare, as the index says
  while (degraded.Step()) out->degraded_by_missing[degraded.Int(0)] = degraded.Int(1);
  return degraded.status();
}

}  // namespace vastsky
