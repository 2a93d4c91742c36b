// listChangedBlocks (manager/API.md, "Changed blocks"): the blocks of a
// volume or snapshot that may differ from an older snapshot's, read from the
// pools' metadata (legDelta, thin_delta on the storage agent), never from
// the data. Per mirror, a leg of each on the same disk (so in the same
// pool) is compared; where none shares a pool any more (a leg was rebuilt
// elsewhere), or base has no such mirror (the volume grew), the whole
// mirror counts as changed: a block may be reported needlessly, never
// missed. Changes nothing. Thread-safe: the Store is reached only through
// `locked`, and the agents are called outside it.
#pragma once

#include <cstdint>
#include <vector>

#include "lib/status.h"
#include "manager/agent_clients.h"
#include "manager/attacher.h"
#include "manager/store.h"

namespace vastsky {

// out: block_kib = kChangedBlockKib, ranges [start, count, ...] from the
// volume's start, sorted and merged. Faults: the Store's (EINVAL, ENOENT,
// EBUSY), ENXIO (a mirror's only shared pools have no agent), the agents'
// (the last one tried for a mirror, after every pair of that mirror
// failed), EPROTO an answer that is not a map of that leg, E2BIG more than
// kMaxChangedRanges ranges.
Status ListChangedBlocks(Store* store, const Attacher::Locked& locked, StorageAgentClient* storage,
                         const VolumeRef& lvol, const VolumeRef& base, LegBlocks* out);

// Adds a leg's delta (block units of delta.block_kib, from the leg's data
// start) at offset_kib of the volume to *kib_ranges ([begin_kib, end_kib)
// pairs, unsorted).
void AddDelta(const LegBlocks& delta, int64_t offset_kib, std::vector<int64_t>* kib_ranges);
// Sorts and merges [begin_kib, end_kib) pairs into out's kChangedBlockKib
// blocks (a block partly covered counts whole).
void MergeToBlocks(std::vector<int64_t> kib_ranges, LegBlocks* out);

}  // namespace vastsky
