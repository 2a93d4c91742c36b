// Store: the thin pools as their storage agents report them (heartbeat
// pools). Memory only: a restarted manager hears them again at the next
// beat, and until then judges placement by reservations alone.
#include <algorithm>
#include <cstdio>

#include "lib/ids.h"
#include "manager/store.h"

namespace vastsky {

namespace {

double Share(int64_t used, int64_t total) { return total > 0 ? static_cast<double>(used) / total : 0.0; }

int Level(const PoolReport& r) {
  const double worst = std::max(Share(r.data_used_mib, r.data_mib), Share(r.meta_used_kib, r.meta_kib));
  if (r.mode != "rw" || worst >= kPoolFull) return 2;
  return worst >= kPoolNearfull ? 1 : 0;
}

std::string Describe(const PoolReport& r) {
  char buf[160];
  snprintf(buf, sizeof buf, "data %.0f%% (%lld of %lld MiB), metadata %.0f%%, mode %s",
           100 * Share(r.data_used_mib, r.data_mib), static_cast<long long>(r.data_used_mib),
           static_cast<long long>(r.data_mib), 100 * Share(r.meta_used_kib, r.meta_kib), r.mode.c_str());
  return buf;
}

}  // namespace

Status Store::NotePools(int64_t ssvr_id, const std::vector<PoolReport>& pools) {
  struct Crossing {
    int64_t pdsk_id;
    int level;
    std::string what;
  };
  std::vector<Crossing> crossed;
  Stmt q(db_, "SELECT 1 FROM pdsk WHERE id = ?1 AND ssvr_id = ?2");
  for (const PoolReport& r : pools) {
    q.Bind(1, r.pdsk_id).Bind(2, ssvr_id);
    const bool ours = q.Step();
    VS_RETURN_IF_ERROR(q.status());
    q.Reset();
    if (!ours) continue;
    PoolState& s = pools_[r.pdsk_id];
    s.report = r;
    const int level = Level(r);
    if (level != s.level) crossed.push_back({r.pdsk_id, level, Describe(r)});
  }
  if (crossed.empty()) return Status::OK();  // the common beat writes nothing
  // Levels move only once their events are recorded: else the next beat tries again.
  VS_RETURN_IF_ERROR(Mutate([&](Change*) {
    for (const Crossing& c : crossed) {
      const std::string pool = "the thin pool of " + FormatId("pdsk", c.pdsk_id) + " on " + FormatId("ssvr", ssvr_id);
      const char* level = c.level == 2 ? "error" : c.level == 1 ? "warning" : "info";
      const std::string says = c.level == 2 ? " is full or failing: writes to legs there may fail (add disks, delete "
                                              "volumes, or lower overcommit); no new legs go there: "
                               : c.level == 1 ? " is nearly full: no new legs go there: "
                                              : " is below nearfull again and takes new legs: ";
      VS_RETURN_IF_ERROR(AddEvent(level, "pool", "pdsk", c.pdsk_id, pool + says + c.what));
    }
    return Status::OK();
  }));
  for (const Crossing& c : crossed) {
    pools_[c.pdsk_id].level = c.level;
    if (c.level > 0) nearfull_.insert(c.pdsk_id);
    else nearfull_.erase(c.pdsk_id);
  }
  Change placement;  // the allocator only: nothing to write
  return RefreshAllocatable(ssvr_id, &placement);
}

}  // namespace vastsky
