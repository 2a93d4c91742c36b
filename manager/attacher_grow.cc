// Attacher::Grow: a volume grown while a head agent holds it (see
// attacher.h). The new mirrors are recorded before any agent is called, so
// a revoke by whoever holds the head's turn next counts their disks as
// needed, and a manager restarted midway finds them (ERROR, grown).
#include <algorithm>

#include "lib/log.h"
#include "manager/attacher.h"
#include "manager/attacher_internal.h"

namespace vastsky {

using namespace attacher_internal;

Status Attacher::Grow(const VolumeRef& ref, int64_t capacity_gib) {
  ResizePlan plan;
  VS_RETURN_IF_ERROR(locked_([&] { return store_->BeginResize(ref, capacity_gib, &plan); }));
  if (!plan.agent) return Status::OK();
  std::lock_guard<std::mutex> head_lock(*HeadMutex(plan.head.id));
  const VolumeInfo& vol = plan.layout.volume;
  const HeadAgentInfo& head = plan.head;
  VolumeLayout added = plan.layout;
  added.mirrors.erase(std::remove_if(added.mirrors.begin(), added.mirrors.end(),
                                     [&](const MirrorInfo& m) { return m.offset_gib < plan.old_capacity_gib; }),
                      added.mirrors.end());
  const std::vector<Disk> disks = DisksOf(added, /*live_only=*/true);
  Op op;
  Status st = op.Init("grow", vol.id);
  VS_LOG_INFO("growing '%s' (%s) on %s from %lld to %lld GiB: %zu new mirror(s), %zu disk(s) to open to %s",
              vol.name.c_str(), FormatId("lvol", vol.id).c_str(), Where("hsvr", head.id, head.url).c_str(),
              static_cast<long long>(plan.old_capacity_gib), static_cast<long long>(vol.capacity_gib),
              added.mirrors.size(), disks.size(), head.initiator.c_str());

  std::vector<Disk> tried;
  if (st.ok()) st = Allow(head, op, disks, &tried);
  bool unknown = false;
  if (st.ok()) {
    st = head_->GrowVolume(head.url, op.Id("head"), plan.layout);
    if (!st.ok()) {
      unknown = OutcomeUnknown(st, head.url);
      st = StepFailed("hsvr", head.id, head.url, "growLogicalVolume", st);
    }
  }
  if (st.ok()) {
    st = locked_([&] { return store_->FinishResize(plan); });
    if (!st.ok())
      VS_LOG_ERROR("%s grew on %s but that cannot be recorded: %s; it shows RESIZING until the manager restarts "
                   "(then ERROR: detach it to clear it)",
                   FormatId("lvol", vol.id).c_str(), FormatId("hsvr", head.id).c_str(), st.ToString().c_str());
    return st;
  }

  Status rec;
  if (unknown) {
    // The head may have loaded the longer table and a VM may be writing
    // there: the new chunks must not go back to the pool, nor its access.
    rec = locked_([&] {
      return store_->MarkAttachmentError(vol.id, head.id,
                                         "growing it failed with no answer from the head (" + st.ToString() +
                                             "); it keeps its new size of " + std::to_string(vol.capacity_gib) + " GiB");
    });
  } else {
    // The head answered (its own undo left the old table) or was never
    // reached: free the new mirrors, then revoke what only they needed.
    rec = locked_([&] { return store_->AbortResize(plan, st.ToString()); });
    std::string leftovers;
    // lvol 0: every volume of the head, this one's old mirrors too, counts.
    if (rec.ok()) Revoke(head, 0, op, tried, &leftovers);
  }
  if (!rec.ok())
    VS_LOG_ERROR("cannot record the failed grow of %s: %s", FormatId("lvol", vol.id).c_str(), rec.ToString().c_str());
  return st;
}

}  // namespace vastsky
