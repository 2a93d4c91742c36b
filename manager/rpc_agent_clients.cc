// The agents' XML-RPC wire form (agents/PROTOCOL.md): the 3.0 envelope (one
// struct with `ver`), one connection per call.
#include <cerrno>
#include <map>

#include "lib/ids.h"
#include "lib/rpc_client.h"
#include "lib/rpc_values.h"
#include "lib/version.h"
#include "manager/agent_clients.h"

namespace vastsky {

namespace {

using Members = std::map<std::string, xmlrpc_c::value>;

xmlrpc_c::value Str(const std::string& s) { return xmlrpc_c::value_string(s); }

// The `lvol` member of attachLogicalVolume, growLogicalVolume and
// rebuildMirror.
xmlrpc_c::value VolumeSpecValue(const VolumeLayout& layout) {
  std::vector<xmlrpc_c::value> mirrors;
  for (const MirrorInfo& m : layout.mirrors) {
    std::vector<xmlrpc_c::value> legs;
    for (const ChunkInfo& c : m.chunks) {
      std::vector<xmlrpc_c::value> portals;
      // No portals: the leg's disk is failed or offline, a missing member.
      if (c.reachable)
        for (const std::string& ip : c.ssvr_ips) portals.push_back(Str(IscsiPortal(ip)));
      legs.push_back(xmlrpc_c::value_struct(Members{{"chunkid", IntValue(c.id)},
                                                    {"pdskid", IntValue(c.pdsk_id)},
                                                    {"portals", xmlrpc_c::value_array(portals)},
                                                    {"length_mib", IntValue(c.length_mib)},
                                                    {"status", IntValue(c.status)}}));
    }
    mirrors.push_back(xmlrpc_c::value_struct(Members{{"mirrorid", IntValue(m.id)},
                                                     {"offset_gib", IntValue(m.offset_gib)},
                                                     {"capacity_gib", IntValue(m.capacity_gib)},
                                                     {"legs", xmlrpc_c::value_array(legs)}}));
  }
  Members spec{{"lvolid", IntValue(layout.volume.id)},
               {"lvolname", Str(layout.volume.name)},
               {"mirrors", xmlrpc_c::value_array(mirrors)}};
  // Sent only when set: a head from before snapshots never sees it.
  if (layout.volume.kind == 1) spec["read_only"] = xmlrpc_c::value_boolean(true);
  return xmlrpc_c::value_struct(spec);
}

Status Call(const AgentOptions& options, bool quick, const std::string& url, const std::string& method,
            Members members, xmlrpc_c::value* result) {
  members["ver"] = xmlrpc_c::value_int(kProtocolVersion);
  xmlrpc_c::paramList params;
  params.add(xmlrpc_c::value_struct(members));
  RpcEndpoint ep;
  ep.url = url;
  ep.password = options.secret;  // as admin, unless the agent has its own credential
  std::string user, password;
  if (options.credential_for && options.credential_for(url, &user, &password)) {
    ep.user = user;
    ep.password = password;
  }
  ep.ca_file = options.ca_file;
  ep.timeout_ms = quick ? options.quick_timeout_ms : options.timeout_ms;
  // One client per call: RpcClient is not thread-safe, and calls for
  // different agents run on different threads.
  RpcClient client(ep);
  return client.Call(method, params, result);
}

int64_t IntOf(const xmlrpc_c::value& v) {
  int64_t out = 0;
  IntOfValue(v, &out);
  return out;
}

std::vector<xmlrpc_c::value> Items(const xmlrpc_c::value& v) {
  if (v.type() != xmlrpc_c::value::TYPE_ARRAY) return {};
  return xmlrpc_c::value_array(v).vectorValueValue();
}

// A listing (no members, a quick call): EPROTO unless the answer is a list.
Status CallForList(const AgentOptions& options, const std::string& url, const std::string& method,
                   std::vector<xmlrpc_c::value>* items) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(Call(options, true, url, method, {}, &r));
  if (r.type() != xmlrpc_c::value::TYPE_ARRAY)
    return Status::Error(EPROTO, url + ": " + method + " answered something other than a list");
  *items = Items(r);
  return Status::OK();
}

}  // namespace

