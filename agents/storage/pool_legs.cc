#include "agents/storage/pool_legs.h"

#include <cerrno>

#include "agents/host/leg_mark.h"
#include "lib/ids.h"
#include "lib/log.h"

namespace vastsky {

Status PoolLegDevices::Provide(int64_t pdsk, int64_t thin_id, int64_t size_mib, bool create, std::string* device) {
  if (create) return pools_->CreateThin(pdsk, thin_id, size_mib, device);
  return pools_->ActivateThin(pdsk, thin_id, size_mib, device);
}

Status PoolLegDevices::Delete(int64_t pdsk, int64_t thin_id) { return pools_->DeleteThin(pdsk, thin_id); }

namespace {
// A leg whose thin device is gone has nothing to mark (listExports leaves
// it out, and the manager replaces it).
Status MarkStale(int64_t pdsk_id, const Leg& leg, ThinPools* pools) {
  std::string thin;
  Status st = pools->ActivateThin(pdsk_id, leg.thin_id, leg.size_mib, &thin);
  if (st.code() == ENOENT) return Status::OK();
  bool changed = false;
  if (st.ok()) st = SwapLegMark(thin, LegMark::kRaid, LegMark::kStale, &changed);
  if (!st.ok())
    return Status::Error(st.code(), "the pool of " + FormatId("pdsk", pdsk_id) + " is repaired, but marking " +
                                        FormatId("dext", leg.chunk_id) + " stale failed (" + st.message() +
                                        "): its LUNs stay withdrawn; drain the disk");
  if (changed)
    VS_LOG_WARN("%s marked stale: it may lack writes its pool lost as it failed; its head rebuilds it in full",
                FormatId("dext", leg.chunk_id).c_str());
  return Status::OK();
}
}  // namespace

Status RepairPool(int64_t pdsk_id, const std::vector<Leg>& stale, ThinPools* pools, Exports* exports) {
  std::string device;
  VS_RETURN_IF_ERROR(pools->Repair(pdsk_id, [&] {
    VS_LOG_WARN("repairing the pool of %s: its legs' LUNs are withdrawn while thin_check runs",
                FormatId("pdsk", pdsk_id).c_str());
    return exports->Withdraw(pdsk_id, &device);
  }));
  for (const Leg& leg : stale) VS_RETURN_IF_ERROR(MarkStale(pdsk_id, leg, pools));
  Status st = exports->Export(pdsk_id, device);
  // The pool is rw now: another repair would be refused, a restart exports it.
  if (!st.ok())
    return Status::Error(st.code(), "the pool of " + FormatId("pdsk", pdsk_id) + " is repaired, but exporting " +
                                        device + " again failed (" + st.message() + "): restart the agent");
  VS_LOG_INFO("the pool of %s passed thin_check and is exported again", FormatId("pdsk", pdsk_id).c_str());
  return Status::OK();
}

}  // namespace vastsky
