#include "agents/head/assembly.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>

#include "agents/head/assembly_internal.h"
#include "agents/head/plan.h"
#include "lib/deadline.h"
#include "lib/ids.h"
#include "lib/iscsi_names.h"
#include "lib/log.h"
#include "lib/state_file.h"

namespace vastsky {

namespace {

using namespace assembly_internal;

// The lvol id a device name of ours belongs to; 0 if not ours.
int64_t LvolOfDm(const std::string& name) {
  if (name.compare(0, sizeof kPrefix - 1, kPrefix) != 0) return 0;
  size_t i = sizeof kPrefix - 1, j = i;
  while (j < name.size() && isdigit(static_cast<unsigned char>(name[j]))) ++j;
  if (j == i || j - i > 10 || (j < name.size() && name[j] != '-')) return 0;
  return std::stoll(name.substr(i, j - i));
}

bool Gone(const Status& st) { return st.code() == ENOENT || st.code() == ENXIO; }

// The devices a table line names, as the kernel prints them ("253:4"):
// paths of block devices are resolved; anything else stays as written
// (the simulated host keeps paths).
std::vector<std::string> DeviceTokens(const std::string& params, bool resolve) {
  std::vector<std::string> out;
  std::istringstream in(params);
  std::string tok;
  while (in >> tok) {
    struct stat st;
    if (tok[0] == '/') {
      if (resolve && stat(tok.c_str(), &st) == 0 && S_ISBLK(st.st_mode))
        tok = std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
      out.push_back(tok);
    } else if (tok.find(':') != std::string::npos && isdigit(static_cast<unsigned char>(tok[0]))) {
      out.push_back(tok);
    }
  }
  return out;
}

bool SameTable(const std::vector<DmTarget>& want, const std::vector<DmTarget>& have) {
  if (want.size() != have.size()) return false;
  for (size_t i = 0; i < want.size(); ++i)
    if (want[i].start != have[i].start || want[i].length != have[i].length || want[i].type != have[i].type ||
        DeviceTokens(want[i].params, true) != DeviceTokens(have[i].params, false))
      return false;
  return true;
}

// Creates the device (with access), or adopts it if it exists with this
// table (its mode is Reconcile's business).
Status EnsureDevice(DeviceMapper* dm, const std::string& name, const std::vector<DmTarget>& table,
                    DmAccess access = DmAccess::kReadWrite) {
  DmInfo info;
  VS_RETURN_IF_ERROR(dm->GetInfo(name, &info));
  if (!info.exists) return dm->Create(name, table, access);
  std::vector<DmTarget> have;
  VS_RETURN_IF_ERROR(dm->GetTable(name, &have));
  if (SameTable(table, have)) return Status::OK();
  return Status::Error(EEXIST, name + " exists with another table (" + (have.empty() ? "" : have[0].type + " " + have[0].params) + ")");
}

Status RemoveDevice(DeviceMapper* dm, const std::string& name) {
  Status st = dm->Remove(name);
  return Gone(st) ? Status::OK() : st;
}

// A reused chunk may still hold another mirror's dm-raid superblock, which
// dm-raid would believe; a fresh leg's metadata starts zeroed.
Status ZeroMeta(const std::string& path, int timeout_ms) {
  return RunWithDeadline(timeout_ms, "zeroing " + path, [path] {
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return Status::Error(errno, "cannot open " + path);
    const std::string zeros(kMetaSectors * 512, '\0');
    ssize_t n = pwrite(fd, zeros.data(), zeros.size(), 0);
    int err = n == static_cast<ssize_t>(zeros.size()) ? 0 : (n < 0 ? errno : EIO);
    if (err == 0 && fdatasync(fd) != 0) err = errno;
    close(fd);
    return err == 0 ? Status::OK() : Status::Error(err, "cannot zero " + path);
  });
}

// Logs in to the leg's disk at the first of its portals that answers.
Status LoginToDisk(IscsiInitiator* iscsi, const LegSpec& leg, const std::string& user, const std::string& secret) {
  Status st;
  for (const std::string& portal : leg.portals) {
    st = iscsi->Login({DiskIqn(leg.pdsk_id), portal, user, secret});
    if (st.ok()) break;
  }
  return st;
}

// The pdsk id in one of our target names; 0 if not ours.
int64_t PdskOfIqn(const std::string& iqn) {
  const std::string ours = DiskIqn(0);
  const size_t dash = ours.rfind('-');
  if (iqn.compare(0, dash + 1, ours, 0, dash + 1) != 0) return 0;
  return strtoll(iqn.c_str() + dash + 1, nullptr, 16);
}

// True if the first 4 KiB of a device read back, bypassing the page cache.
bool ReadsBack(const std::string& path, int timeout_ms) {
  return RunWithDeadline(timeout_ms, "reading " + path, [path] {
           int fd = open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
           if (fd < 0) return Status::Error(errno, "cannot open " + path);
           void* buf = nullptr;
           if (posix_memalign(&buf, 4096, 4096) != 0) {
             close(fd);
             return Status::Error(ENOMEM, "no memory");
           }
           const ssize_t n = pread(fd, buf, 4096, 0);
           const int err = n == 4096 ? 0 : (n < 0 ? errno : EIO);
           free(buf);
           close(fd);
           return err ? Status::Error(err, "cannot read " + path) : Status::OK();
         }).ok();
}

Status MakeLink(const std::string& link, const std::string& target) {
  char have[4096];
  ssize_t n = readlink(link.c_str(), have, sizeof have - 1);
  if (n >= 0 && std::string(have, static_cast<size_t>(n)) == target) return Status::OK();
  const std::string tmp = link + ".new";
  unlink(tmp.c_str());
  if (symlink(target.c_str(), tmp.c_str()) != 0) return Status::Error(errno, "cannot link " + tmp);
  if (rename(tmp.c_str(), link.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return Status::Error(err, "cannot link " + link);
  }
  return Status::OK();
}

Status RemoveLink(const std::string& link) {
  if (unlink(link.c_str()) != 0 && errno != ENOENT) return Status::Error(errno, "cannot remove " + link);
  return Status::OK();
}

// An attach replacing the record of a volume it could not re-assemble keeps
// what only this head knows of the legs: a poisoned leg is never taken back.
void KeepLegFlags(const VolumeSpec& had, VolumeSpec* spec) {
  std::map<int64_t, LegSpec> old;
  for (const MirrorSpec& m : had.mirrors)
    for (const LegSpec& l : m.legs) old[l.chunk_id] = l;
  for (MirrorSpec& m : spec->mirrors)
    for (LegSpec& l : m.legs) {
      auto it = old.find(l.chunk_id);
      if (it == old.end()) continue;
      l.trim = it->second.trim;
      l.poisoned = it->second.poisoned;
    }
}

}  // namespace

namespace assembly_internal {

void MarkWritten(MirrorSpec* m) {
  bool all_fresh = true;
  for (const LegSpec& l : m->legs) all_fresh = all_fresh && (l.missing() || l.fresh());
  for (LegSpec& l : m->legs)
    if (l.fresh()) {
      l.trim = !all_fresh && !l.missing();
      l.status = 2;
    }
}

}  // namespace assembly_internal

Assembly::Assembly(AssemblyOptions options, DeviceMapper* dm, IscsiInitiator* iscsi, LegMaps* leg_maps)
    : options_(std::move(options)),
      dm_(dm),
      iscsi_(iscsi),
      leg_maps_(leg_maps),
      clock_(options_.clock ? options_.clock : SystemClock()) {}

bool Assembly::DiskUsedByOthers(int64_t pdsk_id, int64_t lvol_id) const {
  for (const auto& r : records_) {
    if (r.first == lvol_id) continue;
    for (const MirrorSpec& m : r.second.spec.mirrors)
      for (const LegSpec& l : m.legs)
        if (l.pdsk_id == pdsk_id && !l.missing()) return true;
  }
  return false;
}

std::string Assembly::RaidParams(int64_t lvol, const MirrorSpec& m, bool resume) const {
  // Never-written legs hold nothing to copy: all fresh is nosync; fresh
  // beside written ones, and replacements (SPARE), are rebuilt from them.
  int fresh = 0, live = 0;
  std::string members, rebuild;
  int nrebuild = 0;
  for (size_t i = 0; i < m.legs.size(); ++i) {
    const LegSpec& leg = m.legs[i];
    if (leg.absent()) {
      members += " - -";
      continue;
    }
    ++live;
    if (leg.fresh()) ++fresh;
    if ((leg.fresh() || leg.rebuilding()) && !resume) {
      rebuild += " rebuild " + std::to_string(i);
      ++nrebuild;
    }
    members += " " + dm_->DevicePath(SliceDm(lvol, leg.chunk_id, "meta")) + " " +
               dm_->DevicePath(SliceDm(lvol, leg.chunk_id, "data"));
  }
  std::string flags = fresh == live ? " nosync" : rebuild;
  int nflags = 1 + (fresh == live ? 1 : 2 * nrebuild);
  if (rebuild_rate_kib_ > 0) {
    // md ignores the maximum while a recovery runs below its minimum (the
    // kernel-wide speed_limit_min when none is given), so both are set: a
    // quarter of the rate is kept even under VM load, the rest yields.
    const int floor_kib = std::min(rebuild_rate_kib_, std::max(1024, rebuild_rate_kib_ / 4));
    flags += " min_recovery_rate " + std::to_string(floor_kib) + " max_recovery_rate " +
             std::to_string(rebuild_rate_kib_);
    nflags += 4;
  }
  return "raid1 " + std::to_string(nflags) + " 0" + flags + " " + std::to_string(m.legs.size()) + members;
}

std::vector<Assembly::Node> Assembly::Nodes(const Record& record, bool attaching, const std::shared_ptr<Context>& ctx) {
  const VolumeSpec& spec = record.spec;
  const int64_t lvol = spec.lvol_id;
  DeviceMapper* dm = dm_;
  IscsiInitiator* iscsi = iscsi_;
  std::vector<Node> nodes;

  // Sessions: one per remote disk; another volume's session is shared, so
  // it is joined (Login finds it) and never logged out from here.
  std::map<int64_t, int> login;  // pdsk -> node
  for (const MirrorSpec& m : spec.mirrors)
    for (const LegSpec& leg : m.legs) {
      if (leg.missing() || login.count(leg.pdsk_id)) continue;
      const int64_t pdsk = leg.pdsk_id;
      const bool shared = DiskUsedByOthers(pdsk, lvol);
      Node n;
      n.name = "login " + DiskIqn(pdsk);
      n.up = [=] { return LoginToDisk(iscsi, leg, record.chap_user, record.chap_secret); };
      n.down = [=] { return shared || ctx->keep_sessions.count(pdsk) ? Status::OK() : iscsi->Logout(DiskIqn(pdsk)); };
      login[pdsk] = static_cast<int>(nodes.size());
      nodes.push_back(n);
    }

  std::vector<int> mirror_nodes;
  for (const MirrorSpec& m : spec.mirrors) {
    const uint64_t sectors = static_cast<uint64_t>(m.capacity_gib) * kSectorsPerGib;
    std::vector<int> raid_deps;
    for (size_t i = 0; i < m.legs.size(); ++i) {
      const LegSpec& leg = m.legs[i];
      if (leg.missing()) continue;
      const int64_t chunk = leg.chunk_id;
      const std::string iqn = DiskIqn(leg.pdsk_id), serial = LegSerial(chunk);
      // The leg's own LUN: found by serial once the session sees it, and
      // forgotten once its slices are gone, so an unmapped LUN leaves no
      // SCSI device behind.
      Node un{"LUN " + serial + " of " + iqn, {login[leg.pdsk_id]}, nullptr, nullptr};
      un.up = [=] {
        std::string lun;
        VS_RETURN_IF_ERROR(iscsi->LunDevice(iqn, serial, &lun));
        std::lock_guard<std::mutex> lock(ctx->mu);
        ctx->luns[chunk] = lun;
        return Status::OK();
      };
      un.down = [=] { return iscsi->ForgetLun(iqn, serial); };
      const int lun_node = static_cast<int>(nodes.size());
      nodes.push_back(un);
      const std::string meta = SliceDm(lvol, chunk, "meta"), data = SliceDm(lvol, chunk, "data");
      Node mn{"slice " + meta, {lun_node}, nullptr, nullptr};
      mn.up = [=] { return EnsureDevice(dm, meta, MetaTable(ctx->Lun(chunk))); };
      mn.down = [=] { return RemoveDevice(dm, meta); };
      raid_deps.push_back(static_cast<int>(nodes.size()));
      nodes.push_back(mn);
      if (attaching && (leg.fresh() || leg.rebuilding())) {
        const std::string path = dm->DevicePath(meta);
        const int timeout = options_.kernel_timeout_ms;
        Node zn{"zero " + meta, {raid_deps.back()}, [=] { return ZeroMeta(path, timeout); }, nullptr};
        raid_deps.push_back(static_cast<int>(nodes.size()));
        nodes.push_back(zn);
      }
      Node dn{"slice " + data, {lun_node}, nullptr, nullptr};
      dn.up = [=] { return EnsureDevice(dm, data, DataTable(ctx->Lun(chunk), sectors)); };
      dn.down = [=] { return RemoveDevice(dm, data); };
      raid_deps.push_back(static_cast<int>(nodes.size()));
      nodes.push_back(dn);
    }
    const std::string raid = MirrorDm(lvol, m.mirror_id);
    Node rn{"raid " + raid, raid_deps, nullptr, nullptr};
    rn.up = [=] {
      // A leg marked stale since it was last in this raid is rebuilt in full.
      MirrorSpec now = m;
      std::set<size_t> insync;
      for (size_t i = 0; i < now.legs.size(); ++i)
        if (!now.legs[i].absent() && now.legs[i].insync()) insync.insert(i);
      RebuildStaleLegs(lvol, insync, /*taking_back=*/false, &now);
      DmInfo info;
      VS_RETURN_IF_ERROR(dm->GetInfo(raid, &info));
      if (!info.exists) ResyncDirtyRegions(lvol, now);
      return EnsureDevice(dm, raid, {{0, sectors, "raid", RaidParams(lvol, now)}});
    };
    rn.down = [=] { return RemoveDevice(dm, raid); };
    mirror_nodes.push_back(static_cast<int>(nodes.size()));
    nodes.push_back(rn);
  }

  const std::vector<DmTarget> table = VolumeTable(spec);
  const std::string vol = VolumeDm(lvol);
  const DmAccess access = Access(spec);
  Node vn{"volume " + vol, mirror_nodes, [=] { return EnsureDevice(dm, vol, table, access); },
          [=] { return RemoveDevice(dm, vol); }};
  nodes.push_back(vn);
  const std::string link = LinkPath(spec.name), target = dm->DevicePath(vol), link_dir = options_.link_dir;
  Node ln{"link " + link, {static_cast<int>(nodes.size()) - 1}, nullptr, [=] { return RemoveLink(link); }};
  ln.up = [=] {
    VS_RETURN_IF_ERROR(MakeStateDir(link_dir));
    return MakeLink(link, target);
  };
  nodes.push_back(ln);
  return nodes;
}

std::vector<DmTarget> Assembly::VolumeTable(const VolumeSpec& spec) const {
  std::vector<DmTarget> table;
  for (const MirrorSpec& m : spec.mirrors)
    table.push_back({static_cast<uint64_t>(m.offset_gib) * kSectorsPerGib, static_cast<uint64_t>(m.capacity_gib) * kSectorsPerGib,
                     "linear", dm_->DevicePath(MirrorDm(spec.lvol_id, m.mirror_id)) + " 0"});
  return table;
}

// Attaching runs the nodes up in dependency order; detaching runs them
// down in the reverse order (each after everything that stood on it).
Status Assembly::Assemble(const Record& record, bool attaching) {
  auto ctx = std::make_shared<Context>();
  std::vector<Node> nodes = Nodes(record, attaching, ctx);
  Plan plan;
  if (attaching) {
    for (const Node& n : nodes) plan.Add(n.name, n.deps, n.up, n.down);
  } else {
    std::vector<std::vector<int>> dependents(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i)
      for (int d : nodes[i].deps) dependents[d].push_back(static_cast<int>(i));
    std::vector<int> id(nodes.size());
    for (size_t k = nodes.size(); k-- > 0;) {
      std::vector<int> deps;
      for (int d : dependents[k]) deps.push_back(id[d]);
      id[k] = plan.Add(nodes[k].name, deps, nodes[k].down, nodes[k].up);
    }
  }
  return plan.Run();
}

Status Assembly::SaveRecord(const Record& record) {
  VS_RETURN_IF_ERROR(MakeStateDir(options_.records_dir));
  return WriteStateFile(options_.records_dir + "/" + std::to_string(record.spec.lvol_id),
                        EncodeVolumeRecord(record.spec, record.chap_user, record.chap_secret), 0600);
}

Status Assembly::Attach(const VolumeSpec& spec, const std::string& chap_user, const std::string& chap_secret,
                        std::string* device) {
  std::lock_guard<std::mutex> lock(mu_);
  *device = LinkPath(spec.name);
  auto it = records_.find(spec.lvol_id);
  if (it != records_.end()) {
    if (!SameLayout(it->second.spec, spec))
      return Status::Error(EEXIST, FormatId("lvol", spec.lvol_id) + " is assembled here with another layout; detach it first");
    // Never switched under a VM: a snapshot made writable, or a disk in use made read-only.
    if (it->second.spec.read_only != spec.read_only)
      return Status::Error(EINVAL, FormatId("lvol", spec.lvol_id) + " is attached here " +
                                       (it->second.spec.read_only ? "read-only" : "writable") +
                                       "; detach it first to attach it " + (spec.read_only ? "read-only" : "writable"));
    DmInfo info;
    VS_RETURN_IF_ERROR(dm_->GetInfo(VolumeDm(spec.lvol_id), &info));
    // Whole already (a repeated call): never rebuild under a running VM.
    if (info.exists) return Status::OK();
  }
  Record record{spec, chap_user, chap_secret};
  if (it != records_.end()) KeepLegFlags(it->second.spec, &record.spec);
  Status st = Assemble(record, true);
  if (!st.ok()) {
    VS_LOG_ERROR("attach of %s ('%s') failed, nothing left behind: %s", FormatId("lvol", spec.lvol_id).c_str(),
                 spec.name.c_str(), st.ToString().c_str());
    return st;
  }
  for (MirrorSpec& m : record.spec.mirrors) MarkWritten(&m);
  records_[spec.lvol_id] = record;
  st = SaveRecord(record);
  if (!st.ok()) VS_LOG_ERROR("cannot record %s: %s; it will not be re-assembled after a reboot",
                             FormatId("lvol", spec.lvol_id).c_str(), st.ToString().c_str());
  VS_LOG_INFO("attached %s as %s (%zu mirrors)", FormatId("lvol", spec.lvol_id).c_str(), device->c_str(),
              spec.mirrors.size());
  return Status::OK();
}

Status Assembly::Detach(int64_t lvol_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(lvol_id);
  if (it == records_.end()) return RemoveLeftovers();
  VS_RETURN_IF_ERROR(RefuseFrozen(lvol_id, "detached"));
  DmInfo info;
  VS_RETURN_IF_ERROR(dm_->GetInfo(VolumeDm(lvol_id), &info));
  if (info.open_count > 0)
    return Status::Error(EBUSY, LinkPath(it->second.spec.name) + " is open (" + std::to_string(info.open_count) +
                                    " holders): stop what uses it first");
  VS_RETURN_IF_ERROR(Assemble(it->second, false));
  if (unlink((options_.records_dir + "/" + std::to_string(lvol_id)).c_str()) != 0 && errno != ENOENT)
    VS_LOG_ERROR("cannot remove the record of %s: %s", FormatId("lvol", lvol_id).c_str(), strerror(errno));
  VS_LOG_INFO("detached %s ('%s')", FormatId("lvol", lvol_id).c_str(), it->second.spec.name.c_str());
  records_.erase(it);
  return Status::OK();
}

// Devices of ours that no record claims are what a crash left of an
// attach in progress (the record is written last); sessions to VastSky
// disks that no record uses, likewise. Both go, unless in use.
Status Assembly::RemoveLeftovers() {
  std::vector<std::string> names;
  VS_RETURN_IF_ERROR(dm_->List(&names));
  // The volume first, then mirrors, then slices: each before what it holds.
  auto rank = [](const std::string& n) {
    return n.find("-c") != std::string::npos ? 2 : n.find("-m") != std::string::npos ? 1 : 0;
  };
  std::stable_sort(names.begin(), names.end(), [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
  for (const std::string& name : names) {
    const int64_t lvol = LvolOfDm(name);
    if (lvol == 0 || records_.count(lvol)) continue;
    Status st = RemoveDevice(dm_, name);
    if (st.ok()) VS_LOG_INFO("removed %s, left over from an interrupted attach", name.c_str());
    else VS_LOG_ERROR("cannot remove leftover %s: %s", name.c_str(), st.ToString().c_str());
  }
  std::set<std::string> needed;
  for (const auto& r : records_)
    for (const MirrorSpec& m : r.second.spec.mirrors)
      for (const LegSpec& l : m.legs) needed.insert(DiskIqn(l.pdsk_id));
  std::vector<IscsiSession> sessions;
  VS_RETURN_IF_ERROR(iscsi_->Sessions(&sessions));
  const std::string ours = DiskIqn(0).substr(0, DiskIqn(0).find(':') + 1);
  for (const IscsiSession& s : sessions) {
    if (s.iqn.compare(0, ours.size(), ours) != 0 || needed.count(s.iqn)) continue;
    Status st = iscsi_->Logout(s.iqn);
    if (st.ok()) VS_LOG_INFO("logged out of %s, which no attached volume uses", s.iqn.c_str());
    else VS_LOG_ERROR("cannot log out of %s: %s", s.iqn.c_str(), st.ToString().c_str());
  }
  return Status::OK();
}

Status Assembly::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  VS_RETURN_IF_ERROR(MakeStateDir(options_.records_dir));
  DIR* dir = opendir(options_.records_dir.c_str());
  if (!dir) return Status::Error(errno, "cannot read " + options_.records_dir);
  while (dirent* e = readdir(dir)) {
    const std::string file = e->d_name;
    if (file.empty() || file.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string text;
    Record r;
    Status st = ReadStateFile(options_.records_dir + "/" + file, &text);
    if (st.ok()) st = DecodeVolumeRecord(text, &r.spec, &r.chap_user, &r.chap_secret);
    if (!st.ok()) {
      VS_LOG_ERROR("ignoring volume record %s/%s: %s", options_.records_dir.c_str(), file.c_str(), st.ToString().c_str());
      continue;
    }
    records_[r.spec.lvol_id] = r;
  }
  closedir(dir);
  Status st = RemoveLeftovers();
  if (!st.ok()) VS_LOG_ERROR("cannot clear leftovers: %s", st.ToString().c_str());
  // A raid suspended by a trim that the agent's end interrupted.
  for (const auto& r : records_)
    for (const MirrorSpec& m : r.second.spec.mirrors) unresumed_.insert({r.first, m.mirror_id});
  RetryResumes();
  // A volume whose freeze the agent's end interrupted (its deadline went
  // with it): its raids were resumed just above, its top device now.
  for (const auto& r : records_) {
    DmInfo info;
    if (!dm_->GetInfo(VolumeDm(r.first), &info).ok() || !info.exists || !info.suspended) continue;
    st = dm_->Resume(VolumeDm(r.first));
    if (st.ok()) VS_LOG_WARN("%s was left frozen (the agent ended during a snapshot): resumed", VolumeDm(r.first).c_str());
    else VS_LOG_ERROR("%s stays suspended, its I/O waiting: resume failed: %s", VolumeDm(r.first).c_str(), st.ToString().c_str());
  }
  return Status::OK();
}

void Assembly::Reconcile() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& r : records_) {
    DmInfo info;
    Status st = dm_->GetInfo(VolumeDm(r.first), &info);
    if (Frozen(r.first)) continue;
    if (st.ok() && info.exists) {
      if (r.second.spec.read_only && !info.read_only) KeepReadOnly(r.second.spec);
      continue;
    }
    st = Assemble(r.second, true);
    if (st.ok()) VS_LOG_INFO("re-assembled %s as %s", FormatId("lvol", r.first).c_str(), LinkPath(r.second.spec.name).c_str());
    else VS_LOG_ERROR("cannot re-assemble %s yet: %s", FormatId("lvol", r.first).c_str(), st.ToString().c_str());
  }
}

void Assembly::KeepReadOnly(const VolumeSpec& spec) {
  const std::string vol = VolumeDm(spec.lvol_id);
  std::vector<DmTarget> table;
  Status st = dm_->GetTable(vol, &table);
  if (st.ok()) st = dm_->Replace(vol, table, DmAccess::kReadOnly);
  if (st.ok()) VS_LOG_WARN("%s ('%s') was writable, its volume is read-only: reloaded read-only", vol.c_str(), spec.name.c_str());
  else VS_LOG_ERROR("%s ('%s') is writable, its volume read-only: reload failed: %s; retried at the next look",
                    vol.c_str(), spec.name.c_str(), st.ToString().c_str());
}

Status Assembly::RemoveLeg(int64_t lvol, const LegSpec& leg) {
  VS_RETURN_IF_ERROR(RemoveDevice(dm_, SliceDm(lvol, leg.chunk_id, "meta")));
  VS_RETURN_IF_ERROR(RemoveDevice(dm_, SliceDm(lvol, leg.chunk_id, "data")));
  VS_RETURN_IF_ERROR(iscsi_->ForgetLun(DiskIqn(leg.pdsk_id), LegSerial(leg.chunk_id)));
  bool used = false;
  for (const auto& r : records_)
    for (const MirrorSpec& m : r.second.spec.mirrors)
      for (const LegSpec& l : m.legs) used = used || (l.pdsk_id == leg.pdsk_id && !l.missing());
  return used ? Status::OK() : iscsi_->Logout(DiskIqn(leg.pdsk_id));
}

Status Assembly::Rebuild(const VolumeSpec& spec, int64_t mirror_id, int rate_kib) {
  std::lock_guard<std::mutex> lock(mu_);
  auto rec = records_.find(spec.lvol_id);
  if (rec == records_.end()) return Status::Error(ENOENT, FormatId("lvol", spec.lvol_id) + " is not assembled here");
  const int64_t lvol = spec.lvol_id;
  VS_RETURN_IF_ERROR(RefuseFrozen(lvol, "rebuilt"));
  MirrorSpec* have = nullptr;
  const MirrorSpec* want = nullptr;
  for (MirrorSpec& m : rec->second.spec.mirrors)
    if (m.mirror_id == mirror_id) have = &m;
  for (const MirrorSpec& m : spec.mirrors)
    if (m.mirror_id == mirror_id) want = &m;
  if (!have || !want) return Status::Error(ENOENT, FormatId("mirr", mirror_id) + " is not part of " + FormatId("lvol", lvol));
  if (have->capacity_gib != want->capacity_gib)
    return Status::Error(EINVAL, FormatId("mirr", mirror_id) + ": a rebuild keeps the size of the legs");
  auto leg_of = [](const MirrorSpec& m, int64_t chunk) -> const LegSpec* {
    for (const LegSpec& l : m.legs)
      if (l.chunk_id == chunk) return &l;
    return nullptr;
  };
  // A recovery that has reached the end makes its legs in sync: a reload
  // must not name them for rebuild again (that would copy from 0).
  MarkRebuilt(lvol, have);
  // Legs are matched by chunk: the ones present on both sides stay (at
  // whatever position), the others are added (zeroed, rebuilt) or dropped.
  std::vector<size_t> changed;  // positions in want of the added legs
  bool reshaped = want->legs.size() != have->legs.size(), holds_data = false;
  for (size_t i = 0; i < want->legs.size(); ++i) {
    const LegSpec* h = leg_of(*have, want->legs[i].chunk_id);
    if (!h || h->missing() != want->legs[i].missing()) {
      changed.push_back(i);
      continue;
    }
    reshaped = reshaped || h != &have->legs[i];
    holds_data = holds_data || (!h->absent() && !h->rebuilding());
  }
  std::vector<LegSpec> dropped;
  for (const LegSpec& h : have->legs) {
    const LegSpec* w = leg_of(*want, h.chunk_id);
    if (!h.missing() && (!w || w->missing())) dropped.push_back(h);
  }
  if (changed.empty() && dropped.empty() && !reshaped) return Status::OK();  // a repeat, or the attach built it
  if (!holds_data)
    return Status::Error(EINVAL, FormatId("mirr", mirror_id) + ": the new legs must keep one leg that holds the data");

  const uint64_t sectors = static_cast<uint64_t>(want->capacity_gib) * kSectorsPerGib;
  std::vector<std::string> made;
  std::vector<const LegSpec*> found;  // new legs whose LUN this call found
  std::vector<int64_t> logged_in;
  auto undo = [&](const Status& why) {
    // What the undo cannot remove is left for Reconcile and named here.
    for (auto n = made.rbegin(); n != made.rend(); ++n) {
      Status left = RemoveDevice(dm_, *n);
      if (!left.ok()) VS_LOG_WARN("undo left device %s behind: %s", n->c_str(), left.ToString().c_str());
    }
    for (const LegSpec* leg : found) {
      Status left = iscsi_->ForgetLun(DiskIqn(leg->pdsk_id), LegSerial(leg->chunk_id));
      if (!left.ok()) VS_LOG_WARN("undo left the SCSI device of %s: %s", LegSerial(leg->chunk_id).c_str(), left.ToString().c_str());
    }
    for (int64_t pdsk : logged_in) {
      Status left = iscsi_->Logout(DiskIqn(pdsk));
      if (!left.ok()) VS_LOG_WARN("undo left the session to %s: %s", DiskIqn(pdsk).c_str(), left.ToString().c_str());
    }
    VS_LOG_ERROR("rebuild of %s failed, nothing changed: %s", FormatId("mirr", mirror_id).c_str(), why.ToString().c_str());
    return why;
  };
  std::set<int64_t> had_session;
  std::vector<IscsiSession> sessions;
  VS_RETURN_IF_ERROR(iscsi_->Sessions(&sessions));
  for (const IscsiSession& s : sessions) had_session.insert(PdskOfIqn(s.iqn));
  for (size_t i : changed) {
    const LegSpec& leg = want->legs[i];
    if (leg.missing()) continue;
    Status st = LoginToDisk(iscsi_, leg, rec->second.chap_user, rec->second.chap_secret);
    if (!st.ok()) return undo(st);
    if (!had_session.count(leg.pdsk_id) && had_session.insert(leg.pdsk_id).second) logged_in.push_back(leg.pdsk_id);
    std::string lun;
    st = iscsi_->LunDevice(DiskIqn(leg.pdsk_id), LegSerial(leg.chunk_id), &lun);
    if (!st.ok()) return undo(st);
    found.push_back(&leg);
    const std::string meta = SliceDm(lvol, leg.chunk_id, "meta"), data = SliceDm(lvol, leg.chunk_id, "data");
    st = EnsureDevice(dm_, meta, MetaTable(lun));
    if (!st.ok()) return undo(st);
    made.push_back(meta);
    st = EnsureDevice(dm_, data, DataTable(lun, sectors));
    if (!st.ok()) return undo(st);
    made.push_back(data);
    st = ZeroMeta(dm_->DevicePath(meta), options_.kernel_timeout_ms);
    if (!st.ok()) return undo(st);
  }
  MirrorSpec next = *want;
  // Kept legs keep what this head knows of them; added ones are rebuilt
  // (their metadata was just zeroed: never taken as in sync). A poisoned
  // leg stays out, even back from missing.
  for (LegSpec& leg : next.legs) {
    const LegSpec* h = leg_of(*have, leg.chunk_id);
    if (h && h->missing() == leg.missing()) {
      leg.status = h->status;
      leg.trim = h->trim;
    } else if (!leg.fresh()) {
      leg.status = 3;
    }
    leg.poisoned = h && h->poisoned;
  }
  if (rate_kib > 0) rebuild_rate_kib_ = rate_kib;
  const std::string raid = MirrorDm(lvol, mirror_id);
  Status st = dm_->Replace(raid, {{0, sectors, "raid", RaidParams(lvol, next)}});
  if (!st.ok()) return undo(st);
  *have = next;
  for (const LegSpec& leg : dropped) {
    Status rm = RemoveLeg(lvol, leg);
    if (!rm.ok())
      VS_LOG_WARN("old leg %s of %s not fully removed: %s", FormatId("dext", leg.chunk_id).c_str(),
                  FormatId("mirr", mirror_id).c_str(), rm.ToString().c_str());
  }
  st = SaveRecord(rec->second);
  if (!st.ok()) VS_LOG_ERROR("cannot record the new legs of %s: %s", FormatId("mirr", mirror_id).c_str(), st.ToString().c_str());
  VS_LOG_INFO("%s of %s: %zu leg(s) added and rebuilding, %zu dropped, %zu now", FormatId("mirr", mirror_id).c_str(),
              FormatId("lvol", lvol).c_str(), changed.size(), dropped.size(), next.legs.size());
  return Status::OK();
}

bool Assembly::MarkInSync(MirrorSpec* m) {
  bool marked = false;
  for (LegSpec& leg : m->legs)
    if (leg.rebuilding()) {
      leg.status = 2;
      leg.trim = true;  // dm raid copied every block into it, zeros too
      marked = true;
    }
  return marked;
}

bool Assembly::ReadRaidStatus(int64_t lvol, int64_t mirror_id, MirrorState* out) const {
  std::vector<DmTarget> status;
  if (!dm_->GetStatus(MirrorDm(lvol, mirror_id), &status).ok() || status.empty()) return false;
  std::istringstream in(status[0].params);
  std::string level, n;
  out->mirror_id = mirror_id;
  in >> level >> n >> out->health >> out->sync >> out->action;
  return true;
}

bool Assembly::Whole(const MirrorSpec& m, const MirrorState& s) {
  if (s.health.size() != m.legs.size() || s.action != "idle") return false;
  for (size_t i = 0; i < m.legs.size(); ++i)
    if (!m.legs[i].absent() && s.health[i] != 'A') return false;
  return true;
}

void Assembly::MarkRebuilt(int64_t lvol, MirrorSpec* m) {
  MirrorState s;
  if (ReadRaidStatus(lvol, m->mirror_id, &s) && Whole(*m, s)) MarkInSync(m);
}

Status Assembly::SetRebuildRate(int rate_kib) {
  std::lock_guard<std::mutex> lock(mu_);
  rebuild_rate_kib_ = rate_kib;
  Status first;
  int reloaded = 0;
  for (const auto& r : records_)
    for (const MirrorSpec& m : r.second.spec.mirrors) {
      MirrorState state;
      if (!ReadRaidStatus(r.first, m.mirror_id, &state) || (state.action != "recover" && state.action != "resync"))
        continue;
      if (Frozen(r.first)) {
        VS_LOG_WARN("%s is frozen: its recovery keeps its old rate until its next reload",
                    MirrorDm(r.first, m.mirror_id).c_str());
        continue;
      }
      Status st = ReloadRaid(r.first, m);
      if (st.ok()) {
        ++reloaded;
      } else {
        VS_LOG_ERROR("%s: new rebuild rate not applied: %s", MirrorDm(r.first, m.mirror_id).c_str(), st.ToString().c_str());
        if (first.ok()) first = st;
      }
    }
  VS_LOG_INFO("rebuild rate now %d KiB/s; %d running recover%s carry on at it", rate_kib, reloaded,
              reloaded == 1 ? "y" : "ies");
  return first;
}

Status Assembly::ReloadRaid(int64_t lvol, const MirrorSpec& m, bool resume) {
  const uint64_t sectors = static_cast<uint64_t>(m.capacity_gib) * kSectorsPerGib;
  return dm_->Replace(MirrorDm(lvol, m.mirror_id), {{0, sectors, "raid", RaidParams(lvol, m, resume)}});
}

bool Assembly::WatchMirror(int64_t lvol, MirrorSpec* m, int64_t now_ms, std::vector<int64_t>* dead_legs) {
  for (const LegSpec& leg : m->legs)
    if (leg.poisoned) dead_legs->push_back(leg.chunk_id);
  const std::string raid = MirrorDm(lvol, m->mirror_id);
  MirrorState state;
  if (!ReadRaidStatus(lvol, m->mirror_id, &state) || state.health.size() != m->legs.size()) return false;
  const std::string& health = state.health;
  bool dead = false;
  for (size_t i = 0; i < m->legs.size(); ++i) {
    if (m->legs[i].absent() || health[i] != 'D') continue;
    dead_legs->push_back(m->legs[i].chunk_id);
    dead = true;
  }
  const bool marked = Whole(*m, state) && MarkInSync(m);
  if (!dead || revive_after_ms_[m->mirror_id] > now_ms || Frozen(lvol)) return marked;
  // Reload only once every dead leg reads again: a reload onto a device
  // still failing would only fail it again.
  for (size_t i = 0; i < m->legs.size(); ++i)
    if (!m->legs[i].absent() && health[i] == 'D' &&
        !ReadsBack(dm_->DevicePath(SliceDm(lvol, m->legs[i].chunk_id, "data")), options_.kernel_timeout_ms))
      return marked;
  revive_after_ms_[m->mirror_id] = now_ms + 10000;
  MirrorSpec same = *m;
  std::set<size_t> back;
  for (size_t i = 0; i < same.legs.size(); ++i) {
    if (same.legs[i].fresh()) same.legs[i].status = 2;  // written since: never nosync again
    if (!same.legs[i].absent() && health[i] == 'D') back.insert(i);
  }
  RebuildStaleLegs(lvol, back, /*taking_back=*/true, &same);
  Status st = ReloadRaid(lvol, same, /*resume=*/false);
  if (!st.ok()) {
    VS_LOG_ERROR("%s: reload to take a leg back failed: %s", raid.c_str(), st.ToString().c_str());
    return marked;
  }
  VS_LOG_WARN("%s: a dead leg reads again; reloaded so it resyncs what changed (%s)", raid.c_str(), health.c_str());
  // The resync copies whole bitmap regions, zeros too: trimmed once whole.
  for (size_t i : back) {
    m->legs[i].trim = true;
    if (same.legs[i].rebuilding()) m->legs[i].status = 3;  // in sync once whole (MarkInSync)
  }
  return true;
}

std::vector<int64_t> Assembly::Watch() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> dead_legs;
  const int64_t now = clock_->MonotonicMs();
  RetryResumes();
  for (auto& r : records_) {
    bool dirty = false;
    for (MirrorSpec& m : r.second.spec.mirrors) dirty = WatchMirror(r.first, &m, now, &dead_legs) || dirty;
    if (dirty) {
      Status st = SaveRecord(r.second);
      if (!st.ok()) VS_LOG_ERROR("cannot record %s: %s", FormatId("lvol", r.first).c_str(), st.ToString().c_str());
    }
  }
  const int64_t poisoned = TrimOne(now);
  if (poisoned != 0) dead_legs.push_back(poisoned);
  return dead_legs;
}

Status Assembly::FindAssembled(int64_t lvol, Record** rec) {
  auto it = records_.find(lvol);
  if (it == records_.end()) return Status::Error(ENOENT, FormatId("lvol", lvol) + " is not attached here");
  DmInfo info;
  VS_RETURN_IF_ERROR(dm_->GetInfo(VolumeDm(lvol), &info));
  if (!info.exists)
    return Status::Error(ENOENT, FormatId("lvol", lvol) + " is recorded but not assembled (its re-assembly is pending)");
  *rec = &it->second;
  return Status::OK();
}

Status Assembly::RefuseFrozen(int64_t lvol, const char* what) const {
  if (!Frozen(lvol)) return Status::OK();
  return Status::Error(EBUSY, FormatId("lvol", lvol) + " is frozen for a snapshot: it is " + what +
                                  " once thawed (" + std::to_string(kFreezeMaxMs / 1000) + " s at most)");
}

Status Assembly::Freeze(int64_t lvol_id, int timeout_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!options_.freezer) return Status::Error(EOPNOTSUPP, "this head agent freezes no volume");
  Record* rec;
  VS_RETURN_IF_ERROR(FindAssembled(lvol_id, &rec));
  // Top first: once it holds new I/O, the raids below see none arrive.
  std::vector<std::string> devices{VolumeDm(lvol_id)};
  for (const MirrorSpec& m : rec->spec.mirrors) devices.push_back(MirrorDm(lvol_id, m.mirror_id));
  return options_.freezer->Freeze(lvol_id, devices, timeout_ms);
}

Status Assembly::List(std::vector<VolumeState>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& r : records_) {
    VolumeState v;
    v.lvol_id = r.first;
    v.name = r.second.spec.name;
    v.device = LinkPath(v.name);
    DmInfo info;
    VS_RETURN_IF_ERROR(dm_->GetInfo(VolumeDm(r.first), &info));
    v.assembled = info.exists;
    v.open = info.open_count > 0;
    v.read_only = v.assembled ? info.read_only : r.second.spec.read_only;
    std::vector<DmTarget> table;
    if (v.assembled && dm_->GetTable(VolumeDm(r.first), &table).ok())
      for (const DmTarget& t : table) v.capacity_gib += static_cast<int64_t>(t.length / kSectorsPerGib);
    v.io_known = v.assembled && dm_->GetIoStats(VolumeDm(r.first), &v.io).ok();
    for (const MirrorSpec& m : r.second.spec.mirrors) {
      MirrorState ms;
      ms.mirror_id = m.mirror_id;
      if (v.assembled) ReadRaidStatus(r.first, m.mirror_id, &ms);
      v.mirrors.push_back(ms);
    }
    out->push_back(v);
  }
  return Status::OK();
}

}  // namespace vastsky
