#include "manager/api_render.h"

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "lib/ids.h"
#include "lib/rpc_values.h"
#include "lib/version.h"

namespace vastsky {

namespace {
using Struct = std::map<std::string, xmlrpc_c::value>;

xmlrpc_c::value Str(const std::string& s) { return xmlrpc_c::value_string(s); }
xmlrpc_c::value Int(int64_t v) { return IntValue(v); }
xmlrpc_c::value Assocs(const std::vector<Association>& v) {
  std::vector<xmlrpc_c::value> out;
  for (const Association& a : v) out.push_back(xmlrpc_c::value_struct(Struct{{"lvolid", Int(a.lvol_id)}, {"type", Str(a.type)}}));
  return xmlrpc_c::value_array(out);
}

xmlrpc_c::value Node(int64_t id, int type, int64_t capacity, int mirror_status, const Struct& spec,
                     const std::vector<std::string>& labels, const std::vector<xmlrpc_c::value>& components) {
  return xmlrpc_c::value_struct(Struct{{"lvolid", Int(id)},
                                       {"lvoltype", Int(type)},
                                       {"capacity", Int(capacity)},
                                       {"mirror_status", Int(mirror_status)},
                                       {"lvolspec", xmlrpc_c::value_struct(spec)},
                                       {"labels", StringsValue(labels)},
                                       {"components", xmlrpc_c::value_array(components)}});
}

xmlrpc_c::value RenderChunk(const ChunkInfo& c, int64_t capacity_gib) {
  std::vector<std::string> paths;
  for (const std::string& ip : c.ssvr_ips) paths.push_back(IscsiPortal(ip));
  Struct spec{{"pdskid", Int(c.pdsk_id)},
              {"ssvrid", Int(c.ssvr_id)},
              {"offset", Int(c.offset_mib + kMetaMib)},
              {"meta_offset", Int(c.offset_mib)},
              {"length", Int(c.length_mib)},
              {"thin_id", Int(c.thin_id)},
              {"iqn", Str(DiskIqn(c.pdsk_id))},
              {"iscsi_path", StringsValue(paths)}};
  return Node(c.id, kDext, capacity_gib, c.status, spec, {}, {});
}
}  // namespace

xmlrpc_c::value RenderHeadServer(const HeadServerInfo& h) {
  return xmlrpc_c::value_struct(Struct{{"hsvrid", Int(h.id)},
                                       {"priority", Int(h.priority)},
                                       {"ip_data", StringsValue(h.ips)},
                                       {"resync", Int(h.resync)},
                                       {"last_seen", Str(h.last_seen)},
                                       {"url", Str(h.url)},
                                       {"initiator", Str(h.initiator)}});
}

xmlrpc_c::value RenderStorageServer(const StorageServerInfo& s) {
  return xmlrpc_c::value_struct(Struct{{"ssvrid", Int(s.id)},
                                       {"priority", Int(s.priority)},
                                       {"ip_data", StringsValue(s.ips)},
                                       {"resync", Int(s.resync)},
                                       {"available", Int(s.available_gib)},
                                       {"capacity", Int(s.capacity_gib)},
                                       {"domain", Str(s.domain)},
                                       {"last_seen", Str(s.last_seen)},
                                       {"url", Str(s.url)}});
}

xmlrpc_c::value RenderPhysicalDisk(const PhysicalDiskInfo& d) {
  return xmlrpc_c::value_struct(Struct{{"ssvrid", Int(d.ssvr_id)},
                                       {"pdskid", Int(d.id)},
                                       {"priority", Int(d.priority)},
                                       {"local_path", Str(d.path)},
                                       {"resync", Int(d.resync)},
                                       {"capacity", Int(d.capacity_gib)},
                                       {"available", Int(d.available_gib)},
                                       {"weight", xmlrpc_c::value_double(d.weight)},
                                       {"pool_used_mib", Int(d.pool_used_mib)},
                                       {"pool_mib", Int(d.pool_mib)},
                                       {"pool_meta_used_kib", Int(d.pool_meta_used_kib)},
                                       {"pool_meta_kib", Int(d.pool_meta_kib)},
                                       {"pool_mode", Str(d.pool_mode)}});
}

xmlrpc_c::value RenderVolume(const VolumeInfo& v) {
  return xmlrpc_c::value_struct(Struct{{"hsvrid", Int(v.hsvr_id)},
                                       {"lvolid", Int(v.id)},
                                       {"lvolname", Str(v.name)},
                                       {"redundancy", Int(v.redundancy)},
                                       {"capacity", Int(v.capacity_gib)},
                                       {"associated_to", Assocs(v.associated_to)},
                                       {"associated_from", Assocs(v.associated_from)},
                                       {"fault", xmlrpc_c::value_boolean(v.fault)},
                                       {"bind_status", Int(v.bind_status)},
                                       {"bind_event", Int(v.bind_event)},
                                       {"rebuild_only", xmlrpc_c::value_boolean(v.rebuild_only)},
                                       {"read_only", xmlrpc_c::value_boolean(v.kind == 1)},
                                       {"state", Int(v.state)},
                                       {"tenant", Str(v.tenant)},
                                       {"ctime", Str(v.ctime)}});
}

xmlrpc_c::value RenderLayout(const VolumeLayout& l) {
  const VolumeInfo& v = l.volume;
  std::vector<xmlrpc_c::value> mirrors;
  for (const MirrorInfo& m : l.mirrors) {
    std::vector<xmlrpc_c::value> legs;
    for (const ChunkInfo& c : m.chunks) legs.push_back(RenderChunk(c, m.capacity_gib));
    mirrors.push_back(Node(m.id, kMirror, m.capacity_gib, 0, Struct{{"offset", Int(m.offset_gib)}}, {}, legs));
  }
  xmlrpc_c::value linear = Node(v.linear_node, kLinear, v.capacity_gib, 0, {}, {}, mirrors);
  xmlrpc_c::value top =
      v.kind == 0 ? Node(v.top_node, kSnapshotOrigin, v.capacity_gib, 0, {}, {}, {linear})
                  : Node(v.top_node, kSnapshot, v.capacity_gib, 0, Struct{{"origin_lvolid", Int(l.origin_top_node)}}, {}, {linear});
  std::vector<xmlrpc_c::value> assoc;
  for (const VolumeLayout& s : l.snapshots) assoc.push_back(RenderLayout(s));
  Struct spec{{"lvolname", Str(v.name)},
              {"redundancy", Int(v.redundancy)},
              {"ctime", Str(v.ctime)},
              {"read_only", xmlrpc_c::value_boolean(v.kind == 1)},
              {"state", Int(v.state)},
              {"assoc", xmlrpc_c::value_array(assoc)}};
  return Node(v.id, kLvol, v.capacity_gib, 0, spec, {v.name, FormatId("lvol", v.id)}, {top});
}

xmlrpc_c::value RenderEvent(const EventInfo& e) {
  return xmlrpc_c::value_struct(Struct{{"eventid", Int(e.id)},
                                       {"time", Str(e.time)},
                                       {"level", Str(e.level)},
                                       {"type", Str(e.type)},
                                       {"target", Str(e.target)},
                                       {"targetid", Int(e.target_id)},
                                       {"message", Str(e.message)}});
}

xmlrpc_c::value RenderClusterStatus(const ClusterStatus& c, const Health& health) {
  std::vector<xmlrpc_c::value> checks;
  for (const HealthCheck& k : health.checks) {
    std::vector<xmlrpc_c::value> detail;
    for (const std::string& name : k.detail) detail.push_back(Str(name));
    checks.push_back(xmlrpc_c::value_struct(Struct{{"code", Str(k.code)},
                                                   {"severity", Str(HealthWord(k.severity))},
                                                   {"summary", Str(k.summary)},
                                                   {"count", Int(k.count)},
                                                   {"detail", xmlrpc_c::value_array(detail)}}));
  }
  return xmlrpc_c::value_struct(Struct{{"health", Str(HealthWord(health.status))},
                                       {"checks", xmlrpc_c::value_array(checks)},
                                       {"nearfull_ratio", xmlrpc_c::value_double(c.nearfull_ratio)},
                                       {"full_ratio", xmlrpc_c::value_double(c.full_ratio)},
                                       {"max_clock_skew", xmlrpc_c::value_double(c.max_clock_skew_s)},
                                       {"version", Str(VASTSKY_VERSION)},
                                       {"protocol", Int(kProtocolVersion)},
                                       {"cluster_id", Str(c.cluster_id)},
                                       {"overcommit", xmlrpc_c::value_double(c.overcommit)},
                                       {"chunk_size", Int(c.chunk_gib)},
                                       {"capacity", Int(c.capacity_gib)},
                                       {"used", Int(c.used_gib)},
                                       {"available", Int(c.available_gib)},
                                       {"ssvrs", Int(c.ssvrs)},
                                       {"ssvrs_online", Int(c.ssvrs_online)},
                                       {"hsvrs", Int(c.hsvrs)},
                                       {"hsvrs_online", Int(c.hsvrs_online)},
                                       {"pdsks", Int(c.pdsks)},
                                       {"pdsks_online", Int(c.pdsks_online)},
                                       {"lvols", Int(c.lvols)},
                                       {"mirrors", Int(c.mirrors)},
                                       {"mirrors_degraded", Int(c.mirrors_degraded)},
                                       {"rebuilds_queued", Int(c.rebuilds_queued)},
                                       {"rebuilds_running", Int(c.rebuilds_running)},
                                       {"domains", Int(c.domains)},
                                       {"silent_servers", Int(c.silent_servers)},
                                       {"isolated", xmlrpc_c::value_boolean(c.isolated)},
                                       {"rebuild_total_mib", Int(c.rebuild_total_mib)},
                                       {"rebuild_left_mib", Int(c.rebuild_left_mib)},
                                       {"rebuild_rate_mibs", xmlrpc_c::value_double(c.rebuild_rate_mibs)},
                                       {"rebuild_eta", Int(c.rebuild_eta_s)}});
}

xmlrpc_c::value RenderCredential(const Credential& c, const std::string& secret) {
  Struct out{{"user", Str(c.user)},
             {"role", Str(RoleName(c.role))},
             {"server_id", Int(c.server_id)},
             {"generation", Int(c.generation)},
             {"in_use", xmlrpc_c::value_boolean(c.in_use)},
             {"ctime", Str(c.ctime)}};
  if (c.role == Role::kTenant) {
    std::vector<xmlrpc_c::value> heads;
    for (int64_t h : c.heads) heads.push_back(Int(h));
    out.emplace("tenant", Str(c.tenant));
    out.emplace("hsvrids", xmlrpc_c::value_array(heads));
  }
  if (!secret.empty()) out.emplace("secret", Str(secret));
  return xmlrpc_c::value_struct(out);
}

xmlrpc_c::value RenderRebuild(const RebuildRow& r) {
  std::vector<xmlrpc_c::value> dests;
  for (int64_t d : r.info.dest_pdsks) dests.push_back(Int(d));
  const double percent = r.total_mib ? 100.0 * static_cast<double>(r.done_mib) / static_cast<double>(r.total_mib) : 0;
  return xmlrpc_c::value_struct(Struct{{"mirrorid", Int(r.info.mirror_id)},
                                       {"lvolid", Int(r.info.lvol_id)},
                                       {"lvolname", Str(r.info.lvol_name)},
                                       {"state", Str(r.info.running ? "running" : "queued")},
                                       {"kind", Str(r.info.retires ? "move" : "rebuild")},
                                       {"hsvrid", Int(r.info.hsvr_id)},
                                       {"source_pdskid", Int(r.info.source_pdsk)},
                                       {"dest_pdskids", xmlrpc_c::value_array(dests)},
                                       {"size", Int(r.info.capacity_gib)},
                                       {"done_mib", Int(r.done_mib)},
                                       {"percent", xmlrpc_c::value_double(percent)},
                                       {"rate_mibs", xmlrpc_c::value_double(r.rate_mibs)},
                                       {"eta", Int(r.eta_s)},
                                       {"stalled", Int(r.stalled_s)},
                                       {"queued", Str(r.info.queued)},
                                       {"started", Str(r.info.started)}});
}

xmlrpc_c::value RenderLegBlocks(const LegBlocks& m) {
  std::vector<xmlrpc_c::value> ranges;
  ranges.reserve(m.ranges.size());
  for (int64_t v : m.ranges) ranges.push_back(Int(v));
  return xmlrpc_c::value_struct(
      Struct{{"status", Int(0)}, {"block_kib", Int(m.block_kib)}, {"ranges", xmlrpc_c::value_array(ranges)}});
}

xmlrpc_c::value RenderFamily(const std::vector<FamilyMember>& members) {
  std::vector<xmlrpc_c::value> lvols;
  for (const FamilyMember& m : members)
    lvols.push_back(xmlrpc_c::value_struct(Struct{{"lvolid", Int(m.lvol_id)},
                                                  {"lvolname", Str(m.name)},
                                                  {"kind", Str(m.kind)},
                                                  {"source_lvolid", Int(m.source_id)},
                                                  {"capacity", Int(m.capacity_gib)},
                                                  {"mapped_mib", Int(m.mapped_mib)},
                                                  {"exclusive_mib", Int(m.exclusive_mib)},
                                                  {"legs_unreported", Int(m.legs_unreported)}}));
  return xmlrpc_c::value_struct(Struct{{"lvols", xmlrpc_c::value_array(lvols)}});
}

}  // namespace vastsky
