// legMap (manager/API.md "Thin legs"): a head trimming a rebuilt leg asks
// which blocks an in-sync leg of the same mirror has provisioned. The
// manager checks the head may know (Store::LegMapSource), asks that leg's
// storage agent (bounded by its quick timeout) and hands the answer on as
// the agent gave it, once it has checked that it is a map of that leg.
// Changes nothing. Thread-safe: the Store is reached only through
// `locked`, and the agent is called outside it.
#pragma once

#include <cstdint>

#include "lib/status.h"
#include "manager/agent_clients.h"
#include "manager/attacher.h"
#include "manager/store.h"

namespace vastsky {

// The map of chunk_id's leg for head hsvr_id. Faults: the Store's, then
// the agent's as they come (a lost answer is ETIMEDOUT or EIO, never a
// map), then EPROTO if the answer fails CheckLegBlocks.
Status MapLeg(Store* store, const Attacher::Locked& locked, StorageAgentClient* storage, int64_t hsvr_id,
              int64_t chunk_id, LegBlocks* out);

// OK if map can be the map of a thin device of size_mib: block_kib from
// 1 to 1 GiB (dm-thin's largest); ranges of even length, at most kMaxLegMapRanges pairs, no
// value negative, each range starting at or after the end of the one
// before, none ending past the device. Else EPROTO naming the first fault.
Status CheckLegBlocks(const LegBlocks& map, int64_t size_mib);

}  // namespace vastsky
