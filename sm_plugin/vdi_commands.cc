// The VDI commands. A VDI is one VastSky volume of the SR's namespace; its
// location is the volume's name. Activate assembles the volume on this
// host's head (the manager refuses a volume attached to another head,
// which is what makes a writable attach exclusive across hosts) and
// deactivate releases it; both keep xapi's host_<ref> tags in the VDI's
// sm-config, as SM does. Attach and detach bracket them.

#include <unistd.h>

#include <cerrno>

#include "lib/ids.h"
#include "lib/log.h"
#include "sm_plugin/commands.h"
#include "sm_plugin/faults.h"
#include "sm_plugin/naming.h"

namespace vastsky {
namespace sm {

namespace {

constexpr int64_t kMaxGiB = 1048576;  // the manager's limit: 1 PiB
constexpr int kBindErrorStatus = 2;   // manager/API.md: bind_status ERROR

std::string Arg(const SmRequest& r, size_t i) { return i < r.args.size() ? r.args[i] : ""; }

Status SizeArg(const SmRequest& r, int fault, int64_t* gib) {
  int64_t bytes = 0;
  if (!ParseBytes(Arg(r, 0), &bytes) || bytes <= 0)
    return Fail(fault, "the size must be a positive number of bytes, not '" + Arg(r, 0) + "'");
  *gib = GiBFor(bytes);
  if (*gib > kMaxGiB) return Fail(kVdiSize, "a VastSky VDI holds at most 1 PiB");
  return Status::OK();
}

// Assembles the volume on this host's head (the manager refuses a volume
// attached to another head: VDI_IN_USE); *device is its path.
Status AssembleHere(Context* ctx, int64_t hsvrid, const Volume& v, std::string* device) {
  Cluster* cluster;
  VS_RETURN_IF_ERROR(ctx->Connect(&cluster));
  if (v.hsvrid != 0 && v.hsvrid != hsvrid)
    return Fail(kVdiInUse, "volume " + v.name + " is attached on another host (" + FormatId("hsvr", v.hsvrid) +
                               "): deactivate it there first");
  if (v.hsvrid == hsvrid && v.bind_status == kBindErrorStatus && v.bind_event == 0) {
    // A manager that restarted mid-attach left what this head holds
    // unknown: a detach tears down whatever exists, then attach afresh.
    VS_LOG_WARN("volume %s is in ERROR on this head; detaching it before attaching again", v.name.c_str());
    Status st = cluster->Detach(v.name);
    if (st.code() == EBUSY) return Fail(kVdiInUse, "volume " + v.name + " is in ERROR and still open on this host");
    VS_RETURN_IF_ERROR(FromCluster(st, kVdiUnavailable, "cannot clear volume " + v.name + "'s ERROR"));
  }
  if (v.hsvrid == 0 || v.bind_status != 1 || v.bind_event != 0) {
    VS_RETURN_IF_ERROR(
        FromCluster(cluster->Attach(v.name, hsvrid), kVdiUnavailable, "cannot attach volume " + v.name + " here"));
    VS_LOG_INFO("volume %s attached on %s", v.name.c_str(), FormatId("hsvr", hsvrid).c_str());
  }
  *device = ctx->host().device_dir + "/" + v.name;
  if (access(device->c_str(), F_OK) != 0)
    return Fail(kVdiUnavailable, "volume " + v.name + " is attached but " + *device +
                                     " does not exist: check vastsky-head-agent's log");
  return Status::OK();
}

// This host's head and the request's volume: what attach and activate
// both start from.
Status HeadAndVolume(Context* ctx, int64_t* hsvrid, Volume* v) {
  VS_RETURN_IF_ERROR(ctx->LocalHead(hsvrid));
  return ctx->VdiVolume(v);
}

// What vdi_attach answers: the path the device has once active. nbd is
// false for vdi_attach_from_config, whose caller (static-vdis) takes any
// params_nbd, even an empty one, for an NBD URI.
xmlrpc_c::value AttachInfo(const std::string& device, const std::string& vdi_uuid, bool nbd) {
  xmlrpc_c::cstruct r;
  r["params"] = xmlrpc_c::value_string(device);
  if (nbd) r["params_nbd"] = xmlrpc_c::value_string("");  // xapi requires the member
  r["o_direct"] = xmlrpc_c::value_boolean(true);
  r["o_direct_reason"] = xmlrpc_c::value_string("SR_NOT_SUPPORTED");  // no read caching
  r["xenstore_data"] = StringStruct({{"vdi-uuid", vdi_uuid}, {"storage-type", "vastsky"}});
  return xmlrpc_c::value_struct(r);
}

Status DetachHere(Context* ctx) {
  int64_t hsvrid = 0;
  if (!ctx->host().HeadServerId(&hsvrid).ok()) return Status::OK();  // nothing can be attached here
  Volume v;
  Status st = ctx->VdiVolume(&v);
  if (st.code() == kVdiMissing) return Status::OK();
  VS_RETURN_IF_ERROR(st);
  if (v.hsvrid != hsvrid) {
    if (v.hsvrid != 0) VS_LOG_WARN("volume %s is attached on %s, not here: left alone", v.name.c_str(), FormatId("hsvr", v.hsvrid).c_str());
    return Status::OK();
  }
  Cluster* cluster;
  VS_RETURN_IF_ERROR(ctx->Connect(&cluster));
  st = cluster->Detach(v.name);
  if (st.code() == EBUSY) return Fail(kVdiInUse, "volume " + v.name + " is still open on this host: " + st.message());
  VS_RETURN_IF_ERROR(FromCluster(st, kVdiUnavailable, "cannot detach volume " + v.name));
  VS_LOG_INFO("volume %s detached from %s", v.name.c_str(), FormatId("hsvr", hsvrid).c_str());
  return Status::OK();
}

}  // namespace

xmlrpc_c::value UuidLocation(const std::string& uuid, const std::string& location) {
  return StringStruct({{"uuid", uuid}, {"location", location}});
}

VdiIntroduction VdiRecordFor(const SmRequest& req, const Volume& v, const std::string& uuid) {
  VdiIntroduction in;
  in.uuid = uuid;
  in.name_label = v.name;
  in.sr_ref = req.sr_ref;
  in.location = v.name;
  in.read_only = v.read_only;
  in.sm_config = {{"backend-kind", "vbd"}};  // kernel blkback straight on /dev/vastsky/...
  in.virtual_size = v.capacity_gib * kGiB;
  in.physical_utilisation = PhysicalBytes(v);
  return in;
}

Status VdiCreate(Context* ctx, xmlrpc_c::value* result) {
  const SmRequest& req = ctx->req();
  VS_RETURN_IF_ERROR(ctx->RequireMaster());
  VS_RETURN_IF_ERROR(ctx->RequireDb());
  int64_t gib = 0;
  VS_RETURN_IF_ERROR(SizeArg(req, kVdiSize, &gib));
  const std::string name_label = Arg(req, 1), description = Arg(req, 2);
  if (!LegalXml(name_label) || !LegalXml(description))
    return Fail(kIllegalXmlChar, "the VDI's name or description holds a control character");
  auto type = req.vdi_sm_config.find("type");
  if (type != req.vdi_sm_config.end() && type->second != "raw")
    return Fail(kVdiCreate, "VastSky VDIs are raw block devices; sm-config type=" + type->second + " is not supported");
  std::string uuid = req.vdi_uuid;
  if (uuid.empty()) {
    Status st = NewUuid(&uuid);
    if (!st.ok()) return Fail(kVdiCreate, st.message());
  } else if (!ValidUuid(uuid)) {
    return Fail(kBadRequest, "vdi_uuid '" + uuid + "' is not a uuid");
  }
  if (!ValidUuid(req.sr_uuid)) return Fail(kBadRequest, "sr_uuid '" + req.sr_uuid + "' is not a uuid");
  Cluster* cluster;
  const SrConfig* config;
  VS_RETURN_IF_ERROR(ctx->Connect(&cluster, &config));
  const std::string name = LvolName(req.sr_uuid, uuid);
  Status st = cluster->Create(name, gib, config->redundancy);
  if (st.code() == EEXIST) return Fail(kVdiExists, "a VDI with uuid " + uuid + " already exists in this SR");
  VS_RETURN_IF_ERROR(FromCluster(st, kVdiCreate, "cannot create volume " + name));
  Volume made;
  made.name = name;
  made.capacity_gib = gib;
  made.redundancy = config->redundancy;
  VdiIntroduction in = VdiRecordFor(req, made, uuid);
  in.name_label = name_label;
  in.name_description = description;
  in.type = req.vdi_type.empty() ? "user" : req.vdi_type;
  in.read_only = Arg(req, 7) == "true";
  for (const auto& kv : req.vdi_sm_config) in.sm_config.insert(kv);
  std::string ref;
  st = ctx->db()->IntroduceVdi(in, &ref);
  if (!st.ok()) {
    // xapi would never learn of the volume: take it back.
    Status undo = cluster->Delete(name);
    if (!undo.ok()) VS_LOG_ERROR("volume %s is left without a VDI: %s", name.c_str(), undo.ToString().c_str());
    return FromXapi(st, "cannot record VDI " + uuid + " in xapi");
  }
  VS_LOG_INFO("VDI %s created: volume %s, %lld GiB, %d copies", uuid.c_str(), name.c_str(), static_cast<long long>(gib),
              config->redundancy);
  ctx->RefreshSrSizes();
  *result = UuidLocation(uuid, name);
  return Status::OK();
}

Status VdiDelete(Context* ctx, xmlrpc_c::value*) {
  VS_RETURN_IF_ERROR(ctx->RequireMaster());
  Volume v;
  Status st = ctx->VdiVolume(&v);
  if (st.ok()) {
    if (v.hsvrid != 0)
      return Fail(kVdiInUse, "volume " + v.name + " is attached on " + FormatId("hsvr", v.hsvrid) + ": detach it first");
    Cluster* cluster;
    VS_RETURN_IF_ERROR(ctx->Connect(&cluster));
    st = cluster->Delete(v.name);
    if (st.code() != ENOENT) VS_RETURN_IF_ERROR(FromCluster(st, kVdiDelete, "cannot delete volume " + v.name));
    VS_LOG_INFO("VDI %s deleted: volume %s", ctx->req().vdi_uuid.c_str(), v.name.c_str());
  } else if (st.code() != kVdiMissing) {
    return st;
  }
  if (ctx->db() && !ctx->req().vdi_ref.empty())
    VS_RETURN_IF_ERROR(FromXapi(ctx->db()->ForgetVdi(ctx->req().vdi_ref), "cannot forget the VDI"));
  ctx->RefreshSrSizes();
  return Status::OK();
}

// vdi_attach only checks: during a live migration xapi attaches on the
// destination while the source still has the volume (it deactivates only
// after the domain is suspended). The volume moves at activate.
Status VdiAttach(Context* ctx, xmlrpc_c::value* result) {
  int64_t hsvrid = 0;
  Volume v;
  VS_RETURN_IF_ERROR(HeadAndVolume(ctx, &hsvrid, &v));
  *result = AttachInfo(ctx->host().device_dir + "/" + v.name, ctx->req().vdi_uuid, true);
  return Status::OK();
}

Status VdiDetach(Context* ctx, xmlrpc_c::value*) { return DetachHere(ctx); }

// Activate assembles the volume here and tags the VDI host_<ref>. Only one
// head can hold a volume, so a tag of another host on a volume attached to
// no other head is stale (its host died and the manager released the
// volume) and is cleared, or HA could never restart the VM elsewhere.
Status VdiActivate(Context* ctx, xmlrpc_c::value*) {
  const SmRequest& req = ctx->req();
  VS_RETURN_IF_ERROR(ctx->RequireDb());
  const bool writable = Arg(req, 0) == "true";
  int64_t hsvrid = 0;
  Volume v;
  VS_RETURN_IF_ERROR(HeadAndVolume(ctx, &hsvrid, &v));
  if (v.hsvrid != 0 && v.hsvrid != hsvrid)
    return Fail(kVdiInUse, "VDI " + req.vdi_uuid + " is active on another host (volume " + v.name + " is attached on " +
                               FormatId("hsvr", v.hsvrid) + ")");
  StringMap sm;
  VS_RETURN_IF_ERROR(FromXapi(ctx->db()->VdiSmConfig(req.vdi_ref, &sm), "cannot read the VDI's sm-config"));
  const std::string tag = "host_" + req.host_ref, mode = writable ? "RW" : "RO";
  for (const auto& kv : sm) {
    if (kv.first.compare(0, 5, "host_") != 0 || kv.first == tag) continue;
    VS_LOG_WARN("VDI %s: clearing %s=%s, a stale activation (no other head holds volume %s)", req.vdi_uuid.c_str(),
                kv.first.c_str(), kv.second.c_str(), v.name.c_str());
    VS_RETURN_IF_ERROR(FromXapi(ctx->db()->RemoveFromVdiSmConfig(req.vdi_ref, kv.first), "cannot clear a stale tag"));
  }
  std::string device;
  VS_RETURN_IF_ERROR(AssembleHere(ctx, hsvrid, v, &device));
  auto mine = sm.find(tag);
  if (mine != sm.end() && mine->second == mode) return Status::OK();
  Status st = mine != sm.end() ? ctx->db()->RemoveFromVdiSmConfig(req.vdi_ref, tag) : Status::OK();
  if (st.ok()) st = ctx->db()->AddToVdiSmConfig(req.vdi_ref, tag, mode);
  if (st.code() == EEXIST) st = Fail(kVdiInUse, "another activation of VDI " + req.vdi_uuid + " raced this one");
  else st = FromXapi(st, "cannot tag the VDI active");
  if (!st.ok()) return st;
  VS_LOG_INFO("VDI %s active here %s on %s", req.vdi_uuid.c_str(), mode.c_str(), device.c_str());
  return Status::OK();
}

// Deactivate releases the volume, so that another host (a migration's
// destination) can activate it.
Status VdiDeactivate(Context* ctx, xmlrpc_c::value*) {
  const SmRequest& req = ctx->req();
  VS_RETURN_IF_ERROR(ctx->RequireDb());
  VS_RETURN_IF_ERROR(DetachHere(ctx));
  StringMap sm;
  VS_RETURN_IF_ERROR(FromXapi(ctx->db()->VdiSmConfig(req.vdi_ref, &sm), "cannot read the VDI's sm-config"));
  const std::string tag = "host_" + req.host_ref;
  if (!sm.count(tag)) return Status::OK();
  VS_RETURN_IF_ERROR(FromXapi(ctx->db()->RemoveFromVdiSmConfig(req.vdi_ref, tag), "cannot untag the VDI"));
  VS_LOG_INFO("VDI %s no longer active here", req.vdi_uuid.c_str());
  return Status::OK();
}

Status VdiResize(Context* ctx, xmlrpc_c::value* result) {
  const SmRequest& req = ctx->req();
  VS_RETURN_IF_ERROR(ctx->RequireMaster());
  int64_t gib = 0;
  VS_RETURN_IF_ERROR(SizeArg(req, kVdiSize, &gib));
  Volume v;
  VS_RETURN_IF_ERROR(ctx->VdiVolume(&v));
  if (gib < v.capacity_gib)
    return Fail(kVdiSize, "VDI " + req.vdi_uuid + " has " + std::to_string(v.capacity_gib) +
                              " GiB; VastSky volumes grow but do not shrink");
  if (gib > v.capacity_gib) {
    Cluster* cluster;
    VS_RETURN_IF_ERROR(ctx->Connect(&cluster));
    VS_RETURN_IF_ERROR(FromCluster(cluster->Resize(v.name, gib), kVdiResize, "cannot grow volume " + v.name));
    VS_LOG_INFO("VDI %s grown from %lld to %lld GiB%s", req.vdi_uuid.c_str(), static_cast<long long>(v.capacity_gib),
                static_cast<long long>(gib), v.hsvrid ? " while attached" : "");
    v.capacity_gib = gib;
    ctx->RefreshSrSizes();
  }
  if (ctx->db())
    VS_RETURN_IF_ERROR(FromXapi(ctx->db()->SetVdiSizes(req.vdi_ref, v.capacity_gib * kGiB, PhysicalBytes(v)),
                                "cannot record the VDI's new size"));
  *result = UuidLocation(req.vdi_uuid, v.name);
  return Status::OK();
}

Status VdiIntroduce(Context* ctx, xmlrpc_c::value* result) {
  const SmRequest& req = ctx->req();
  VS_RETURN_IF_ERROR(ctx->RequireDb());
  if (!ValidUuid(req.new_uuid)) return Fail(kBadRequest, "new_uuid '" + req.new_uuid + "' is not a uuid");
  if (!InSr(req.vdi_location, req.sr_uuid))
    return Fail(kNotInSr, "'" + req.vdi_location + "' is not a volume name of SR " + req.sr_uuid +
                              " (its volumes are named " + SrTag(req.sr_uuid) + ".<uuid>)");
  Cluster* cluster;
  VS_RETURN_IF_ERROR(ctx->Connect(&cluster));
  Volume v;
  Status st = cluster->Find(req.vdi_location, &v);
  if (st.code() == ENOENT) return Fail(kNotInSr, "the pool has no volume " + req.vdi_location);
  VS_RETURN_IF_ERROR(FromCluster(st, kSmGeneral, "cannot look up volume " + req.vdi_location));
  std::vector<VdiRow> rows;
  VS_RETURN_IF_ERROR(FromXapi(ctx->db()->VdisOfSr(req.sr_ref, &rows), "cannot list the SR's VDIs"));
  for (const VdiRow& r : rows)
    if (r.location == v.name) return Fail(kVdiExists, "volume " + v.name + " is already VDI " + r.uuid);
  VdiIntroduction in = VdiRecordFor(req, v, req.new_uuid);
  for (const auto& kv : req.vdi_sm_config) in.sm_config.insert(kv);
  std::string ref;
  VS_RETURN_IF_ERROR(FromXapi(ctx->db()->IntroduceVdi(in, &ref), "cannot introduce volume " + v.name));
  *result = UuidLocation(req.new_uuid, v.name);
  return Status::OK();
}

Status VdiUpdate(Context* ctx, xmlrpc_c::value*) {
  Volume v;
  VS_RETURN_IF_ERROR(ctx->VdiVolume(&v));
  if (!ctx->db()) return Status::OK();
  return FromXapi(ctx->db()->SetVdiSizes(ctx->req().vdi_ref, v.capacity_gib * kGiB, PhysicalBytes(v)),
                  "cannot record the VDI's sizes");
}

Status VdiGenerateConfig(Context* ctx, xmlrpc_c::value* result) {
  const SmRequest& req = ctx->req();
  Volume v;
  VS_RETURN_IF_ERROR(ctx->VdiVolume(&v));
  // Replayed at boot without xapi (static-vdis): no xapi secret can be
  // read then, so the host's secret file (the cluster's, an admin's)
  // stands in for password_secret, and for a tenant's user with it.
  StringMap dc = req.device_config;
  dc.erase("password_secret");
  dc.erase("user");
  dc["SRmaster"] = "false";
  xmlrpc_c::cstruct call;
  call["command"] = xmlrpc_c::value_string("vdi_attach_from_config");
  call["device_config"] = StringStruct(dc);
  call["sr_uuid"] = xmlrpc_c::value_string(req.sr_uuid);
  call["vdi_uuid"] = xmlrpc_c::value_string(req.vdi_uuid);
  call["vdi_location"] = xmlrpc_c::value_string(v.name);
  *result = xmlrpc_c::value_string(FormatCall("vdi_attach_from_config", xmlrpc_c::value_struct(call)));
  return Status::OK();
}

// Static VDIs (HA statefile, redo log) have no activate: attach assembles.
Status VdiAttachFromConfig(Context* ctx, xmlrpc_c::value* result) {
  int64_t hsvrid = 0;
  Volume v;
  VS_RETURN_IF_ERROR(HeadAndVolume(ctx, &hsvrid, &v));
  std::string device;
  VS_RETURN_IF_ERROR(AssembleHere(ctx, hsvrid, v, &device));
  *result = AttachInfo(device, ctx->req().vdi_uuid, false);
  return Status::OK();
}

Status VdiDetachFromConfig(Context* ctx, xmlrpc_c::value*) { return DetachHere(ctx); }

Status VdiEpoch(Context*, xmlrpc_c::value*) {
  // No VDI_RESET_ON_BOOT: xapi never asks to reset a VastSky VDI at boot.
  return Status::OK();
}

}  // namespace sm
}  // namespace vastsky
