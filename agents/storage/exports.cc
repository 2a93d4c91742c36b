#include "agents/storage/exports.h"

#include <cerrno>
#include <sstream>

#include "lib/ids.h"
#include "lib/log.h"
#include "lib/state_file.h"

namespace vastsky {

Exports::Exports(std::unique_ptr<IscsiTarget> target, std::vector<std::string> portals, std::string acl_file)
    : target_(std::move(target)), portals_(std::move(portals)), acl_file_(std::move(acl_file)) {}

// Line format: "<pdskid> <initiator> <chap_user> <chap_secret>" (mode 0600:
// it holds CHAP secrets).
Status Exports::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string text;
  Status st = ReadStateFile(acl_file_, &text);
  if (st.code() == ENOENT) return Status::OK();
  VS_RETURN_IF_ERROR(st);
  std::istringstream in(text);
  int64_t id;
  std::string initiator, user, secret;
  while (in >> id >> initiator >> user >> secret) acls_[id][initiator] = InitiatorAccess{initiator, user, secret};
  return Status::OK();
}

Status Exports::SaveAcls() {
  std::string text;
  for (const auto& disk : acls_)
    for (const auto& a : disk.second)
      text += std::to_string(disk.first) + " " + a.first + " " + a.second.chap_user + " " + a.second.chap_secret + "\n";
  return WriteStateFile(acl_file_, text, 0600);
}

Status Exports::Export(int64_t pdsk_id, const std::string& device) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = devices_.begin(); it != devices_.end();) {
    if (it->second == device && it->first != pdsk_id) {
      VS_LOG_WARN("%s was pdsk %lld and is now pdsk %lld; removing the old target", device.c_str(),
                  static_cast<long long>(it->first), static_cast<long long>(pdsk_id));
      VS_RETURN_IF_ERROR(target_->Unexport(DiskIqn(it->first)));
      acls_.erase(it->first);
      VS_RETURN_IF_ERROR(SaveAcls());
      it = devices_.erase(it);
    } else {
      ++it;
    }
  }
  TargetSpec spec{DiskIqn(pdsk_id), device, FormatId("pdsk", pdsk_id), {}};
  for (const std::string& ip : portals_)
    spec.portals.push_back(ip.find(':') != std::string::npos ? "[" + ip + "]:3260" : ip + ":3260");
  VS_RETURN_IF_ERROR(target_->Export(spec));
  devices_[pdsk_id] = device;
  for (const auto& a : acls_[pdsk_id]) VS_RETURN_IF_ERROR(target_->Allow(spec.iqn, a.second));
  VS_LOG_INFO("exporting %s as %s with %zu allowed initiator(s)", device.c_str(), spec.iqn.c_str(),
              acls_[pdsk_id].size());
  return Status::OK();
}

Status Exports::Allow(int64_t pdsk_id, const InitiatorAccess& access) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!devices_.count(pdsk_id)) return Status::Error(ENOENT, FormatId("pdsk", pdsk_id) + " is not exported here");
  // Persist first: if the target step fails, a restart re-applies it.
  acls_[pdsk_id][access.initiator] = access;
  VS_RETURN_IF_ERROR(SaveAcls());
  return target_->Allow(DiskIqn(pdsk_id), access);
}

Status Exports::Revoke(int64_t pdsk_id, const std::string& initiator) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!devices_.count(pdsk_id)) return Status::Error(ENOENT, FormatId("pdsk", pdsk_id) + " is not exported here");
  // Revoke on the target first, then persist, and only then answer: a
  // fence must not be undone by a restart. The file is written even when
  // acls_ no longer has the initiator (it was only in the kernel, or an
  // earlier revoke's write failed and this is the manager's retry): only a
  // successful write says the file lacks it too.
  VS_RETURN_IF_ERROR(target_->Revoke(DiskIqn(pdsk_id), initiator));
  acls_[pdsk_id].erase(initiator);
  return SaveAcls();
}

Status Exports::List(std::vector<ExportInfo>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<TargetInfo> targets;
  VS_RETURN_IF_ERROR(target_->List(&targets));
  std::map<std::string, const TargetInfo*> by_iqn;
  for (const TargetInfo& t : targets) by_iqn[t.iqn] = &t;
  for (const auto& d : devices_) {
    ExportInfo e{d.first, DiskIqn(d.first), d.second, {}};
    auto it = by_iqn.find(e.iqn);
    // The kernel's view, not ours: an ACL lost there shows as missing.
    if (it != by_iqn.end()) e.initiators = it->second->initiators;
    out->push_back(e);
  }
  return Status::OK();
}

}  // namespace vastsky
