#include "sm_plugin/cluster.h"

#include <cerrno>

#include "lib/rpc_values.h"

namespace vastsky {
namespace sm {

namespace {

// Every manager call returns within this; attach may wait on agents
// (their own calls are bounded by the manager's agent_timeout).
constexpr int kTimeoutMs = 600000;

// The rows of a list answer, each checked to be a struct.
Status Rows(const xmlrpc_c::value& v, std::vector<xmlrpc_c::value>* out) {
  if (v.type() != xmlrpc_c::value::TYPE_ARRAY) return Status::Error(EPROTO, "the manager's answer is not a list");
  for (const xmlrpc_c::value& e : xmlrpc_c::value_array(v).cvalue()) {
    if (e.type() != xmlrpc_c::value::TYPE_STRUCT) return Status::Error(EPROTO, "the manager's list holds a non-struct");
    out->push_back(e);
  }
  return Status::OK();
}

Volume VolumeOf(const xmlrpc_c::value& row) {
  Volume v;
  v.lvolid = IntMember(row, "lvolid");
  v.name = StringMember(row, "lvolname");
  v.capacity_gib = IntMember(row, "capacity");
  v.redundancy = static_cast<int>(IntMember(row, "redundancy"));
  v.hsvrid = IntMember(row, "hsvrid");
  v.bind_status = static_cast<int>(IntMember(row, "bind_status"));
  v.bind_event = static_cast<int>(IntMember(row, "bind_event"));
  v.fault = BoolMember(row, "fault");
  v.read_only = BoolMember(row, "read_only");
  v.ctime = StringMember(row, "ctime");
  v.state = static_cast<int>(IntMember(row, "state"));
  const auto assoc = FindMember(row, "associated_to");
  if (assoc && assoc->type() == xmlrpc_c::value::TYPE_ARRAY) {
    for (const xmlrpc_c::value& a : xmlrpc_c::value_array(*assoc).vectorValueValue()) {
      const std::string type = StringMember(a, "type");
      if (type == "snapshot") v.snapshot_of = IntMember(a, "lvolid");
      if (type == "clone") v.clone_of = IntMember(a, "lvolid");
    }
  }
  return v;
}

xmlrpc_c::value Str(const std::string& s) { return xmlrpc_c::value_string(s); }

}  // namespace

Cluster::Cluster(const std::vector<std::string>& urls, const std::string& user, const std::string& secret,
                 const std::string& ca_file)
    : link_(urls, user, secret, ca_file, kTimeoutMs) {}

Status Cluster::Do(const std::string& method, std::map<std::string, xmlrpc_c::value> members) {
  xmlrpc_c::value ignored;
  return link_.Call(method, std::move(members), &ignored);
}

Status Cluster::List(const std::string& method, std::map<std::string, xmlrpc_c::value> members,
                     std::vector<xmlrpc_c::value>* rows) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(link_.Call(method, std::move(members), &r));
  return Rows(r, rows);
}

Status Cluster::Volumes(std::vector<Volume>* out) {
  std::vector<xmlrpc_c::value> rows;
  VS_RETURN_IF_ERROR(List("listLogicalVolumes", {}, &rows));
  out->clear();
  for (const xmlrpc_c::value& row : rows) out->push_back(VolumeOf(row));
  return Status::OK();
}

Status Cluster::Find(const std::string& name, Volume* out) {
  std::vector<xmlrpc_c::value> rows;
  VS_RETURN_IF_ERROR(List("listLogicalVolumes", {{"lvolname", Str(name)}}, &rows));
  if (rows.empty()) return Status::Error(ENOENT, "no volume " + name);
  *out = VolumeOf(rows[0]);
  return Status::OK();
}

Status Cluster::Create(const std::string& name, int64_t gib, int redundancy) {
  return Do("createLogicalVolume",
            {{"lvolname", Str(name)}, {"capacity", IntValue(gib)}, {"redundancy", IntValue(redundancy)}});
}

Status Cluster::Delete(const std::string& name) {
  return Do("deleteLogicalVolume", {{"lvolname", Str(name)}});
}

Status Cluster::Attach(const std::string& name, int64_t hsvrid) {
  return Do("attachLogicalVolume", {{"lvolname", Str(name)}, {"hsvrid", IntValue(hsvrid)}});
}

Status Cluster::Detach(const std::string& name) {
  return Do("detachLogicalVolume", {{"lvolname", Str(name)}});
}

Status Cluster::Resize(const std::string& name, int64_t gib) {
  return Do("resizeLogicalVolume", {{"lvolname", Str(name)}, {"capacity", IntValue(gib)}});
}

// An answer that is the new volume's id.
Status Cluster::Created(const std::string& method, std::map<std::string, xmlrpc_c::value> members, int64_t* lvolid) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(link_.Call(method, std::move(members), &r));
  if (!IntOfValue(r, lvolid)) return Status::Error(EPROTO, method + ": the answer is not a volume id");
  return Status::OK();
}

