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
// ACLs and maps). Before that, each `stale` leg (the manager's: heads may
// have written it since the pool's last metadata commit) gets the stale
// mark (agents/host/leg_mark.h), so its heads rebuild it in full; a mark
// that cannot be written fails the repair with the LUNs still withdrawn.
// Faults: Repair's (EBUSY nothing to repair or a repair running, ENOENT
// the pool is not open here, EUCLEAN damaged: the pool stays down and the
// LUNs away), then the marks', then Export's.
Status RepairPool(int64_t pdsk_id, const std::vector<Leg>& stale, ThinPools* pools, Exports* exports);

}  // namespace vastsky
