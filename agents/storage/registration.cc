#include "agents/storage/registration.h"

#include <cerrno>
#include <sstream>

#include "agents/host/disk_size.h"
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

Registration::Registration(RegistrationOptions options, ManagerLink* link, Exports* exports)
    : options_(std::move(options)), link_(link), exports_(exports) {}

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
    st = exports_->Export(it->second, disk);
    if (!st.ok()) VS_LOG_ERROR("cannot export %s: %s", disk.c_str(), st.ToString().c_str());
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
  for (const std::string& disk : options_.disks) {
    int64_t sectors;
    Status st = DiskSectors(disk, &sectors);
    if (st.ok())
      st = link_->Call("registerPhysicalDisk",
                       {{"ssvrid", xmlrpc_c::value_int(static_cast<int>(ssvr_id_))},
                        {"local_path", xmlrpc_c::value_string(disk)},
                        {"capacity", xmlrpc_c::value_string(std::to_string(sectors))},
                        {"reconnect", xmlrpc_c::value_boolean(true)}},
                       &r);
    if (st.ok()) {
      pdsk_ids_[disk] = IdOf(r);
      st = exports_->Export(IdOf(r), disk);
    }
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

Status Registration::Beat() {
  xmlrpc_c::value r;
  return link_->Call("heartbeat", {{"ssvrid", xmlrpc_c::value_int(static_cast<int>(ssvr_id_))}}, &r);
}

}  // namespace vastsky
