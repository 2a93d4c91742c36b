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

}  // namespace vastsky
