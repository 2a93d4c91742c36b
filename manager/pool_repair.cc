#include "manager/pool_repair.h"

#include <cerrno>
#include <string>

#include "lib/ids.h"
#include "lib/log.h"
#include "lib/secret.h"

namespace vastsky {

Status PoolRepairs::Repair(int64_t pdsk_id) {
  int64_t ssvr_id = 0;
  std::string url, hex;
  std::vector<StaleLeg> stale;
  std::vector<int64_t> only_copies;
  VS_RETURN_IF_ERROR(locked_([&] {
    VS_RETURN_IF_ERROR(store_->PoolRepairAgent(pdsk_id, &ssvr_id, &url));
    return store_->StaleLegs(pdsk_id, &stale, &only_copies);
  }));
  const std::string pool = "the thin pool of " + FormatId("pdsk", pdsk_id);
  VS_RETURN_IF_ERROR(RandomString(12, kHexDigits, &hex));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_.insert(pdsk_id).second) return Status::Error(EBUSY, "a repair of " + pool + " is running");
  }
  VS_LOG_INFO("asking %s to repair %s; %zu leg(s) heads may have written are to be rebuilt in full",
              FormatId("ssvr", ssvr_id).c_str(), pool.c_str(), stale.size());
  Status st = storage_->RepairPool(url, "repair-" + std::to_string(pdsk_id) + "-" + hex, pdsk_id, stale);
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(pdsk_id);
  }
  Status recorded = locked_([&] { return store_->RecordPoolRepair(pdsk_id, ssvr_id, st, only_copies); });
  if (!recorded.ok())
    VS_LOG_ERROR("cannot record the outcome of the repair of %s (%s): %s", pool.c_str(), st.ToString().c_str(),
                 recorded.ToString().c_str());
  if (st.ok()) return st;
  return Status::Error(st.code(), "repairPool of " + pool + " on " + FormatId("ssvr", ssvr_id) + ": " + st.message());
}

}  // namespace vastsky
