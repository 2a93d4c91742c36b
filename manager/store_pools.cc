// Store: the thin pools as their storage agents report them (heartbeat
// pools). Memory only: a restarted manager hears them again at the next
// beat, and until then judges placement by reservations alone.
#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "lib/ids.h"
#include "manager/store.h"

namespace vastsky {

namespace {

double Share(int64_t used, int64_t total) { return total > 0 ? static_cast<double>(used) / total : 0.0; }

std::string Describe(const PoolReport& r) {
  char buf[160];
  snprintf(buf, sizeof buf, "data %.0f%% (%lld of %lld MiB), metadata %.0f%%, mode %s",
           100 * Share(r.data_used_mib, r.data_mib), static_cast<long long>(r.data_used_mib),
           static_cast<long long>(r.data_mib), 100 * Share(r.meta_used_kib, r.meta_kib), r.mode.c_str());
  return buf;
}

std::string ThePool(int64_t pdsk_id, int64_t ssvr_id) {
  return "the thin pool of " + FormatId("pdsk", pdsk_id) + " on " + FormatId("ssvr", ssvr_id);
}

// The storage agent's name for the pool's metadata (agents/PROTOCOL.md, "Disk layout").
std::string MetaDevice(int64_t pdsk_id) {
  char buf[64];
  snprintf(buf, sizeof buf, "/dev/mapper/vastsky-pool-%08llx-meta", static_cast<unsigned long long>(pdsk_id));
  return buf;
}

std::string RepairCommand(int64_t pdsk_id) { return "`vastsky pdsk repair " + FormatId("pdsk", pdsk_id) + "`"; }

// What an event says of a pool that reached a level: r's mode tells a
// pool that saw I/O errors (ro, fail) from a full one.
std::string Says(int level, const PoolReport& r) {
  if (level == 2 && (r.mode == "ro" || r.mode == "fail"))
    return " is failing (I/O errors: dm-thin holds it " + r.mode + "): its legs fail and no new legs go there; fix "
           "the cause (cable, controller, disk), then run " + RepairCommand(r.pdsk_id) + ": ";
  if (level == 2)
    return " is full or failing: writes to legs there may fail (add disks, delete volumes, or lower overcommit); "
           "no new legs go there: ";
  return level == 1 ? " is nearly full: no new legs go there: " : " is below nearfull again and takes new legs: ";
}

// A lost answer: the agent may have withdrawn the LUNs and be checking still.
bool Unknown(const Status& st) { return st.code() == ETIMEDOUT || st.code() == EIO; }

std::string RepairOutcome(int64_t pdsk_id, const Status& st) {
  if (st.ok())
    return " is repaired: thin_check passed, the pool and its legs' LUNs, ACLs and maps are back; heads take their "
           "legs back, and its next heartbeat (mode rw) lets new legs go there";
  // The agent's words stay in its log (a fault carries only the errno).
  if (st.code() == EUCLEAN)
    return " stays down, its legs unexported: thin_check found its metadata damaged (" + st.message() +
           "); repair it by hand as the storage agent's log says (thin_repair -i " + MetaDevice(pdsk_id) +
           " -o <a spare device as large>, check it, copy it back), then run " + RepairCommand(pdsk_id) +
           " again (or restart the storage agent)";
  if (Unknown(st))
    return ": the repair's outcome is unknown (" + st.message() + "); its legs' LUNs may be withdrawn and the pool "
           "down or still being checked: see its pool_mode in `vastsky pdsk list`, then run " +
           RepairCommand(pdsk_id) + " again";
  return ": the repair failed (" + st.message() + "); the storage agent's log says where it stopped and what to "
         "do next (often: fix that, then run " + RepairCommand(pdsk_id) + " again)";
}

}  // namespace

int Store::PoolLevel(const PoolReport& r) const {
  const double worst = std::max(Share(r.data_used_mib, r.data_mib), Share(r.meta_used_kib, r.meta_kib));
  if (r.mode != "rw" || worst >= full_ratio_) return 2;
  return worst >= nearfull_ratio_ ? 1 : 0;
}

Status Store::PoolRepairAgent(int64_t pdsk_id, int64_t* ssvr_id, std::string* url) {
  Stmt q(db_, "SELECT p.ssvr_id, s.priority, s.url FROM pdsk p JOIN ssvr s ON s.id = p.ssvr_id WHERE p.id = ?1");
  q.Bind(1, pdsk_id);
  if (!q.Step()) {
    VS_RETURN_IF_ERROR(q.status());
    return Status::Error(ENOENT, "no disk " + FormatId("pdsk", pdsk_id));
  }
  *ssvr_id = q.Int(0);
  const int prio = static_cast<int>(q.Int(1));
  *url = q.Text(2);
  const std::string server = FormatId("ssvr", *ssvr_id) + ", the server of " + FormatId("pdsk", pdsk_id);
  if (prio == kOffline || prio == kFaulty || prio == kHalt)
    return Status::Error(EHOSTDOWN,
                         server + ", is " + PriorityName(prio) + ": its agent must run (and register) first");
  if (url->empty()) return Status::Error(EHOSTDOWN, server + ", has no agent: its pools are not VastSky's to repair");
  return Status::OK();
}

Status Store::StaleLegs(int64_t pdsk_id, std::vector<StaleLeg>* stale, std::vector<int64_t>* only_copies) {
  Stmt q(db_,
         "SELECT c.id, c.thin_id, c.length_mib, EXISTS(SELECT 1 FROM chunk o WHERE o.mirror_id = c.mirror_id "
         "AND o.id != c.id AND o.status = 2 AND o.pdsk_id != c.pdsk_id) "
         "FROM chunk c JOIN mirror m ON m.id = c.mirror_id WHERE c.pdsk_id = ?1 AND c.status = 2 AND m.written != 0 "
         "ORDER BY c.id");
  q.Bind(1, pdsk_id);
  while (q.Step()) {
    if (q.Int(3))
      stale->push_back({q.Int(0), q.Int(1), kMetaMib + q.Int(2)});
    else
      only_copies->push_back(q.Int(0));
  }
  return q.status();
}

Status Store::RecordPoolRepair(int64_t pdsk_id, int64_t ssvr_id, const Status& outcome,
                               const std::vector<int64_t>& only_copies) {
  const int code = outcome.code();
  if (code == EBUSY || code == ENOENT || code == EINVAL) return Status::OK();  // refused: nothing was done
  return Mutate([&](Change*) {
    VS_RETURN_IF_ERROR(AddEvent(outcome.ok() ? "info" : "error", "pool", "pdsk", pdsk_id,
                                ThePool(pdsk_id, ssvr_id) + RepairOutcome(pdsk_id, outcome)));
    if (!outcome.ok()) return Status::OK();
    for (int64_t c : only_copies)
      VS_RETURN_IF_ERROR(AddEvent("error", "pool", "dext", c,
                                  FormatId("dext", c) + " on " + FormatId("pdsk", pdsk_id) +
                                      " was its mirror's only leg in sync when the pool failed: it is back as it "
                                      "was and may lack the writes of the second before the failure; check the "
                                      "file systems of its volume"));
    return Status::OK();
  });
}

Status Store::NotePools(int64_t ssvr_id, const std::vector<PoolReport>& pools) {
  struct Crossing {
    int64_t pdsk_id;
    int level;
    std::string what;
    PoolReport report;
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
    const int level = PoolLevel(r);
    if (level != s.level) crossed.push_back({r.pdsk_id, level, Describe(r), r});
  }
  if (crossed.empty()) return Status::OK();  // the common beat writes nothing
  // Levels move only once their events are recorded: else the next beat tries again.
  VS_RETURN_IF_ERROR(Mutate([&](Change*) {
    for (const Crossing& c : crossed) {
      const char* level = c.level == 2 ? "error" : c.level == 1 ? "warning" : "info";
      VS_RETURN_IF_ERROR(
          AddEvent(level, "pool", "pdsk", c.pdsk_id, ThePool(c.pdsk_id, ssvr_id) + Says(c.level, c.report) + c.what));
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
