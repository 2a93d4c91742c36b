// A mirror assembled from scratch resyncs what its write-intent bitmap
// marks dirty (agents/host/raid_resync.h; PROTOCOL.md, "A head that
// stopped without a word"): its last head may have crashed with writes in
// flight on one leg and not the other.
#include "agents/head/assembly_internal.h"
#include "agents/host/raid_resync.h"
#include "lib/deadline.h"
#include "lib/ids.h"
#include "lib/log.h"

namespace vastsky {

using namespace assembly_internal;

void Assembly::ResyncDirtyRegions(int64_t lvol, const MirrorSpec& m) const {
  for (const LegSpec& leg : m.legs) {
    // Fresh legs hold no superblock yet; legs being rebuilt are copied whole.
    if (leg.absent() || !leg.insync()) continue;
    const std::string meta = dm_->DevicePath(SliceDm(lvol, leg.chunk_id, "meta"));
    Status st = RunWithDeadline(options_.kernel_timeout_ms, "marking " + meta + " for resync",
                                [meta] { return vastsky::ResyncDirtyRegions(meta); });
    if (!st.ok())
      VS_LOG_WARN("%s: cannot set %s's resync offset (%s): if the head that last had %s stopped without a word, "
                  "its legs may differ where writes were in flight: once assembled, run "
                  "`dmsetup message %s 0 repair`",
                  MirrorDm(lvol, m.mirror_id).c_str(), FormatId("dext", leg.chunk_id).c_str(), st.ToString().c_str(),
                  FormatId("lvol", lvol).c_str(), MirrorDm(lvol, m.mirror_id).c_str());
  }
}

}  // namespace vastsky
