// A leg's dm-raid superblock magic, used as a mark between a leg's storage
// agent and its heads (agents/PROTOCOL.md, "Repairing a pool").
//
// dm raid keeps its superblock at byte 0 of a leg's metadata MiB, magic
// "DmRd". When a thin pool fails under legs that heads may have written,
// dm-thin may have acknowledged writes to them and then lost them with the
// metadata commit that failed, and dm raid's write-intent bitmap need not
// cover them. So when the manager repairs such a pool it names those legs,
// and the storage agent replaces their magic with "VsSt" (stale) before
// their LUNs come back; a head then rebuilds a stale leg in full from the
// others instead of taking it back through its bitmap. The rest of the
// superblock is kept, so a head whose only copy is stale can put "DmRd"
// back and carry on.
// Plain functions, thread-safe; each reads (and writes) one 4 KiB block.
#pragma once

#include <string>

#include "lib/status.h"

namespace vastsky {

enum class LegMark { kRaid, kStale, kOther };

// The mark at byte 0 of path: a leg's thin device, or a head's meta slice.
Status ReadLegMark(const std::string& path, LegMark* out);
// If path holds mark `from`, it gets `to` (kRaid or kStale), the other
// bytes kept, and *changed is true; any other mark is left alone.
Status SwapLegMark(const std::string& path, LegMark from, LegMark to, bool* changed);

}  // namespace vastsky
