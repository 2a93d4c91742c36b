// The storage agent's legs as thin devices in the disks' pools: the
// LegDevices the exports layer asks for, backed by ThinPools. Thread-safe
// as ThinPools is.
#pragma once

#include "agents/host/thin_pool.h"
#include "agents/storage/exports.h"

namespace vastsky {

class PoolLegDevices : public LegDevices {
 public:
  explicit PoolLegDevices(ThinPools* pools) : pools_(pools) {}
  // create: CreateThin (fresh space, zeros); else ActivateThin, ENOENT when
  // the pool has no such thin: a leg with data is never made up anew.
  Status Provide(int64_t pdsk, int64_t thin_id, int64_t size_mib, bool create, std::string* device) override;
  Status Delete(int64_t pdsk, int64_t thin_id) override;

 private:
  ThinPools* pools_;
};

// repairPool (agents/PROTOCOL.md, "Repairing a pool"): ThinPools::Repair
// of the disk's pool, its LUNs withdrawn first (Exports::Withdraw: no head
// reaches a thin device while the pool is down), then the disk exported
// again as at a restart (start-up step 5: legs, LUNs at their numbers,
// ACLs and maps). Faults: Repair's (EBUSY nothing to repair or a repair
// running, ENOENT the pool is not open here, EUCLEAN damaged: the pool
// stays down and the LUNs away), then Export's.
Status RepairPool(int64_t pdsk_id, ThinPools* pools, Exports* exports);

}  // namespace vastsky
