#include "agents/storage/exports.h"

#include <algorithm>
#include <cerrno>
#include <set>
#include <sstream>

#include "lib/ids.h"
#include "lib/log.h"
#include "lib/state_file.h"

namespace vastsky {

namespace {

std::string LegName(int64_t pdsk_id, const Leg& leg) {
  return FormatId("dext", leg.chunk_id) + " (thin " + std::to_string(leg.thin_id) + " of " +
         FormatId("pdsk", pdsk_id) + ")";
}

}  // namespace

Exports::Exports(std::unique_ptr<IscsiTarget> target, std::shared_ptr<LegDevices> devices,
                 std::vector<std::string> portals, std::string state_dir)
    : target_(std::move(target)),
      devices_(std::move(devices)),
      portals_(std::move(portals)),
      acl_file_(state_dir + "/acls"),
      leg_file_(state_dir + "/legs") {}

// acls: "<pdskid> <initiator> <chap_user> <chap_secret> [<mapped chunk id> ...]"
// (mode 0600: it holds CHAP secrets). legs: "<pdskid> <chunk id> <thin id>
// <size MiB> <LUN number>" (a line without the number, from before numbers
// were kept, gets the one the kernel has or a new one at Export).
Status Exports::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string text;
  Status st = ReadStateFile(acl_file_, &text);
  if (!st.ok() && st.code() != ENOENT) return st;
  std::istringstream acls(st.ok() ? text : "");
  for (std::string line; std::getline(acls, line);) {
    std::istringstream f(line);
    int64_t id;
    Acl acl;
    if (!(f >> id >> acl.access.initiator >> acl.access.chap_user >> acl.access.chap_secret)) continue;
    for (int64_t chunk; f >> chunk;) acl.chunks.push_back(chunk);
    acls_[id][acl.access.initiator] = acl;
  }
  st = ReadStateFile(leg_file_, &text);
  if (st.code() == ENOENT) return Status::OK();
  VS_RETURN_IF_ERROR(st);
  std::istringstream legs(text);
  for (std::string line; std::getline(legs, line);) {
    std::istringstream f(line);
    int64_t id;
    Leg leg;
    if (!(f >> id >> leg.chunk_id >> leg.thin_id >> leg.size_mib)) continue;
    if (!(f >> leg.lun) || leg.lun < 0) leg.lun = -1;
    legs_[id][leg.chunk_id] = leg;
  }
  return Status::OK();
}

Status Exports::SaveAcls() {
  std::string text;
  for (const auto& disk : acls_)
    for (const auto& a : disk.second) {
      text += std::to_string(disk.first) + " " + a.first + " " + a.second.access.chap_user + " " +
              a.second.access.chap_secret;
      for (int64_t chunk : a.second.chunks) text += " " + std::to_string(chunk);
      text += "\n";
    }
  return WriteStateFile(acl_file_, text, 0600);
}

Status Exports::SaveLegs() {
  std::string text;
  for (const auto& disk : legs_)
    for (const auto& l : disk.second)
      text += std::to_string(disk.first) + " " + std::to_string(l.first) + " " + std::to_string(l.second.thin_id) +
              " " + std::to_string(l.second.size_mib) + (l.second.lun < 0 ? "" : " " + std::to_string(l.second.lun)) +
              "\n";
  return WriteStateFile(leg_file_, text, 0600);
}

Status Exports::CheckExported(int64_t pdsk_id) const {
  if (!disks_.count(pdsk_id)) return Status::Error(ENOENT, FormatId("pdsk", pdsk_id) + " is not exported here");
  return Status::OK();
}

int Exports::FreeLun(int64_t pdsk_id) const {
  std::set<int> used;
  auto disk = legs_.find(pdsk_id);
  if (disk != legs_.end())
    for (const auto& l : disk->second) used.insert(l.second.lun);
  int n = kFirstLegLun;
  while (used.count(n)) ++n;
  return n;
}

