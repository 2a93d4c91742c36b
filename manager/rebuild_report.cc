#include "manager/rebuild_report.h"

namespace vastsky {

RebuildRow MakeRebuildRow(const RebuildInfo& info, const RebuildProgress& progress) {
  RebuildRow row;
  row.info = info;
  row.total_mib = info.capacity_gib * 1024;
  RebuildEstimate e;
  // A queued rebuild may still have a reading from a run that was put back:
  // only a running one's counts.
  if (!info.running || !progress.Estimate(info.mirror_id, &e)) return row;
  row.done_mib = e.done >> 20;
  row.rate_mibs = e.rate / (1 << 20);
  row.eta_s = e.eta_s;
  row.stalled_s = e.stalled_s;
  return row;
}

RebuildTotals SumRebuilds(const std::vector<RebuildRow>& rows, int64_t stall_s) {
  RebuildTotals t;
  for (const RebuildRow& r : rows) {
    t.total_mib += r.total_mib;
    t.left_mib += r.total_mib - r.done_mib;
    t.rate_mibs += r.rate_mibs;
    if (r.info.running && r.stalled_s > t.longest_stall_s) t.longest_stall_s = r.stalled_s;
    if (r.info.running && stall_s > 0 && r.stalled_s >= stall_s) ++t.stalled;
  }
  // The scheduler keeps the disks with the most work busy, so the pool's
  // present pace is a fair guess for the queue behind it too.
  if (t.left_mib == 0) t.eta_s = 0;
  else if (t.rate_mibs > 0) t.eta_s = static_cast<int64_t>(static_cast<double>(t.left_mib) / t.rate_mibs + 0.5);
  return t;
}

}  // namespace vastsky
