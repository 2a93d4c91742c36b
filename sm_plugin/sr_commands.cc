// The SR commands: create, delete, attach, detach, scan, probe, update.
// An SR is a namespace of volumes in one VastSky pool (sm_plugin/naming.h);
// the pool's space is shared, so the SR's sizes are the pool's.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

#include "lib/ids.h"
#include "lib/log.h"
#include "sm_plugin/commands.h"
#include "sm_plugin/faults.h"
#include "sm_plugin/naming.h"

namespace vastsky {
namespace sm {

namespace {

// The storage servers' failure units: a named domain, or a server of its own.
Status CheckPlacement(Cluster* cluster, const SrConfig& config) {
  std::vector<std::string> domains;
  VS_RETURN_IF_ERROR(FromCluster(cluster->ServerDomains(&domains), kSmGeneral, "cannot list the storage servers"));
  std::set<std::string> named;
  int units = 0, unnamed = 0;
  for (const std::string& d : domains) {
    if (d.empty()) ++unnamed, ++units;
    else if (named.insert(d).second) ++units;
  }
  if (config.placement == Placement::kDomain) {
    if (unnamed > 0)
      return Fail(kPolicyUnmet, "placement=domain, but " + std::to_string(unnamed) +
                                    " live storage server(s) carry no failure domain (vastsky ssvr set-domain)");
    units = static_cast<int>(named.size());
  }
  if (units < config.redundancy)
    return Fail(kPolicyUnmet, "redundancy " + std::to_string(config.redundancy) + " needs as many failure " +
                                  (config.placement == Placement::kDomain ? "domains" : "units (servers or domains)") +
                                  "; the pool has " + std::to_string(units) + " live");
  return Status::OK();
}

// Every host of the pool must run a head agent the manager sees live, or
// VMs could not start there. Each host answers for itself through the
// vastsky host plugin (xapi/plugin).
Status CheckHosts(Context* ctx, Cluster* cluster) {
  std::vector<std::string> hosts;
  VS_RETURN_IF_ERROR(FromXapi(ctx->db()->Hosts(&hosts), "cannot list the pool's hosts"));
  std::string missing;
  for (const std::string& h : hosts) {
    std::string name = h, answer, why;
    (void)ctx->db()->HostName(h, &name);  // the name only words the message; the ref stands in
    Status st = ctx->db()->CallPlugin(h, "vastsky", "head", {}, &answer);
    int64_t hsvrid = 0;
    if (st.ok()) {
      nlohmann::json j = nlohmann::json::parse(answer, nullptr, false);
      if (j.is_object() && j.contains("hsvrid") && j["hsvrid"].is_number_integer()) hsvrid = j["hsvrid"].get<int64_t>();
      if (hsvrid == 0) why = j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>()
                                                                                          : "no head agent registered";
    } else {
      why = "the vastsky host plugin did not answer (" + st.message() + ")";
    }
    int priority = 0;
    if (hsvrid != 0) {
      st = cluster->HeadPriority(hsvrid, &priority);
      if (!st.ok()) why = FormatId("hsvr", hsvrid) + ": " + st.message();
      else if (priority != 1 && priority != 2) why = FormatId("hsvr", hsvrid) + " is not live in the manager";
    }
    if (!why.empty()) missing += (missing.empty() ? "" : "; ") + name + ": " + why;
  }
  if (!missing.empty())
    return Fail(kHostsNotReady, "every host of the pool needs a running VastSky head agent (package vastsky-head): " + missing);
  return Status::OK();
}

Status CheckSrUuid(const SmRequest& req) {
  if (!ValidUuid(req.sr_uuid)) return Fail(kBadRequest, "sr_uuid '" + req.sr_uuid + "' is not a uuid");
  return Status::OK();
}

// A VDI xapi has for a volume: backend-kind back if it was lost (xapi
// copies it into each new VBD; without it xenopsd would put tapback, which
// needs a tapdisk, on the raw device), sizes as the volume's.
Status RepairScanned(Context* ctx, const VdiRow& row, const Volume& v) {
  if (!row.sm_config.count("backend-kind")) {
    Status st = ctx->db()->AddToVdiSmConfig(row.ref, "backend-kind", "vbd");
    if (st.code() != EEXIST) VS_RETURN_IF_ERROR(FromXapi(st, "cannot set backend-kind on VDI " + row.uuid));
  }
  if (row.virtual_size == v.capacity_gib * kGiB) return Status::OK();
  return FromXapi(ctx->db()->SetVdiSizes(row.ref, v.capacity_gib * kGiB, PhysicalBytes(v)),
                  "cannot update VDI " + row.uuid);
}

// A volume xapi does not know becomes a VDI keeping the uuid its name
// carries (unless another VDI has it). A snapshot volume is a snapshot VDI
// of its origin's VDI (origin_ref; "" if the origin is gone, as xapi leaves
// a snapshot whose VDI was destroyed), taken at the volume's ctime; a clone
// is an ordinary VDI. *ref is the new VDI.
Status IntroduceScanned(Context* ctx, const Volume& v, const std::string& origin_ref, std::string* ref) {
  std::string uuid, other;
  InSr(v.name, ctx->req().sr_uuid, &uuid);
  if (!ValidUuid(uuid) || ctx->db()->VdiByUuid(uuid, &other).code() != ENOENT) {
    Status st = NewUuid(&uuid);
    if (!st.ok()) return Fail(kSrScan, st.message());
  }
  VdiIntroduction in = VdiRecordFor(ctx->req(), v, uuid);
  if (v.read_only) {  // only snapshots are; one whose origin is gone is associated to nothing
    in.is_a_snapshot = true;
    in.snapshot_time = ParseUtc(v.ctime);
    if (!origin_ref.empty()) in.snapshot_of = origin_ref;
  }
  VS_LOG_INFO("SR %s: introducing volume %s as VDI %s%s", ctx->req().sr_uuid.c_str(), v.name.c_str(), uuid.c_str(),
              !v.read_only ? "" : origin_ref.empty() ? " (a snapshot of a VDI now gone)" : " (a snapshot)");
  return FromXapi(ctx->db()->IntroduceVdi(in, ref), "cannot introduce volume " + v.name);
}

}  // namespace

Status SrCreate(Context* ctx, xmlrpc_c::value*) {
  VS_RETURN_IF_ERROR(CheckSrUuid(ctx->req()));
  Cluster* cluster;
  const SrConfig* config;
  VS_RETURN_IF_ERROR(ctx->Connect(&cluster, &config));
  ClusterStatus cs;
  VS_RETURN_IF_ERROR(FromCluster(cluster->Stat(&cs), kSmGeneral, "cannot reach the VastSky manager"));
  VS_RETURN_IF_ERROR(CheckPlacement(cluster, *config));
  if (ctx->db()) VS_RETURN_IF_ERROR(CheckHosts(ctx, cluster));
  std::vector<Volume> volumes;
  VS_RETURN_IF_ERROR(ctx->SrVolumes(&volumes));
  if (!volumes.empty())
    VS_LOG_WARN("SR %s: the pool already holds %zu volume(s) of this SR uuid; sr_scan will introduce them",
                ctx->req().sr_uuid.c_str(), volumes.size());
  VS_LOG_INFO("SR %s created on VastSky pool %s: %lld GiB raw, redundancy %d", ctx->req().sr_uuid.c_str(),
              config->managers[0].c_str(), static_cast<long long>(cs.capacity_gib), config->redundancy);
  return ctx->UpdateSrSizes(volumes);
}

Status SrDelete(Context* ctx, xmlrpc_c::value*) {
  VS_RETURN_IF_ERROR(CheckSrUuid(ctx->req()));
  std::vector<Volume> volumes;
  VS_RETURN_IF_ERROR(ctx->SrVolumes(&volumes));
  if (!volumes.empty())
    return Fail(kSrNotEmpty, "SR " + ctx->req().sr_uuid + " still holds " + std::to_string(volumes.size()) +
                                 " VDI(s), for example " + volumes[0].name + ": destroy them first");
  return Status::OK();
}

Status SrAttach(Context* ctx, xmlrpc_c::value*) {
  VS_RETURN_IF_ERROR(CheckSrUuid(ctx->req()));
  int64_t hsvrid = 0;
  VS_RETURN_IF_ERROR(ctx->LocalHead(&hsvrid));
  std::vector<Volume> volumes;
  VS_RETURN_IF_ERROR(ctx->SrVolumes(&volumes));
  if (!ctx->db()) return Status::OK();
  // A host plugging the SR runs no VM from it yet: activation tags naming
  // it are left from before a crash and would block those VDIs elsewhere.
  const std::string tag = "host_" + ctx->req().host_ref;
  std::vector<VdiRow> rows;
  VS_RETURN_IF_ERROR(FromXapi(ctx->db()->VdisOfSr(ctx->req().sr_ref, &rows), "cannot list the SR's VDIs"));
  for (const VdiRow& r : rows) {
    if (!r.sm_config.count(tag)) continue;
    VS_LOG_WARN("VDI %s: clearing the stale activation tag %s", r.uuid.c_str(), tag.c_str());
    VS_RETURN_IF_ERROR(FromXapi(ctx->db()->RemoveFromVdiSmConfig(r.ref, tag), "cannot clear a stale tag"));
  }
  if (!ctx->req().master()) return Status::OK();
  VS_RETURN_IF_ERROR(ctx->UpdateSrSizes(volumes));
  return FromXapi(ctx->db()->MarkSrDirty(ctx->req().sr_ref), "cannot ask xapi to scan the SR");
}

Status SrDetach(Context* ctx, xmlrpc_c::value*) {
  VS_RETURN_IF_ERROR(CheckSrUuid(ctx->req()));
  int64_t hsvrid = 0;
  if (!ctx->host().HeadServerId(&hsvrid).ok()) return Status::OK();  // nothing can be attached here
  std::vector<Volume> volumes;
  VS_RETURN_IF_ERROR(ctx->SrVolumes(&volumes));
  std::string here;
  for (const Volume& v : volumes)
    if (v.hsvrid == hsvrid) here += (here.empty() ? "" : ", ") + v.name;
  if (!here.empty()) return Fail(kSrInUse, "VDIs of this SR are still attached on this host: " + here);
  return Status::OK();
}

Status SrScan(Context* ctx, xmlrpc_c::value*) {
  VS_RETURN_IF_ERROR(CheckSrUuid(ctx->req()));
  VS_RETURN_IF_ERROR(ctx->RequireMaster());
  if (!ctx->db()) return Fail(kBadRequest, "sr_scan needs an xapi session");
  std::vector<Volume> volumes;
  VS_RETURN_IF_ERROR(ctx->SrVolumes(&volumes));
  std::vector<VdiRow> rows;
  VS_RETURN_IF_ERROR(FromXapi(ctx->db()->VdisOfSr(ctx->req().sr_ref, &rows), "cannot list the SR's VDIs"));
  std::map<std::string, const VdiRow*> row_of;  // location -> VDI
  for (const VdiRow& r : rows) row_of[r.location] = &r;
  std::map<std::string, std::string> ref_of;  // location -> VDI ref, new ones too
  std::map<int64_t, std::string> name_of;     // lvolid -> volume name
  std::vector<const Volume*> unknown;
  for (const Volume& v : volumes) {
    name_of[v.lvolid] = v.name;
    auto it = row_of.find(v.name);
    if (it == row_of.end()) {
      // One being made gets its VDI from whoever makes it (or is an error, then shown).
      if (v.state != kVolumeCreating) unknown.push_back(&v);
      else
        VS_LOG_INFO("SR %s: volume %s is being made: not introduced yet", ctx->req().sr_uuid.c_str(), v.name.c_str());
      continue;
    }
    ref_of[v.name] = it->second->ref;
    VS_RETURN_IF_ERROR(RepairScanned(ctx, *it->second, v));
  }
  // Origins first: a snapshot's VDI names its origin's.
  std::stable_sort(unknown.begin(), unknown.end(),
                   [](const Volume* a, const Volume* b) { return a->snapshot_of == 0 && b->snapshot_of != 0; });
  for (const Volume* v : unknown) {
    auto origin = name_of.find(v->snapshot_of);
    const bool known = origin != name_of.end() && ref_of.count(origin->second);
    const std::string origin_ref = known ? ref_of[origin->second] : "";
    VS_RETURN_IF_ERROR(IntroduceScanned(ctx, *v, origin_ref, &ref_of[v->name]));
  }
  for (const VdiRow& r : rows) {
    if (ref_of.count(r.location)) continue;
    VS_LOG_INFO("SR %s: VDI %s (%s) has no volume any more; forgetting it", ctx->req().sr_uuid.c_str(), r.uuid.c_str(),
                r.location.c_str());
    VS_RETURN_IF_ERROR(FromXapi(ctx->db()->ForgetVdi(r.ref), "cannot forget VDI " + r.uuid));
  }
  return ctx->UpdateSrSizes(volumes);
}

Status SrProbe(Context* ctx, xmlrpc_c::value* result) {
  Cluster* cluster;
  VS_RETURN_IF_ERROR(ctx->Connect(&cluster));
  std::vector<Volume> all;
  VS_RETURN_IF_ERROR(FromCluster(cluster->Volumes(&all), kSmGeneral, "cannot list the pool's volumes"));
  std::map<std::string, int64_t> srs;  // sr uuid -> bytes allocated
  for (const Volume& v : all) {
    std::string tag, sr;
    if (TagOf(v.name, &tag) && SrUuidOfTag(tag, &sr)) srs[sr] += v.capacity_gib * kGiB;
  }
  std::string xml = "<?xml version=\"1.0\" ?>\n<SRlist>\n";
  for (const auto& s : srs)
    xml += "\t<SR>\n\t\t<UUID>" + s.first + "</UUID>\n\t\t<Size>" + std::to_string(s.second) + "</Size>\n\t</SR>\n";
  xml += "</SRlist>\n";
  *result = xmlrpc_c::value_string(xml);
  return Status::OK();
}

Status SrUpdate(Context* ctx, xmlrpc_c::value*) {
  VS_RETURN_IF_ERROR(CheckSrUuid(ctx->req()));
  std::vector<Volume> volumes;
  VS_RETURN_IF_ERROR(ctx->SrVolumes(&volumes));
  return ctx->UpdateSrSizes(volumes);
}

}  // namespace sm
}  // namespace vastsky
