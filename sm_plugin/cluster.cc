#include "sm_plugin/cluster.h"

#include <cerrno>

#include "lib/rpc_values.h"

namespace vastsky {
namespace sm {

namespace {

// Every manager call returns within this; attach may wait on agents
// (their own calls are bounded by the manager's agent_timeout).
constexpr int kTimeoutMs = 600000;

using Members = std::map<std::string, xmlrpc_c::value>;

int64_t IntOf(const Members& m, const char* key) {
  auto it = m.find(key);
  if (it == m.end()) return 0;
  if (it->second.type() == xmlrpc_c::value::TYPE_INT) return xmlrpc_c::value_int(it->second).cvalue();
  if (it->second.type() == xmlrpc_c::value::TYPE_I8) return xmlrpc_c::value_i8(it->second).cvalue();
  return 0;
}

std::string StringOf(const Members& m, const char* key) {
  auto it = m.find(key);
  return it != m.end() && it->second.type() == xmlrpc_c::value::TYPE_STRING ? xmlrpc_c::value_string(it->second).cvalue()
                                                                             : "";
}

Status Structs(const xmlrpc_c::value& v, std::vector<Members>* out) {
  if (v.type() != xmlrpc_c::value::TYPE_ARRAY) return Status::Error(EPROTO, "the manager's answer is not a list");
  for (const xmlrpc_c::value& e : xmlrpc_c::value_array(v).cvalue()) {
    if (e.type() != xmlrpc_c::value::TYPE_STRUCT) return Status::Error(EPROTO, "the manager's list holds a non-struct");
    out->push_back(xmlrpc_c::value_struct(e));
  }
  return Status::OK();
}

Volume VolumeOf(const Members& m) {
  Volume v;
  v.lvolid = IntOf(m, "lvolid");
  v.name = StringOf(m, "lvolname");
  v.capacity_gib = IntOf(m, "capacity");
  v.redundancy = static_cast<int>(IntOf(m, "redundancy"));
  v.hsvrid = IntOf(m, "hsvrid");
  v.bind_status = static_cast<int>(IntOf(m, "bind_status"));
  v.bind_event = static_cast<int>(IntOf(m, "bind_event"));
  auto f = m.find("fault");
  v.fault = f != m.end() && f->second.type() == xmlrpc_c::value::TYPE_BOOLEAN && xmlrpc_c::value_boolean(f->second).cvalue();
  return v;
}

xmlrpc_c::value Str(const std::string& s) { return xmlrpc_c::value_string(s); }

}  // namespace

Cluster::Cluster(const std::vector<std::string>& urls, const std::string& secret, const std::string& ca_file)
    : link_(urls, secret, ca_file, kTimeoutMs) {}

Status Cluster::Volumes(std::vector<Volume>* out) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(link_.Call("listLogicalVolumes", {}, &r));
  std::vector<Members> rows;
  VS_RETURN_IF_ERROR(Structs(r, &rows));
  out->clear();
  for (const Members& m : rows) out->push_back(VolumeOf(m));
  return Status::OK();
}

Status Cluster::Find(const std::string& name, Volume* out) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(link_.Call("listLogicalVolumes", {{"lvolname", Str(name)}}, &r));
  std::vector<Members> rows;
  VS_RETURN_IF_ERROR(Structs(r, &rows));
  if (rows.empty()) return Status::Error(ENOENT, "no volume " + name);
  *out = VolumeOf(rows[0]);
  return Status::OK();
}

Status Cluster::Create(const std::string& name, int64_t gib, int redundancy) {
  xmlrpc_c::value r;
  return link_.Call("createLogicalVolume",
                    {{"lvolname", Str(name)}, {"capacity", IntValue(gib)}, {"redundancy", IntValue(redundancy)}}, &r);
}

Status Cluster::Delete(const std::string& name) {
  xmlrpc_c::value r;
  return link_.Call("deleteLogicalVolume", {{"lvolname", Str(name)}}, &r);
}

Status Cluster::Attach(const std::string& name, int64_t hsvrid) {
  xmlrpc_c::value r;
  return link_.Call("attachLogicalVolume", {{"lvolname", Str(name)}, {"hsvrid", IntValue(hsvrid)}}, &r);
}

Status Cluster::Detach(const std::string& name) {
  xmlrpc_c::value r;
  return link_.Call("detachLogicalVolume", {{"lvolname", Str(name)}}, &r);
}

Status Cluster::Resize(const std::string& name, int64_t gib) {
  xmlrpc_c::value r;
  return link_.Call("resizeLogicalVolume", {{"lvolname", Str(name)}, {"capacity", IntValue(gib)}}, &r);
}

Status Cluster::Stat(ClusterStatus* out) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(link_.Call("getClusterStatus", {}, &r));
  if (r.type() != xmlrpc_c::value::TYPE_STRUCT) return Status::Error(EPROTO, "getClusterStatus: not a struct");
  const Members m = xmlrpc_c::value_struct(r);
  out->capacity_gib = IntOf(m, "capacity");
  out->used_gib = IntOf(m, "used");
  out->available_gib = IntOf(m, "available");
  out->ssvrs_online = static_cast<int>(IntOf(m, "ssvrs_online"));
  out->domains = static_cast<int>(IntOf(m, "domains"));
  return Status::OK();
}

Status Cluster::HeadPriority(int64_t hsvrid, int* priority) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(link_.Call("listHeadServers", {{"hsvrid", IntValue(hsvrid)}}, &r));
  std::vector<Members> rows;
  VS_RETURN_IF_ERROR(Structs(r, &rows));
  if (rows.empty()) return Status::Error(ENOENT, "no head server " + std::to_string(hsvrid));
  *priority = static_cast<int>(IntOf(rows[0], "priority"));
  return Status::OK();
}

Status Cluster::ServerDomains(std::vector<std::string>* domains) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(link_.Call("listStorageServers", {}, &r));
  std::vector<Members> rows;
  VS_RETURN_IF_ERROR(Structs(r, &rows));
  domains->clear();
  for (const Members& m : rows) {
    const int64_t p = IntOf(m, "priority");
    if (p == 1 || p == 2) domains->push_back(StringOf(m, "domain"));
  }
  return Status::OK();
}

}  // namespace sm
}  // namespace vastsky