Status Exports::AddLeg(int64_t pdsk_id, const Leg& leg) {
  std::string device;
  Status st = devices_->Provide(pdsk_id, leg.thin_id, leg.size_mib, leg.create, &device);
  // A recorded leg whose thin device is gone keeps its record (its LUN
  // number stays taken) but is no longer listed: that is how the manager
  // tells which leg of an ENOENT grant is lost.
  if (st.code() == ENOENT && !leg.create) absent_.insert({pdsk_id, leg.chunk_id});
  if (!st.ok()) return Status::Error(st.code(), LegName(pdsk_id, leg) + ": " + st.message());
  absent_.erase({pdsk_id, leg.chunk_id});
  // Recorded once the thin device exists, so a reboot provides it again,
  // and with its LUN number before the LUN exists, so no crash can leave a
  // LUN whose number is not on disk.
  std::map<int64_t, Leg>& disk = legs_[pdsk_id];
  const bool fresh = !disk.count(leg.chunk_id);
  Leg& known = disk[leg.chunk_id];
  if (fresh) known.lun = FreeLun(pdsk_id);
  if (fresh || known.thin_id != leg.thin_id || known.size_mib != leg.size_mib) {
    known = Leg{leg.chunk_id, leg.thin_id, leg.size_mib, false, known.lun};
    VS_RETURN_IF_ERROR(SaveLegs());
  }
  // A line from before numbers were kept: a free number, or the one the
  // kernel has it at already (kept from now on) unless another leg has
  // that one recorded.
  LunSpec spec{LegSerial(leg.chunk_id), device, known.lun >= 0 ? known.lun : FreeLun(pdsk_id)};
  int lun = -1;
  st = target_->AddLun(DiskIqn(pdsk_id), spec, &lun);
  if (st.code() == EEXIST && known.lun < 0) {
    spec.lun = -1;
    st = target_->AddLun(DiskIqn(pdsk_id), spec, &lun);
  }
  if (!st.ok()) return Status::Error(st.code(), LegName(pdsk_id, leg) + ": " + st.message());
  if (known.lun == lun) return Status::OK();
  for (const auto& l : disk)
    if (l.second.lun == lun)
      return Status::Error(EEXIST, LegName(pdsk_id, leg) + ": the kernel has it at LUN " + std::to_string(lun) +
                                       ", recorded for " + FormatId("dext", l.first));
  known.lun = lun;
  return SaveLegs();
}

Status Exports::ApplyAcl(int64_t pdsk_id, const Acl& acl) {
  const std::string iqn = DiskIqn(pdsk_id);
  VS_RETURN_IF_ERROR(target_->Allow(iqn, acl.access));
  std::vector<std::string> serials;
  for (int64_t chunk : acl.chunks) serials.push_back(LegSerial(chunk));
  return target_->Map(iqn, acl.access.initiator, serials);
}