// A grant may create thin devices and LUNs: kernel work, the long timeout.
Status RpcAgentClients::AllowInitiator(const std::string& url, const std::string& opid, int64_t pdsk_id,
                                       const HeadAgentInfo& head, const std::vector<LegGrant>& legs) {
  std::vector<xmlrpc_c::value> items;
  for (const LegGrant& l : legs)
    items.push_back(xmlrpc_c::value_struct(Members{{"chunkid", IntValue(l.chunk_id)},
                                                   {"thin_id", IntValue(l.thin_id)},
                                                   {"size_mib", IntValue(l.size_mib)},
                                                   {"create", xmlrpc_c::value_boolean(l.create)}}));
  xmlrpc_c::value r;
  return Call(options_, false, url, "allowInitiator",
              {{"opid", Str(opid)},
               {"pdskid", IntValue(pdsk_id)},
               {"initiator", Str(head.initiator)},
               {"chap_user", Str(head.chap_user)},
               {"chap_secret", Str(head.chap_secret)},
               {"legs", xmlrpc_c::value_array(items)}},
              &r);
}

Status RpcAgentClients::DeleteLegs(const std::string& url, const std::string& opid, int64_t pdsk_id,
                                   const std::vector<LegRef>& legs) {
  std::vector<xmlrpc_c::value> items;
  for (const LegRef& l : legs)
    items.push_back(xmlrpc_c::value_struct(Members{{"chunkid", IntValue(l.chunk_id)}, {"thin_id", IntValue(l.thin_id)}}));
  xmlrpc_c::value r;
  return Call(options_, false, url, "deleteLegs",
              {{"opid", Str(opid)}, {"pdskid", IntValue(pdsk_id)}, {"legs", xmlrpc_c::value_array(items)}}, &r);
}

Status RpcAgentClients::RevokeInitiator(const std::string& url, const std::string& opid, int64_t pdsk_id,
                                        const std::string& initiator) {
  xmlrpc_c::value r;
  return Call(options_, true, url, "revokeInitiator",
              {{"opid", Str(opid)}, {"pdskid", IntValue(pdsk_id)}, {"initiator", Str(initiator)}}, &r);
}

Status RpcAgentClients::ListExports(const std::string& url, std::vector<ExportAcl>* out) {
  std::vector<xmlrpc_c::value> items;
  VS_RETURN_IF_ERROR(CallForList(options_, url, "listExports", &items));
  for (const xmlrpc_c::value& e : items) {
    ExportAcl acl;
    acl.pdsk_id = IntMember(e, "pdskid");
    acl.initiators = StringsMember(e, "initiators");
    // 3.0-era agents list neither: nothing mapped, no thin device.
    if (const auto maps = FindMember(e, "maps"))
      for (const xmlrpc_c::value& m : Items(*maps)) {
        std::vector<int64_t>& chunks = acl.maps[StringMember(m, "initiator")];
        if (const auto ids = FindMember(m, "chunks"))
          for (const xmlrpc_c::value& id : Items(*ids)) chunks.push_back(IntOf(id));
      }
    if (const auto legs = FindMember(e, "legs"))
      for (const xmlrpc_c::value& l : Items(*legs))
        acl.legs.push_back({IntMember(l, "chunkid"), IntMember(l, "thin_id"), IntMember(l, "size_mib"), false});
    out->push_back(acl);
  }
  return Status::OK();
}

namespace {
// A method an older storage agent lacks is ENOTSUP, naming it.
Status Supported(const Status& st, const std::string& url, const char* method) {
  if (st.code() != xmlrpc_c::fault::CODE_NO_SUCH_METHOD) return st;
  return Status::Error(ENOTSUP, url + ": the agent predates " + method + " (upgrade it)");
}
}  // namespace

