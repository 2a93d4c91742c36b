// repairPhysicalDisk (manager/API.md, "Repairing a pool"): an admin asks the
// storage agent of a disk to bring its pool back after I/O errors
// (repairPool, agents/PROTOCOL.md), one repair per disk at a time, and the
// outcome is recorded as a `pool` event naming the pool and what to do.
// The disk's legs that heads may have written since the pool's last commit
// are named to the agent as stale (Store::StaleLegs), so their heads
// rebuild them in full. Nothing else changes in the database: the pool's
// next heartbeat (mode rw) lets new legs go there again
// (Store::NotePools), and the heads take their legs back by themselves. Thread-safe: the Store is reached only
// through `locked`, and the agent is called outside it.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>

#include "lib/status.h"
#include "manager/agent_clients.h"
#include "manager/attacher.h"
#include "manager/store.h"

namespace vastsky {

class PoolRepairs {
 public:
  PoolRepairs(Store* store, Attacher::Locked locked, StorageAgentClient* storage)
      : store_(store), locked_(std::move(locked)), storage_(storage) {}

  // Faults: the Store's (ENOENT no such disk, EHOSTDOWN its server not
  // live or without an agent), EBUSY while a repair of the disk runs, then
  // the agent's, named: EBUSY nothing to repair, ENOENT the pool is not
  // open there, EUCLEAN damaged metadata (the pool stays down), ENOTSUP an
  // older agent; ETIMEDOUT or EIO: the answer was lost (outcome unknown).
  Status Repair(int64_t pdsk_id);

 private:
  Store* store_;
  Attacher::Locked locked_;
  StorageAgentClient* storage_;
  std::mutex mu_;
  std::set<int64_t> running_;  // pdsk ids
};

}  // namespace vastsky