Status Exports::Export(int64_t pdsk_id, const std::string& device) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = disks_.begin(); it != disks_.end();) {
    if (it->second == device && it->first != pdsk_id) {
      VS_LOG_WARN("%s was pdsk %lld and is now pdsk %lld; removing the old target", device.c_str(),
                  static_cast<long long>(it->first), static_cast<long long>(pdsk_id));
      VS_RETURN_IF_ERROR(target_->Unexport(DiskIqn(it->first)));
      acls_.erase(it->first);
      legs_.erase(it->first);
      VS_RETURN_IF_ERROR(SaveAcls());
      VS_RETURN_IF_ERROR(SaveLegs());
      it = disks_.erase(it);
    } else {
      ++it;
    }
  }
  TargetSpec spec{DiskIqn(pdsk_id), {}};
  for (const std::string& ip : portals_) spec.portals.push_back(IscsiPortal(ip));
  VS_RETURN_IF_ERROR(target_->Export(spec));
  disks_[pdsk_id] = device;
  std::set<int64_t> missing;
  const std::map<int64_t, Leg> legs = legs_[pdsk_id];
  for (const auto& l : legs) {
    Status st = AddLeg(pdsk_id, l.second);
    if (st.ok()) continue;
    missing.insert(l.first);
    if (st.code() == EEXIST)  // the kernel has its LUN, or its number, otherwise than recorded
      VS_LOG_ERROR("leg %s left unexported and unmapped: %s; its LUN is never renumbered, since a head whose "
                   "session recovers keeps its disks by LUN number and would use another leg's data; compare "
                   "the target's LUNs (targetcli ls) with %s before acting",
                   LegName(pdsk_id, l.second).c_str(), st.ToString().c_str(), leg_file_.c_str());
    else
      VS_LOG_ERROR("cannot export leg %s: %s; heads granted it will not see it until the manager resolves it",
                   LegName(pdsk_id, l.second).c_str(), st.ToString().c_str());
  }
  for (const auto& a : acls_[pdsk_id]) {
    Acl present = a.second;
    present.chunks.erase(std::remove_if(present.chunks.begin(), present.chunks.end(),
                                        [&](int64_t c) { return missing.count(c) > 0 || !legs.count(c); }),
                         present.chunks.end());
    VS_RETURN_IF_ERROR(ApplyAcl(pdsk_id, present));
  }
  VS_LOG_INFO("exporting %s as %s: %zu leg(s), %zu allowed initiator(s)", device.c_str(), spec.iqn.c_str(),
              legs.size() - missing.size(), acls_[pdsk_id].size());
  return Status::OK();
}

Status Exports::CheckThinIds(int64_t pdsk_id, const std::vector<Leg>& legs) {
  for (const Leg& leg : legs) {
    auto known = legs_[pdsk_id].find(leg.chunk_id);
    if (known != legs_[pdsk_id].end() && known->second.thin_id != leg.thin_id)
      return Status::Error(EEXIST, FormatId("dext", leg.chunk_id) + " is thin " +
                                       std::to_string(known->second.thin_id) + " here, not " +
                                       std::to_string(leg.thin_id));
  }
  return Status::OK();
}

Status Exports::RecordLegs(int64_t pdsk_id, const std::vector<Leg>& legs) {
  std::lock_guard<std::mutex> lock(mu_);
  VS_RETURN_IF_ERROR(CheckExported(pdsk_id));
  VS_RETURN_IF_ERROR(CheckThinIds(pdsk_id, legs));
  bool fresh = false;
  for (const Leg& leg : legs) {
    if (legs_[pdsk_id].count(leg.chunk_id)) continue;
    legs_[pdsk_id][leg.chunk_id] = Leg{leg.chunk_id, leg.thin_id, leg.size_mib, false, FreeLun(pdsk_id)};
    absent_.erase({pdsk_id, leg.chunk_id});
    fresh = true;
  }
  return fresh ? SaveLegs() : Status::OK();
}

Status Exports::Allow(int64_t pdsk_id, const InitiatorAccess& access, const std::vector<Leg>& legs) {
  std::lock_guard<std::mutex> lock(mu_);
  VS_RETURN_IF_ERROR(CheckExported(pdsk_id));
  VS_RETURN_IF_ERROR(CheckThinIds(pdsk_id, legs));
  for (const Leg& leg : legs) VS_RETURN_IF_ERROR(AddLeg(pdsk_id, leg));
  Acl acl{access, {}};
  for (const Leg& leg : legs) acl.chunks.push_back(leg.chunk_id);
  // Persist first: if the target step fails, a restart re-applies it.
  acls_[pdsk_id][access.initiator] = acl;
  VS_RETURN_IF_ERROR(SaveAcls());
  return ApplyAcl(pdsk_id, acl);
}