namespace {
// legMap's and legDelta's answer: {block_kib, ranges}, shape only.
Status ReadLegBlocks(const xmlrpc_c::value& r, const std::string& url, const char* method, LegBlocks* out) {
  const auto ranges = FindMember(r, "ranges");
  if (!ranges || ranges->type() != xmlrpc_c::value::TYPE_ARRAY)
    return Status::Error(EPROTO, url + ": " + method + " answered without a list of ranges");
  out->block_kib = IntMember(r, "block_kib");
  out->ranges.clear();
  for (const xmlrpc_c::value& v : Items(*ranges)) {
    int64_t n = 0;
    if (!IntOfValue(v, &n)) return Status::Error(EPROTO, url + ": " + method + " answered a range that is not an int");
    out->ranges.push_back(n);
  }
  return Status::OK();
}
}  // namespace

// Read-only: no opid, a quick call. Ranges are taken as sent (the caller
// checks them); only their shape is this layer's.
Status RpcAgentClients::LegMap(const std::string& url, int64_t pdsk_id, int64_t thin_id, LegBlocks* out) {
  xmlrpc_c::value r;
  // Such an agent cannot map its legs: the head leaves the leg untrimmed.
  VS_RETURN_IF_ERROR(Supported(
      Call(options_, true, url, "legMap", {{"pdskid", IntValue(pdsk_id)}, {"thin_id", IntValue(thin_id)}}, &r), url,
      "legMap"));
  return ReadLegBlocks(r, url, "legMap", out);
}

Status RpcAgentClients::LegDelta(const std::string& url, int64_t pdsk_id, int64_t thin_id, int64_t base_thin_id,
                                 LegBlocks* out) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(Supported(Call(options_, true, url, "legDelta",
                                    {{"pdskid", IntValue(pdsk_id)},
                                     {"thin_id", IntValue(thin_id)},
                                     {"base_thin_id", IntValue(base_thin_id)}},
                                    &r),
                               url, "legDelta"));
  return ReadLegBlocks(r, url, "legDelta", out);
}

// Read-only, a quick call; figures as sent, the shape checked here.
Status RpcAgentClients::LegUsage(const std::string& url, int64_t pdsk_id, std::vector<ThinSpace>* out) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(
      Supported(Call(options_, true, url, "legUsage", {{"pdskid", IntValue(pdsk_id)}}, &r), url, "legUsage"));
  if (r.type() != xmlrpc_c::value::TYPE_ARRAY)
    return Status::Error(EPROTO, url + ": legUsage answered something other than a list");
  out->clear();
  for (const xmlrpc_c::value& t : Items(r)) {
    if (t.type() != xmlrpc_c::value::TYPE_STRUCT)
      return Status::Error(EPROTO, url + ": legUsage answered a thin that is not a struct");
    out->push_back({IntMember(t, "thin_id"), IntMember(t, "mapped_mib"), IntMember(t, "exclusive_mib")});
  }
  return Status::OK();
}

// create_snap suspends an active origin thin: kernel work, the long timeout.
Status RpcAgentClients::SnapshotLegs(const std::string& url, const std::string& opid, int64_t pdsk_id,
                                     const std::vector<LegCopy>& legs) {
  std::vector<xmlrpc_c::value> items;
  for (const LegCopy& l : legs)
    items.push_back(xmlrpc_c::value_struct(Members{{"chunkid", IntValue(l.chunk_id)},
                                                   {"thin_id", IntValue(l.thin_id)},
                                                   {"origin_thin_id", IntValue(l.origin_thin_id)},
                                                   {"size_mib", IntValue(l.size_mib)}}));
  xmlrpc_c::value r;
  return Supported(Call(options_, false, url, "snapshotLegs",
                        {{"opid", Str(opid)}, {"pdskid", IntValue(pdsk_id)}, {"legs", xmlrpc_c::value_array(items)}},
                        &r),
                   url, "snapshotLegs");
}

// thin_check may take minutes: the kernel-work timeout.
Status RpcAgentClients::RepairPool(const std::string& url, const std::string& opid, int64_t pdsk_id,
                                   const std::vector<StaleLeg>& stale) {
  std::vector<xmlrpc_c::value> legs;
  for (const StaleLeg& l : stale)
    legs.push_back(xmlrpc_c::value_struct(Members{
        {"chunkid", IntValue(l.chunk_id)}, {"thin_id", IntValue(l.thin_id)}, {"size_mib", IntValue(l.size_mib)}}));
  xmlrpc_c::value r;
  return Supported(Call(options_, false, url, "repairPool",
                        {{"opid", Str(opid)}, {"pdskid", IntValue(pdsk_id)}, {"stale", xmlrpc_c::value_array(legs)}},
                        &r),
                   url, "repairPool");
}

