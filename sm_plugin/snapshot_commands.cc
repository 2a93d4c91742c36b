// The VDI family commands: vdi_snapshot (`xe vm-snapshot`) and vdi_clone
// (`xe vm-clone`, templates) over the manager's createSnapshot and
// cloneLogicalVolume, and changed-block tracking (VDI_CONFIG_CBT) over
// listChangedBlocks. The manager reads changed blocks from the pools'
// metadata (dm-thin), so tracking needs no log: enabling it only records
// the flag xapi keeps, and the snapshots' volumes are the bases.

#include <cerrno>
#include <ctime>

#include "lib/ids.h"
#include "lib/log.h"
#include "sm_plugin/changed_blocks.h"
#include "sm_plugin/commands.h"
#include "sm_plugin/faults.h"
#include "sm_plugin/naming.h"

namespace vastsky {
namespace sm {

namespace {

// createSnapshot's ETIME: the head thawed the origin before every leg was
// snapshotted and the manager discarded the snapshot; a retry is safe.
constexpr int kSnapshotAttempts = 3;

// Makes `name`, a snapshot or a clone of volume `v`.
Status MakeVolume(Context* ctx, bool snapshot, const Volume& v, const std::string& name, int fault) {
  Cluster* cluster;
  VS_RETURN_IF_ERROR(ctx->Connect(&cluster));
  const char* what = snapshot ? "snapshot" : "clone";
  Status st;
  for (int attempt = 1;; ++attempt) {
    int64_t lvolid = 0;
    st = snapshot ? cluster->Snapshot(v.name, name, &lvolid) : cluster->Clone(v.name, name, &lvolid);
    if (st.code() != ETIME || attempt == kSnapshotAttempts) break;
    VS_LOG_WARN("volume %s: the %s was discarded (its head thawed first); trying again", v.name.c_str(), what);
  }
  if (!st.ok() && st.code() != EEXIST) {
    // A lost agent answer leaves the new volume in ERROR (manager/API.md):
    // no VDI will ever name it, so it goes now, or a scan would show it.
    Status undo = cluster->Delete(name);
    if (undo.ok()) VS_LOG_WARN("volume %s, left by the failed %s, deleted", name.c_str(), what);
    else if (undo.code() != ENOENT)
      VS_LOG_ERROR("volume %s, left by the failed %s: %s", name.c_str(), what, undo.ToString().c_str());
  }
  if (st.code() == EBUSY)
    return Fail(fault, "volume " + v.name + " cannot be " + (snapshot ? "snapshotted" : "cloned") +
                           " now (being attached or detached, in ERROR, or a copy is rebuilding): retry later: " +
                           st.message());
  return FromCluster(st, fault, std::string("cannot ") + what + " volume " + v.name);
}

// vdi_snapshot and vdi_clone: the new volume, then its VDI (the volume goes
// again if xapi cannot record it). xapi then sets the name, description,
// snapshot_time and is_a_snapshot itself and calls vdi_update.
Status Derive(Context* ctx, bool snapshot, xmlrpc_c::value* result) {
  const SmRequest& req = ctx->req();
  const int fault = snapshot ? kVdiSnapshot : kVdiClone;
  VS_RETURN_IF_ERROR(ctx->RequireMaster());
  VS_RETURN_IF_ERROR(ctx->RequireDb());
  Volume v;
  VS_RETURN_IF_ERROR(ctx->VdiVolume(&v));
  if (snapshot && v.read_only)
    return Fail(kVdiSnapshot, "VDI " + req.vdi_uuid + " is a snapshot: VastSky snapshots VDIs, not snapshots");
  VdiRow source;
  VS_RETURN_IF_ERROR(FromXapi(ctx->db()->VdiRecord(req.vdi_ref, &source), "cannot read VDI " + req.vdi_uuid));
  std::string uuid;
  Status st = NewUuid(&uuid);
  if (!st.ok()) return Fail(fault, st.message());
  const std::string name = LvolName(req.sr_uuid, uuid);
  VS_RETURN_IF_ERROR(MakeVolume(ctx, snapshot, v, name, fault));
  Volume made = v;
  made.name = name;
  made.read_only = snapshot;
  VdiIntroduction in = VdiRecordFor(req, made, uuid);
  in.name_label = source.name_label;
  in.name_description = source.name_description;
  in.type = source.type.empty() ? "user" : source.type;
  if (snapshot) {
    in.is_a_snapshot = true;
    in.snapshot_of = req.vdi_ref;
    in.snapshot_time = time(nullptr);
    in.cbt_enabled = source.cbt_enabled;  // xapi allows data_destroy only on a tracked snapshot
  }
  std::string ref;
  st = ctx->db()->IntroduceVdi(in, &ref);
  if (!st.ok()) {
    Cluster* cluster;
    Status undo = ctx->Connect(&cluster);
    if (undo.ok()) undo = cluster->Delete(name);
    if (!undo.ok()) VS_LOG_ERROR("volume %s is left without a VDI: %s", name.c_str(), undo.ToString().c_str());
    return FromXapi(st, "cannot record VDI " + uuid + " in xapi");
  }
  VS_LOG_INFO("VDI %s: %s %s made (volume %s)", req.vdi_uuid.c_str(), snapshot ? "snapshot" : "clone", uuid.c_str(),
              name.c_str());
  ctx->RefreshSrSizes();
  *result = UuidLocation(uuid, name);
  return Status::OK();
}

Status SetCbt(Context* ctx, bool enable) {
  VS_RETURN_IF_ERROR(ctx->RequireMaster());
  VS_RETURN_IF_ERROR(ctx->RequireDb());
  Volume v;
  VS_RETURN_IF_ERROR(ctx->VdiVolume(&v));
  const int fault = enable ? kCbtActivate : kCbtDeactivate;
  if (v.read_only) return Fail(fault, "VDI " + ctx->req().vdi_uuid + " is a snapshot: its changed blocks never change");
  VS_RETURN_IF_ERROR(
      FromXapi(ctx->db()->SetVdiCbtEnabled(ctx->req().vdi_ref, enable), "cannot record the VDI's tracking"));
  VS_LOG_INFO("VDI %s: changed-block tracking %s", ctx->req().vdi_uuid.c_str(), enable ? "enabled" : "disabled");
  return Status::OK();
}

}  // namespace

Status VdiSnapshot(Context* ctx, xmlrpc_c::value* result) { return Derive(ctx, true, result); }

Status VdiClone(Context* ctx, xmlrpc_c::value* result) { return Derive(ctx, false, result); }

Status VdiEnableCbt(Context* ctx, xmlrpc_c::value*) { return SetCbt(ctx, true); }

Status VdiDisableCbt(Context* ctx, xmlrpc_c::value*) { return SetCbt(ctx, false); }

// xapi calls data_destroy on a tracked snapshot once a backup has copied it,
// to keep only what the next list_changed_blocks needs. For VastSky that is
// the snapshot's volume itself (the manager compares thin devices), so the
// volume stays: it costs only the blocks its origin has overwritten since.
// xapi marks the VDI cbt_metadata and will not attach it again; vdi_delete
// frees it.
Status VdiDataDestroy(Context* ctx, xmlrpc_c::value*) {
  VS_RETURN_IF_ERROR(ctx->RequireMaster());
  Volume v;
  VS_RETURN_IF_ERROR(ctx->VdiVolume(&v));
  if (!v.read_only) return Fail(kNotASnapshot, "VDI " + ctx->req().vdi_uuid + " is not a snapshot: its data stays");
  if (v.hsvrid != 0)
    return Fail(kVdiInUse, "volume " + v.name + " is attached on " + FormatId("hsvr", v.hsvrid) + ": detach it first");
  VS_LOG_INFO("VDI %s is metadata-only now; volume %s stays as the base of its changed blocks",
              ctx->req().vdi_uuid.c_str(), v.name.c_str());
  return Status::OK();
}

// vdi_ref is vdi_from (the base, an earlier snapshot), args[0] the ref of
// vdi_to (a later snapshot or the VDI itself). The bitmap covers vdi_to.
Status VdiListChangedBlocks(Context* ctx, xmlrpc_c::value* result) {
  const SmRequest& req = ctx->req();
  VS_RETURN_IF_ERROR(ctx->RequireMaster());
  VS_RETURN_IF_ERROR(ctx->RequireDb());
  const std::string to_ref = req.args.empty() ? "" : req.args[0];
  if (to_ref.empty()) return Fail(kBadRequest, "vdi_list_changed_blocks needs the target VDI's ref as its argument");
  if (to_ref == req.vdi_ref) return Fail(kCbtChangedBlocks, "the source and target VDI are the same");
  Volume base, target;
  VS_RETURN_IF_ERROR(ctx->VdiVolume(&base));
  VdiRow to;
  Status st = ctx->db()->VdiRecord(to_ref, &to);
  if (st.code() == ENOENT) return Fail(kVdiMissing, "the target VDI " + to_ref + " is gone");
  VS_RETURN_IF_ERROR(FromXapi(st, "cannot read the target VDI"));
  if (!InSr(to.location, req.sr_uuid)) return Fail(kCbtChangedBlocks, "VDI " + to.uuid + " is not in this SR");
  Cluster* cluster;
  VS_RETURN_IF_ERROR(ctx->Connect(&cluster));
  st = cluster->Find(to.location, &target);
  if (st.code() == ENOENT) return Fail(kVdiMissing, "VDI " + to.uuid + ": volume " + to.location + " is gone");
  VS_RETURN_IF_ERROR(FromCluster(st, kSmGeneral, "cannot look up volume " + to.location));
  // A family check of our own: the manager's would do, but an answer for
  // unrelated volumes would be a backup missing every change.
  if (base.snapshot_of == 0)
    return Fail(kCbtChangedBlocks, "VDI " + req.vdi_uuid + " is not a snapshot: changed blocks count from a snapshot");
  if (target.lvolid != base.snapshot_of && target.snapshot_of != base.snapshot_of)
    return Fail(kCbtChangedBlocks, "VDI " + to.uuid + " is neither the VDI snapshot " + req.vdi_uuid +
                                       " is of nor another snapshot of it");
  ChangedRuns runs;
  st = cluster->ChangedBlocks(target.name, base.name, &runs);
  if (st.code() == EINVAL)
    return Fail(kCbtChangedBlocks, "VDI " + req.vdi_uuid + " is not a snapshot of VDI " + to.uuid + "'s family: " +
                                       st.message());
  VS_RETURN_IF_ERROR(FromCluster(st, kCbtChangedBlocks, "cannot list the blocks changed since " + base.name));
  std::string bitmap;
  st = CbtBitmapBase64(target.capacity_gib * kGiB, runs, &bitmap);
  if (!st.ok()) return Fail(kCbtChangedBlocks, "the manager's changed blocks: " + st.message());
  *result = xmlrpc_c::value_string(bitmap);
  return Status::OK();
}

}  // namespace sm
}  // namespace vastsky
