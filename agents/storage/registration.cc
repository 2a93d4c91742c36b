#include "agents/storage/registration.h"

#include <cerrno>
#include <sstream>

#include "lib/clock.h"
#include "lib/ids.h"
#include "lib/log.h"
#include "lib/rpc_values.h"
#include "lib/state_file.h"

namespace vastsky {

namespace {
int64_t IdOf(const xmlrpc_c::value& v) {
  return v.type() == xmlrpc_c::value::TYPE_INT ? xmlrpc_c::value_int(v).cvalue() : 0;
}
}  // namespace

Registration::Registration(RegistrationOptions options, ManagerLink* link, Exports* exports, ThinPools* pools)
    : options_(std::move(options)), link_(link), exports_(exports), pools_(pools) {}

// Line format: "ssvr <id>" then "pdsk <id> <path>" per disk.
Status Registration::RestoreExports() {
  std::string text;
  Status st = ReadStateFile(options_.ids_file, &text);
  if (st.code() == ENOENT) return Status::OK();
  VS_RETURN_IF_ERROR(st);
  std::istringstream in(text);
  std::string kind, path;
  int64_t id;
  while (in >> kind >> id) {
    if (kind == "ssvr") ssvr_id_ = id;
    else if (kind == "pdsk" && in >> path) pdsk_ids_[path] = id;
  }
  for (const std::string& disk : options_.disks) {
    auto it = pdsk_ids_.find(disk);
    if (it == pdsk_ids_.end()) continue;
    PoolLabel label;
    st = pools_->ReadLabel(disk, &label);
    if (st.ok() && label.pdsk_id != it->second)
      st = Status::Error(EPROTO, disk + " is labelled " + FormatId("pdsk", label.pdsk_id) + ", recorded as " +
                                     FormatId("pdsk", it->second) + ": waiting for the manager");
    if (st.ok()) st = pools_->Open(disk, label);
    if (st.ok()) st = exports_->Export(it->second, disk);
    if (!st.ok()) VS_LOG_ERROR("disk %s not in service: %s", disk.c_str(), st.ToString().c_str());
  }
  return Status::OK();
}

Status Registration::SaveIds() {
  std::string text = "ssvr " + std::to_string(ssvr_id_) + "\n";
  for (const auto& d : pdsk_ids_) text += "pdsk " + std::to_string(d.second) + " " + d.first + "\n";
  return WriteStateFile(options_.ids_file, text, 0644);
}

Status Registration::Register() {
  std::map<std::string, xmlrpc_c::value> req{{"ip_data", StringsValue(options_.data_ips)},
                                             {"url", xmlrpc_c::value_string(options_.url)},
                                             {"reconnect", xmlrpc_c::value_boolean(true)}};
  if (!options_.domain.empty()) req["domain"] = xmlrpc_c::value_string(options_.domain);
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(link_->Call("registerStorageServer", req, &r));
  if (IdOf(r) != ssvr_id_ && ssvr_id_ != 0)
    VS_LOG_WARN("the manager gave this server %s; it was %s before", FormatId("ssvr", IdOf(r)).c_str(),
                FormatId("ssvr", ssvr_id_).c_str());
  ssvr_id_ = IdOf(r);
  std::string cluster;
  VS_RETURN_IF_ERROR(ClusterId(&cluster));
  for (const std::string& disk : options_.disks) {
    Status st = RegisterDisk(disk, cluster);
    if (!st.ok()) {
      // One bad disk must not keep the others out of service.
      VS_LOG_ERROR("disk %s not in service: %s", disk.c_str(), st.ToString().c_str());
      if (ManagerLink::Unreachable(st)) return st;
    }
  }
  VS_RETURN_IF_ERROR(SaveIds());
  VS_LOG_INFO("registered as %s with %zu disk(s)", FormatId("ssvr", ssvr_id_).c_str(), pdsk_ids_.size());
  return Status::OK();
}

// The label's cluster is checked against the one the manager made.
Status Registration::ClusterId(std::string* cluster) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(link_->Call("getClusterStatus", {}, &r));
  *cluster = StringMember(r, "cluster_id");
  if (cluster->empty())
    return Status::Error(EPROTO, "the manager's getClusterStatus has no cluster_id: it predates thin pools; "
                                 "upgrade the manager (no disk is put in service until then)");
  return Status::OK();
}

// A labelled disk registers under its label's id; a blank one without an
// id, and is formatted with the one it gets. capacity: the pool's data.
Status Registration::RegisterDisk(const std::string& disk, const std::string& cluster) {
  PoolLabel label;
  Status st = pools_->ReadLabel(disk, &label);
  const bool blank = st.code() == ENOENT;
  if (blank) st = pools_->Plan(disk, &label);
  else if (st.ok()) st = CheckPoolCluster(label, cluster, disk);
  VS_RETURN_IF_ERROR(st);
  std::map<std::string, xmlrpc_c::value> req{
      {"ssvrid", IntValue(ssvr_id_)},
      {"local_path", xmlrpc_c::value_string(disk)},
      {"capacity", xmlrpc_c::value_string(std::to_string(label.data_mib * 2048))},
      {"reconnect", xmlrpc_c::value_boolean(true)}};
  if (!blank) req["pdskid"] = IntValue(label.pdsk_id);
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(link_->Call("registerPhysicalDisk", req, &r));
  const int64_t id = IdOf(r);
  if (!blank && id != label.pdsk_id)
    return Status::Error(EPROTO, "the manager registered " + disk + " (labelled " + FormatId("pdsk", label.pdsk_id) +
                                     ") as " + FormatId("pdsk", id));
  if (blank) VS_RETURN_IF_ERROR(pools_->Format(disk, cluster, id, &label));
  VS_RETURN_IF_ERROR(pools_->Open(disk, label));
  pdsk_ids_[disk] = id;
  return exports_->Export(id, disk);
}

Status Registration::Beat() {
  std::vector<xmlrpc_c::value> pools;
  PoolUsageLook look;
  for (int64_t id : pools_->Opened()) {
    PoolUsage u;
    Status st = pools_->Usage(id, &u);
    if (!st.ok()) {
      VS_LOG_WARN("no usage of %s's pool in this heartbeat: %s", FormatId("pdsk", id).c_str(), st.ToString().c_str());
      continue;
    }
    look.pools[id] = u;
    pools.push_back(xmlrpc_c::value_struct({{"pdskid", IntValue(id)},
                                            {"data_used_mib", IntValue(static_cast<int64_t>(u.data_used_mib))},
                                            {"data_mib", IntValue(static_cast<int64_t>(u.data_mib))},
                                            {"meta_used_kib", IntValue(static_cast<int64_t>(u.meta_used_kib))},
                                            {"meta_kib", IntValue(static_cast<int64_t>(u.meta_kib))},
                                            {"mode", xmlrpc_c::value_string(u.mode)}}));
  }
  look.at_ms = SystemClock()->MonotonicMs();
  {
    std::lock_guard<std::mutex> lock(usage_mu_);
    last_usage_ = std::move(look);
  }
  xmlrpc_c::value r;
  return link_->Call(
      "heartbeat", {{"ssvrid", IntValue(ssvr_id_)}, {"pools", xmlrpc_c::value_array(pools)}, {"time", WallClockValue()}},
      &r);
}

PoolUsageLook Registration::LastUsage() const {
  std::lock_guard<std::mutex> lock(usage_mu_);
  return last_usage_;
}

}  // namespace vastsky
