// getVolumeFamily (manager/API.md, "Families and space"): a volume's family
// (its root and every snapshot and clone below it) and the pool space each
// member maps and holds alone, from the storage agents' legUsage, one call
// per disk holding any member's leg, the disks in parallel. A disk whose
// agent cannot be asked or does not answer leaves its legs unreported
// (counted per member) rather than failing the call: only the Store's
// faults fail it. Changes nothing. Thread-safe: the Store is reached only
// through `locked`, and the agents are called outside it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lib/status.h"
#include "manager/agent_clients.h"
#include "manager/attacher.h"
#include "manager/store.h"

namespace vastsky {

// FamilyMember is in manager/types.h.

// Root first, then depth-first by id. Faults: the Store's (ENOENT).
Status GetVolumeFamily(Store* store, const Attacher::Locked& locked, StorageAgentClient* storage,
                       const VolumeRef& ref, std::vector<FamilyMember>* out);

// pdsk id -> what its agent answered; a disk absent did not answer.
using DiskThins = std::map<int64_t, std::vector<ThinSpace>>;
// The members of family (as Store::VolumeFamily lists them) with their legs'
// usage summed; a leg whose thin a disk's answer lacks holds nothing.
std::vector<FamilyMember> SumFamily(const std::vector<VolumeLayout>& family, const DiskThins& usage);

}  // namespace vastsky
