// Store: reverting a volume to one of its snapshots without copying data.
// The snapshot is cloned as any clone is (its legs become dm-thin snapshots
// of the snapshot's legs); the volume then takes the clone's legs in one
// transaction, so at every instant it holds either all its old legs or all
// the new ones.
#include <cerrno>

#include "lib/ids.h"
#include "manager/store.h"

namespace vastsky {

namespace {
std::string Quote(const std::string& s) { return "'" + s + "'"; }
}  // namespace

Status Store::BeginRevert(const VolumeRef& vol_ref, const VolumeRef& snap_ref, CopyPlan* plan) {
  *plan = CopyPlan();
  VolumeInfo vol;
  VS_RETURN_IF_ERROR(Mutate([&](Change* change) {
    VolumeInfo snap;
    VS_RETURN_IF_ERROR(ResolveVolume(vol_ref, &vol));
    VS_RETURN_IF_ERROR(ResolveVolume(snap_ref, &snap));
    if (snap.kind != 1 || snap.origin_id != vol.id)
      return Status::Error(EINVAL, Quote(snap.name) + " is not a snapshot of " + Quote(vol.name));
    VS_RETURN_IF_ERROR(CheckSettled(vol));
    if (vol.hsvr_id != 0)
      return Status::Error(EBUSY, Quote(vol.name) + " is attached to " + FormatId("hsvr", vol.hsvr_id) +
                                      ": detach it to revert it");
    if (vol.capacity_gib != snap.capacity_gib)
      return Status::Error(ENOTSUP, Quote(vol.name) + " grew since " + Quote(snap.name) + " was taken");
    const std::string name = "revert-" + std::to_string(vol.id) + "-" + std::to_string(snap.id);
    return PrepareCopy(snap, name, /*snapshot=*/false, change, plan);
  }));
  plan->reverting = vol.id;
  copying_.insert(plan->source.id);
  copying_.insert(vol.id);
  return Status::OK();
}

Status Store::FinishRevert(const CopyPlan& plan) {
  copying_.erase(plan.source.id);
  copying_.erase(plan.reverting);
  const VolumeInfo& clone = plan.copy.volume;
  return Mutate([&](Change* change) {
    VolumeInfo vol;
    VS_RETURN_IF_ERROR(LoadVolume(plan.reverting, &vol));
    VS_RETURN_IF_ERROR(FreeVolumeChunks(vol.id, &change->journal));
    Stmt old_legs(db_, "DELETE FROM chunk WHERE mirror_id IN (SELECT id FROM mirror WHERE lvol_id = ?1)");
    VS_RETURN_IF_ERROR(old_legs.Bind(1, vol.id).Run());
    // Mirror for mirror (same index, offset and size): the clone's legs move over.
    Stmt move(db_,
              "UPDATE chunk SET mirror_id = (SELECT v.id FROM mirror v JOIN mirror c ON c.idx = v.idx "
              "WHERE v.lvol_id = ?1 AND c.id = chunk.mirror_id) WHERE mirror_id IN (SELECT id FROM mirror "
              "WHERE lvol_id = ?2)");
    VS_RETURN_IF_ERROR(move.Bind(1, vol.id).Bind(2, clone.id).Run());
    Stmt written(db_,
                 "UPDATE mirror SET written = (SELECT c.written FROM mirror c WHERE c.lvol_id = ?2 AND "
                 "c.idx = mirror.idx) WHERE lvol_id = ?1");
    VS_RETURN_IF_ERROR(written.Bind(1, vol.id).Bind(2, clone.id).Run());
    Stmt drop(db_, "DELETE FROM lvol WHERE id = ?1");
    VS_RETURN_IF_ERROR(drop.Bind(1, clone.id).Run());
    return AddEvent("info", "revert", "lvol", vol.id,
                    Quote(vol.name) + " reverted to its snapshot " + Quote(plan.source.name) +
                        "; its former legs are deleted");
  });
}

}  // namespace vastsky