Status Cluster::Snapshot(const std::string& origin, const std::string& name, int64_t* lvolid) {
  return Created("createSnapshot", {{"origin_lvolname", Str(origin)}, {"snapshot_lvolname", Str(name)}}, lvolid);
}

Status Cluster::Clone(const std::string& source, const std::string& name, int64_t* lvolid) {
  return Created("cloneLogicalVolume", {{"lvolname", Str(source)}, {"clone_lvolname", Str(name)}}, lvolid);
}

Status Cluster::ChangedBlocks(const std::string& lvol, const std::string& base, ChangedRuns* out) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(link_.Call("listChangedBlocks", {{"lvolname", Str(lvol)}, {"base_lvolname", Str(base)}}, &r));
  const auto ranges = FindMember(r, "ranges");
  if (!ranges || ranges->type() != xmlrpc_c::value::TYPE_ARRAY)
    return Status::Error(EPROTO, "listChangedBlocks: the answer has no ranges");
  out->block_kib = IntMember(r, "block_kib");
  out->ranges.clear();
  for (const xmlrpc_c::value& e : xmlrpc_c::value_array(*ranges).vectorValueValue()) {
    int64_t n = 0;
    if (!IntOfValue(e, &n)) return Status::Error(EPROTO, "listChangedBlocks: a range holds a non-integer");
    out->ranges.push_back(n);
  }
  return Status::OK();
}

Status Cluster::Stat(ClusterStatus* out) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(link_.Call("getClusterStatus", {}, &r));
  if (r.type() != xmlrpc_c::value::TYPE_STRUCT) return Status::Error(EPROTO, "getClusterStatus: not a struct");
  out->capacity_gib = IntMember(r, "capacity");
  out->used_gib = IntMember(r, "used");
  out->available_gib = IntMember(r, "available");
  out->ssvrs_online = static_cast<int>(IntMember(r, "ssvrs_online"));
  out->domains = static_cast<int>(IntMember(r, "domains"));
  return Status::OK();
}

Status Cluster::HeadPriority(int64_t hsvrid, int* priority) {
  std::vector<xmlrpc_c::value> rows;
  VS_RETURN_IF_ERROR(List("listHeadServers", {{"hsvrid", IntValue(hsvrid)}}, &rows));
  if (rows.empty()) return Status::Error(ENOENT, "no head server " + std::to_string(hsvrid));
  *priority = static_cast<int>(IntMember(rows[0], "priority"));
  return Status::OK();
}

Status Cluster::ServerDomains(std::vector<std::string>* domains) {
  std::vector<xmlrpc_c::value> rows;
  VS_RETURN_IF_ERROR(List("listStorageServers", {}, &rows));
  domains->clear();
  for (const xmlrpc_c::value& row : rows) {
    const int64_t p = IntMember(row, "priority");
    if (p == 1 || p == 2) domains->push_back(StringMember(row, "domain"));
  }
  return Status::OK();
}

}  // namespace sm
}  // namespace vastsky