Status Exports::Revoke(int64_t pdsk_id, const std::string& initiator) {
  std::lock_guard<std::mutex> lock(mu_);
  VS_RETURN_IF_ERROR(CheckExported(pdsk_id));
  // Revoke on the target first, then persist, and only then answer: a
  // fence must not be undone by a restart. The file is written even when
  // acls_ no longer has the initiator (it was only in the kernel, or an
  // earlier revoke's write failed and this is the manager's retry): only a
  // successful write says the file lacks it too.
  VS_RETURN_IF_ERROR(target_->Revoke(DiskIqn(pdsk_id), initiator));
  acls_[pdsk_id].erase(initiator);
  return SaveAcls();
}

Status Exports::DeleteLegs(int64_t pdsk_id, const std::vector<Leg>& legs) {
  std::lock_guard<std::mutex> lock(mu_);
  VS_RETURN_IF_ERROR(CheckExported(pdsk_id));
  // The same order as a revoke: out of the kernel, then out of the ACL file
  // (a restart must not map it again), and only then the space is freed.
  for (const Leg& leg : legs) VS_RETURN_IF_ERROR(target_->RemoveLun(DiskIqn(pdsk_id), LegSerial(leg.chunk_id)));
  for (auto& a : acls_[pdsk_id]) {
    std::vector<int64_t>& chunks = a.second.chunks;
    for (const Leg& leg : legs) chunks.erase(std::remove(chunks.begin(), chunks.end(), leg.chunk_id), chunks.end());
  }
  VS_RETURN_IF_ERROR(SaveAcls());
  Status st;
  for (const Leg& leg : legs) {
    st = devices_->Delete(pdsk_id, leg.thin_id);
    if (!st.ok()) {
      st = Status::Error(st.code(), LegName(pdsk_id, leg) + ": " + st.message());
      break;
    }
    auto known = legs_[pdsk_id].find(leg.chunk_id);
    if (known != legs_[pdsk_id].end() && known->second.thin_id == leg.thin_id) legs_[pdsk_id].erase(known);
  }
  Status saved = SaveLegs();
  VS_RETURN_IF_ERROR(st);
  return saved;
}

Status Exports::Withdraw(int64_t pdsk_id, std::string* device) {
  std::lock_guard<std::mutex> lock(mu_);
  VS_RETURN_IF_ERROR(CheckExported(pdsk_id));
  for (const auto& l : legs_[pdsk_id])
    VS_RETURN_IF_ERROR(target_->RemoveLun(DiskIqn(pdsk_id), LegSerial(l.first)));
  *device = disks_[pdsk_id];
  VS_LOG_INFO("withdrew the %zu leg LUN(s) of %s; heads lose them until the disk is exported again",
              legs_[pdsk_id].size(), FormatId("pdsk", pdsk_id).c_str());
  return Status::OK();
}

Status Exports::List(std::vector<ExportInfo>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<TargetInfo> targets;
  VS_RETURN_IF_ERROR(target_->List(&targets));
  std::map<std::string, const TargetInfo*> by_iqn;
  for (const TargetInfo& t : targets) by_iqn[t.iqn] = &t;
  for (const auto& d : disks_) {
    ExportInfo e;
    e.pdsk_id = d.first;
    e.iqn = DiskIqn(d.first);
    e.device = d.second;
    for (const auto& l : legs_[d.first])
      if (!absent_.count({d.first, l.first})) e.legs.push_back(l.second);
    auto it = by_iqn.find(e.iqn);
    // The kernel's view, not ours: an ACL or a map lost there shows as missing.
    if (it != by_iqn.end())
      for (const InitiatorInfo& i : it->second->initiators) {
        e.initiators.push_back(i.initiator);
        std::vector<int64_t>& chunks = e.maps[i.initiator];
        int64_t chunk;
        for (const std::string& serial : i.serials)
          if (ParseLegSerial(serial, &chunk)) chunks.push_back(chunk);
      }
    out->push_back(e);
  }
  return Status::OK();
}

}  // namespace vastsky
