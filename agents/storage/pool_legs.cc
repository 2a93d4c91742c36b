#include "agents/storage/pool_legs.h"

namespace vastsky {

Status PoolLegDevices::Provide(int64_t pdsk, int64_t thin_id, int64_t size_mib, bool create, std::string* device) {
  if (create) return pools_->CreateThin(pdsk, thin_id, size_mib, device);
  return pools_->ActivateThin(pdsk, thin_id, size_mib, device);
}

Status PoolLegDevices::Delete(int64_t pdsk, int64_t thin_id) { return pools_->DeleteThin(pdsk, thin_id); }

Status RepairPool(int64_t pdsk_id, ThinPools* pools, Exports* exports) {
  std::string device;
  VS_RETURN_IF_ERROR(pools->Repair(pdsk_id, [&] { return exports->Withdraw(pdsk_id, &device); }));
  return exports->Export(pdsk_id, device);
}

}  // namespace vastsky