Status RpcAgentClients::AttachVolume(const std::string& url, const std::string& opid, const VolumeLayout& layout,
                                     const HeadAgentInfo& head, std::string* device) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(Call(options_, false, url, "attachLogicalVolume",
                          {{"opid", Str(opid)},
                           {"lvol", VolumeSpecValue(layout)},
                           {"chap_user", Str(head.chap_user)},
                           {"chap_secret", Str(head.chap_secret)}},
                          &r));
  if (r.type() != xmlrpc_c::value::TYPE_STRING)
    return Status::Error(EPROTO, "answered with something other than the device path");
  *device = xmlrpc_c::value_string(r).cvalue();
  return Status::OK();
}

Status RpcAgentClients::DetachVolume(const std::string& url, const std::string& opid, int64_t lvol_id) {
  xmlrpc_c::value r;
  return Call(options_, false, url, "detachLogicalVolume", {{"opid", Str(opid)}, {"lvolid", IntValue(lvol_id)}}, &r);
}

Status RpcAgentClients::GrowVolume(const std::string& url, const std::string& opid, const VolumeLayout& layout) {
  xmlrpc_c::value r;
  return Call(options_, false, url, "growLogicalVolume", {{"opid", Str(opid)}, {"lvol", VolumeSpecValue(layout)}},
              &r);
}

Status RpcAgentClients::RebuildMirror(const std::string& url, const std::string& opid, const VolumeLayout& layout,
                                      int64_t mirror_id, int64_t source_pdsk, int64_t rate_kib) {
  Members m{{"opid", Str(opid)},
            {"lvol", VolumeSpecValue(layout)},
            {"mirrorid", IntValue(mirror_id)},
            {"rate_kib", IntValue(rate_kib)}};
  if (source_pdsk != 0) m["source_pdskid"] = IntValue(source_pdsk);
  xmlrpc_c::value r;
  return Call(options_, false, url, "rebuildMirror", m, &r);
}

// A freeze holds a VM's I/O: quick calls, so a hung head costs seconds,
// not minutes (the head thaws by itself at timeout_ms anyway).
Status RpcAgentClients::FreezeVolume(const std::string& url, const std::string& opid, int64_t lvol_id,
                                     int64_t timeout_ms) {
  xmlrpc_c::value r;
  return Supported(Call(options_, true, url, "freezeVolume",
                        {{"opid", Str(opid)}, {"lvolid", IntValue(lvol_id)}, {"timeout_ms", IntValue(timeout_ms)}}, &r),
                   url, "freezeVolume");
}

Status RpcAgentClients::ThawVolume(const std::string& url, const std::string& opid, int64_t lvol_id,
                                   int64_t* paused_ms) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(
      Call(options_, true, url, "thawVolume", {{"opid", Str(opid)}, {"lvolid", IntValue(lvol_id)}}, &r));
  *paused_ms = IntMember(r, "paused_ms");
  return Status::OK();
}

Status RpcAgentClients::SetRebuildRate(const std::string& url, int64_t rate_kib) {
  xmlrpc_c::value r;
  return Call(options_, true, url, "setRebuildRate", {{"rate_kib", IntValue(rate_kib)}}, &r);
}

Status RpcAgentClients::ListVolumes(const std::string& url, std::vector<HeadVolumeState>* out) {
  std::vector<xmlrpc_c::value> items;
  VS_RETURN_IF_ERROR(CallForList(options_, url, "listVolumes", &items));
  for (const xmlrpc_c::value& vol : items) {
    HeadVolumeState v;
    v.lvol_id = IntMember(vol, "lvolid");
    const auto mirrors = FindMember(vol, "mirrors");
    if (mirrors)
      for (const xmlrpc_c::value& m : Items(*mirrors))
        v.mirrors.push_back(
            {IntMember(m, "mirrorid"), StringMember(m, "health"), StringMember(m, "sync"), StringMember(m, "action")});
    out->push_back(v);
  }
  return Status::OK();
}

}  // namespace vastsky
