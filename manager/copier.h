// Copier: snapshots and clones of a volume, driven through the agents as
// manager/API.md ("Snapshots and clones") says.
//
// A transaction records the new volume CREATING with its legs beside the
// source's (Store::BeginCopy). If the source is attached to a head with an
// agent, the head freezes it (freezeVolume: suspended with flush, bounded
// by freeze_timeout_ms, after which the head thaws it by itself); every
// disk's storage agent makes its legs as dm-thin snapshots (snapshotLegs,
// the disks in parallel, so the pause is the slowest disk's, not their
// sum); the head thaws it. A transaction then records the volume READY.
//
// Failures: an agent's refusal, or a thaw that says the head had thawed
// already (ETIME: the legs may have been taken from a running volume, so
// they may be torn), removes the new volume; its legs go through the doomed
// list, so whatever an agent made is deleted once it confirms. A lost answer
// from a storage agent leaves the volume ERROR: what it made is unknown.
//
// Agents are called without the API lock: every Store call goes through
// `locked`. Thread-safe; copies of one source take turns (EBUSY).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "lib/status.h"
#include "manager/agent_clients.h"
#include "manager/store.h"

namespace vastsky {

class Copier {
 public:
  using Locked = std::function<Status(const std::function<Status()>&)>;

  Copier(Store* store, Locked locked, StorageAgentClient* storage, HeadAgentClient* head,
         int64_t freeze_timeout_ms = kDefaultFreezeMs);

  // snapshot: a read-only snapshot of source (a volume); else a writable
  // clone of source (a volume or a snapshot). *id: the new volume.
  Status Copy(const VolumeRef& source, const std::string& name, bool snapshot, int64_t* id);

  // How long a head may hold a volume's I/O for a snapshot.
  static constexpr int64_t kDefaultFreezeMs = 10000;

 private:
  // snapshotLegs on every disk of the plan at once. *unknown: some answer
  // was lost (the agent may have acted).
  Status SnapshotAll(const CopyPlan& plan, const std::string& opid, bool* unknown);
  Status Abort(const CopyPlan& plan, const Status& failure, bool unknown);

  Store* store_;
  Locked locked_;
  StorageAgentClient* storage_;
  HeadAgentClient* head_;
  const int64_t freeze_timeout_ms_;
};

}  // namespace vastsky
