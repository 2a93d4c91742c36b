// Store: growing a volume. New mirrors are placed after the last one, as a
// create places them (same redundancy, chunk size and placement rules);
// mirrors carry their own offset and size, so a short last mirror simply
// stays in the middle. The intent and outcome transactions around a head
// agent's work mirror the attach's (store_attach.cc).
#include <cerrno>

#include "lib/ids.h"
#include "manager/store.h"

namespace vastsky {

namespace {
std::string Quote(const std::string& s) { return "'" + s + "'"; }
std::string Gib(int64_t gib) { return std::to_string(gib) + " GiB"; }
}  // namespace

Status Store::BeginResize(const VolumeRef& ref, int64_t capacity_gib, ResizePlan* plan) {
  if (capacity_gib < 1 || capacity_gib > kMaxVolumeGib)
    return Status::Error(EINVAL, "capacity must be 1 to " + std::to_string(kMaxVolumeGib) + " GiB");
  plan->agent = false;
  return Mutate([&](Change* change) {
    VolumeInfo vol;
    VS_RETURN_IF_ERROR(ResolveVolume(ref, &vol));
    if (vol.kind != 0)
      return Status::Error(EINVAL, Quote(vol.name) + " is a snapshot: it keeps the size it was taken at");
    // Its snapshots and clones keep their own legs: the new mirrors are its alone.
    VS_RETURN_IF_ERROR(CheckSettled(vol));
    if (vol.bind_status == kBindError)
      return Status::Error(EBUSY, Quote(vol.name) + " is in ERROR on hsvr " + std::to_string(vol.hsvr_id) +
                                      " after an interrupted operation; detach it first");
    if (vol.bind_event != kNoEvent)
      return Status::Error(EBUSY, Quote(vol.name) + " is being attached, detached or resized (hsvr " +
                                      std::to_string(vol.hsvr_id) + ")");
    if (capacity_gib < vol.capacity_gib)
      return Status::Error(EINVAL, Quote(vol.name) + " is " + Gib(vol.capacity_gib) + ": shrinking is not supported");
    if (capacity_gib == vol.capacity_gib) return Status::OK();

    plan->old_capacity_gib = vol.capacity_gib;
    const int64_t mirrors = (capacity_gib - vol.capacity_gib + chunk_gib_ - 1) / chunk_gib_;
    int64_t first, next_idx = 0;
    {
      Stmt q(db_, "SELECT ifnull(max(idx) + 1, 0) FROM mirror WHERE lvol_id = ?1");
      q.Bind(1, vol.id);
      if (q.Step()) next_idx = q.Int(0);
      VS_RETURN_IF_ERROR(q.status());
    }
    VS_RETURN_IF_ERROR(NextIds("lvol", mirrors * (1 + vol.redundancy), &first));
    VS_RETURN_IF_ERROR(
        AllocateMirrors(vol.id, vol.capacity_gib, capacity_gib, next_idx, vol.redundancy, first, &change->journal));
    Stmt up(db_, "UPDATE lvol SET capacity_gib = ?2 WHERE id = ?1");
    VS_RETURN_IF_ERROR(up.Bind(1, vol.id).Bind(2, capacity_gib).Run());
    const std::string grown = Quote(vol.name) + " grown from " + Gib(vol.capacity_gib) + " to " + Gib(capacity_gib);
    vol.capacity_gib = capacity_gib;
    if (vol.hsvr_id == 0) return AddEvent("info", "resize", "lvol", vol.id, grown);
    // Handed to the head from this intent on, whatever its answer.
    VS_RETURN_IF_ERROR(MarkWritten(vol.id, next_idx));

    VS_RETURN_IF_ERROR(LoadHeadAgent(vol.hsvr_id, &plan->head));
    if (plan->head.url.empty()) {
      // 3.0's state-only attachment: the head has whatever it was told, as
      // an attach marks a bound volume's legs in sync.
      Stmt sync(db_, "UPDATE chunk SET status = 2 WHERE status = 1 AND mirror_id IN "
                     "(SELECT id FROM mirror WHERE lvol_id = ?1 AND idx >= ?2)");
      VS_RETURN_IF_ERROR(sync.Bind(1, vol.id).Bind(2, next_idx).Run());
      return AddEvent("info", "resize", "lvol", vol.id, grown);
    }
    plan->agent = true;
    VS_RETURN_IF_ERROR(LoadLayout(vol, &plan->layout));
    for (const MirrorInfo& m : plan->layout.mirrors)
      if (m.offset_gib >= plan->old_capacity_gib) plan->new_mirrors.push_back(m.id);
    Stmt att(db_, "UPDATE attachment SET event = 3 WHERE lvol_id = ?1 AND event = 0");
    return att.Bind(1, vol.id).Run();
  });
}

Status Store::FinishResize(const ResizePlan& plan) {
  const VolumeInfo& vol = plan.layout.volume;
  return Mutate([&](Change*) {
    // The attachment may have gone meanwhile (the head was reported
    // failed); the grow stands either way, the mirrors are recorded.
    Stmt up(db_, "UPDATE attachment SET event = 0 WHERE lvol_id = ?1 AND event = 3");
    VS_RETURN_IF_ERROR(up.Bind(1, vol.id).Run());
    // Only the legs the head just built (as FinishAttach): one replaced
    // meanwhile is SPARE, one it could not reach is rebuilt.
    Stmt sync(db_, "UPDATE chunk SET status = 2 WHERE id = ?1 AND status = 1 AND created = 1");
    for (const MirrorInfo& m : plan.layout.mirrors)
      if (m.offset_gib >= plan.old_capacity_gib)
        for (const ChunkInfo& c : m.chunks)
          if (c.status == kAllocated && c.reachable) VS_RETURN_IF_ERROR(sync.Bind(1, c.id).Run());
    VS_RETURN_IF_ERROR(SettleWrittenLegs(vol.id));
    return AddEvent("info", "resize", "lvol", vol.id,
                    Quote(vol.name) + " grown from " + Gib(plan.old_capacity_gib) + " to " + Gib(vol.capacity_gib) +
                        " on hsvr " + std::to_string(plan.head.id));
  });
}

Status Store::AbortResize(const ResizePlan& plan, const std::string& why) {
  const VolumeInfo& vol = plan.layout.volume;
  return Mutate([&](Change* change) {
    // The chunks as they are now: a leg replaced meanwhile is freed too,
    // and so is the one it replaced (the head built none of them).
    Stmt q(db_,
           "SELECT c.pdsk_id, c.offset_mib, c.length_mib, c.id, c.thin_id, m.written FROM chunk c "
           "JOIN mirror m ON m.id = c.mirror_id WHERE c.mirror_id = ?1");
    Stmt del(db_, "DELETE FROM mirror WHERE id = ?1");
    HeldFilter held;
    held.hsvr_id = plan.head.id;
    held.lvol_id = vol.id;
    for (int64_t mirror : plan.new_mirrors) {
      held.mirror_id = mirror;
      VS_RETURN_IF_ERROR(FreeHeld(held, change));
      q.Bind(1, mirror);
      while (q.Step())
        VS_RETURN_IF_ERROR(
            DropLeg(LegExtent{q.Int(0), q.Int(1), q.Int(2), q.Int(3), q.Int(4), q.Int(5) != 0}, &change->journal));
      VS_RETURN_IF_ERROR(q.status());
      q.Reset();
      VS_RETURN_IF_ERROR(del.Bind(1, mirror).Run());
    }
    Stmt cap(db_, "UPDATE lvol SET capacity_gib = ?2 WHERE id = ?1");
    VS_RETURN_IF_ERROR(cap.Bind(1, vol.id).Bind(2, plan.old_capacity_gib).Run());
    Stmt up(db_, "UPDATE attachment SET event = 0 WHERE lvol_id = ?1 AND event = 3");
    VS_RETURN_IF_ERROR(up.Bind(1, vol.id).Run());
    return AddEvent("error", "resize", "lvol", vol.id,
                    "growing " + Quote(vol.name) + " to " + Gib(vol.capacity_gib) + " on hsvr " +
                        std::to_string(plan.head.id) + " failed and was undone (still " +
                        Gib(plan.old_capacity_gib) + "): " + why);
  });
}

}  // namespace vastsky
