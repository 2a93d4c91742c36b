// IscsiTarget over kernel LIO's configfs tree. The layout, per disk:
//   iscsi/<iqn>/tpgt_1/np/<ip:port>
//   core/iblock_0/vastsky-<serial>   backstore per leg (fileio_0 for a
//                                    regular file); wwn/vpd_unit_serial,
//                                    attrib/emulate_tpu = 1 (UNMAP)
//   iscsi/<iqn>/tpgt_1/lun/lun_<k>/vastsky-<serial> -> the backstore
//                                    (k: the caller's, recorded for the life
//                                    of the leg; else the smallest free)
//   iscsi/<iqn>/tpgt_1/acls/<initiator>/lun_<k>/lun -> .../lun/lun_<k>
//                                    (mapped at the target number: LIO allows
//                                    sparse mapped LUNs, Linux finds them by
//                                    REPORT LUNS), auth/*
// with generate_node_acls=0 and authentication=1: only listed initiators
// with the right CHAP secret log in, and each sees only its mapped LUNs.
// configfs is global across network namespaces; a portal listens in the
// namespace of the process creating it.
//
// Scale: a disk may have thousands of LUNs, and each configfs access costs
// (0.36 s a LUN from a shell loop under TCG). So the LUN numbers and maps
// of each target are read once into an index kept beside the kernel (this
// process is the only writer), and a call writes only what is missing. An
// error drops the target's index: the next call reads configfs again.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "agents/host/iscsi_target.h"
#include "lib/log.h"
#include "lib/state_file.h"

namespace vastsky {

namespace {

bool Exists(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0;
}

bool IsSymlink(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

Status Mkdir(const std::string& p) {
  if (mkdir(p.c_str(), 0755) == 0 || errno == EEXIST) return Status::OK();
  return Status::Error(errno, "mkdir " + p + ": " + strerror(errno));
}

Status Rmdir(const std::string& p) {
  if (rmdir(p.c_str()) == 0 || errno == ENOENT) return Status::OK();
  return Status::Error(errno, "rmdir " + p + ": " + strerror(errno));
}

Status Unlink(const std::string& p) {
  if (unlink(p.c_str()) == 0 || errno == ENOENT) return Status::OK();
  return Status::Error(errno, "unlink " + p + ": " + strerror(errno));
}

Status Symlink(const std::string& target, const std::string& link) {
  if (symlink(target.c_str(), link.c_str()) == 0 || errno == EEXIST) return Status::OK();
  return Status::Error(errno, "symlink " + link + ": " + strerror(errno));
}

// configfs attributes take one write(2) each; a stream with buffering would
// split or merge them.
Status Write(const std::string& p, const std::string& value) {
  FILE* f = fopen(p.c_str(), "w");
  if (!f) return Status::Error(errno, "open " + p + ": " + strerror(errno));
  int rc = fputs(value.c_str(), f);
  int err = errno;
  if (fclose(f) != 0 && rc >= 0) {
    rc = -1;
    err = errno;
  }
  if (rc < 0) return Status::Error(err ? err : EIO, "write '" + value + "' to " + p + ": " + strerror(err));
  return Status::OK();
}

std::string Read(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A read costs less than a write, which may do real work in the kernel.
Status WriteIfDiffers(const std::string& p, const std::string& value) {
  if (Read(p) == value) return Status::OK();
  return Write(p, value);
}

std::vector<std::string> Entries(const std::string& dir) { return DirEntries(dir); }

// The backstore and target-LUN link name of a LUN: "vastsky-leg-0000002a".
const char kStorePrefix[] = "vastsky-";
std::string StoreName(const std::string& serial) { return kStorePrefix + serial; }

// The number N of a configfs entry "lun_N"; -1 for anything else.
int LunNumber(const std::string& name) {
  if (name.compare(0, 4, "lun_") != 0 || name.size() == 4 || name.size() > 10) return -1;
  if (name.find_first_not_of("0123456789", 4) != std::string::npos) return -1;
  return std::stoi(name.substr(4));
}

std::string ReadLink(const std::string& p) {
  char buf[4096];
  ssize_t n = readlink(p.c_str(), buf, sizeof buf - 1);
  return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

bool IsBlockDevice(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
}

template <typename Map>
int SmallestFree(const Map& used) {
  int n = kFirstLegLun;
  while (used.count(n)) ++n;
  return n;
}

// One target's LUNs and maps, as configfs has them.
struct TpgIndex {
  std::map<int, std::string> serial_at;                // target LUN k -> serial ("" if half made)
  std::map<std::string, int> lun_of;                   // serial -> k
  std::map<std::string, std::map<int, int>> maps;      // initiator -> mapped LUN j -> k
};

class LioTarget : public IscsiTarget {
 public:
  explicit LioTarget(std::string root) : root_(std::move(root)) {}

  Status Export(const TargetSpec& spec) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!Exists(root_)) return Status::Error(ENODEV, root_ + " missing: load target_core_mod and mount configfs");
    const std::string tpg = Tpg(spec.iqn);
    VS_RETURN_IF_ERROR(Mkdir(root_ + "/iscsi"));
    VS_RETURN_IF_ERROR(Mkdir(root_ + "/iscsi/" + spec.iqn));
    VS_RETURN_IF_ERROR(Mkdir(tpg));
    for (const std::string& portal : spec.portals) VS_RETURN_IF_ERROR(Mkdir(tpg + "/np/" + portal));
    VS_RETURN_IF_ERROR(WriteIfDiffers(tpg + "/attrib/generate_node_acls", "0"));
    VS_RETURN_IF_ERROR(WriteIfDiffers(tpg + "/attrib/authentication", "1"));
    VS_RETURN_IF_ERROR(WriteIfDiffers(tpg + "/attrib/demo_mode_write_protect", "0"));
    return WriteIfDiffers(tpg + "/enable", "1");
  }

  Status Unexport(const std::string& iqn) override {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string tpg = Tpg(iqn);
    if (Exists(tpg)) {
      TpgIndex* ix = nullptr;
      VS_RETURN_IF_ERROR(Index(iqn, &ix));
      if (Exists(tpg + "/enable")) VS_RETURN_IF_ERROR(Write(tpg + "/enable", "0"));
      std::vector<std::string> acls;
      for (const auto& a : ix->maps) acls.push_back(a.first);
      for (const std::string& acl : acls) VS_RETURN_IF_ERROR(Dropping(iqn, RemoveAcl(iqn, ix, acl)));
      for (const std::string& np : Entries(tpg + "/np")) VS_RETURN_IF_ERROR(Rmdir(tpg + "/np/" + np));
      const std::map<int, std::string> luns = ix->serial_at;
      for (const auto& l : luns)  // a LUN without its link is one an earlier call left half made
        VS_RETURN_IF_ERROR(Dropping(iqn, l.second.empty() ? Rmdir(tpg + "/lun/lun_" + std::to_string(l.first))
                                                          : RemoveLunLocked(iqn, ix, l.second)));
      VS_RETURN_IF_ERROR(Rmdir(tpg));
    }
    index_.erase(iqn);
    return Rmdir(root_ + "/iscsi/" + iqn);
  }

  Status AddLun(const std::string& iqn, const LunSpec& lun, int* number) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (lun.serial.empty() || lun.serial.find_first_of("/ \t\n") != std::string::npos || lun.serial.size() > 64)
      return Status::Error(EINVAL, "bad LUN serial '" + lun.serial + "'");
    TpgIndex* ix = nullptr;
    VS_RETURN_IF_ERROR(Index(iqn, &ix));
    const std::string store = BackstoreDir(lun.serial, IsBlockDevice(lun.device));
    for (bool block : {true, false}) {
      const std::string current = Read(BackstoreDir(lun.serial, block) + "/udev_path");
      if (!current.empty() && current != lun.device)
        return Status::Error(EEXIST, "LUN " + lun.serial + " already serves " + current);
    }
    int k = lun.lun;
    VS_RETURN_IF_ERROR(ChooseLun(iqn, *ix, lun, &k));
    if (number) *number = k;
    VS_RETURN_IF_ERROR(Dropping(iqn, CreateBackstore(store, lun)));
    if (ix->lun_of.count(lun.serial)) return Status::OK();
    const std::string dir = Tpg(iqn) + "/lun/lun_" + std::to_string(k);
    VS_RETURN_IF_ERROR(Dropping(iqn, Mkdir(dir)));
    VS_RETURN_IF_ERROR(Dropping(iqn, Symlink(store, dir + "/" + StoreName(lun.serial))));
    ix->serial_at[k] = lun.serial;
    ix->lun_of[lun.serial] = k;
    return Status::OK();
  }

  Status RemoveLun(const std::string& iqn, const std::string& serial) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!Exists(Tpg(iqn))) return RemoveBackstore(serial);
    TpgIndex* ix = nullptr;
    VS_RETURN_IF_ERROR(Index(iqn, &ix));
    return Dropping(iqn, RemoveLunLocked(iqn, ix, serial));
  }

  Status Allow(const std::string& iqn, const InitiatorAccess& access) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (access.initiator.empty() || access.initiator.find('/') != std::string::npos)
      return Status::Error(EINVAL, "bad initiator name '" + access.initiator + "'");
    TpgIndex* ix = nullptr;
    VS_RETURN_IF_ERROR(Index(iqn, &ix));
    const std::string acl = Tpg(iqn) + "/acls/" + access.initiator;
    VS_RETURN_IF_ERROR(Dropping(iqn, Mkdir(acl)));
    ix->maps[access.initiator];
    VS_RETURN_IF_ERROR(Dropping(iqn, WriteIfDiffers(acl + "/auth/userid", access.chap_user)));
    return Dropping(iqn, WriteIfDiffers(acl + "/auth/password", access.chap_secret));
  }

  Status Map(const std::string& iqn, const std::string& initiator, const std::vector<std::string>& serials) override {
    std::lock_guard<std::mutex> lock(mu_);
    TpgIndex* ix = nullptr;
    VS_RETURN_IF_ERROR(Index(iqn, &ix));
    auto acl = ix->maps.find(initiator);
    if (acl == ix->maps.end()) return Status::Error(ENOENT, initiator + " has no ACL on " + iqn);
    std::set<int> wanted;
    for (const std::string& serial : serials) {
      auto k = ix->lun_of.find(serial);
      if (k == ix->lun_of.end()) return Status::Error(ENOENT, "no LUN " + serial + " on " + iqn);
      wanted.insert(k->second);
    }
    std::map<int, int>& mapped = acl->second;
    // Narrow first: a LUN leaving a head must be gone before anything else.
    for (auto it = mapped.begin(); it != mapped.end();) {
      if (wanted.erase(it->second) > 0) {
        ++it;
        continue;
      }
      VS_RETURN_IF_ERROR(Dropping(iqn, Unmap(iqn, initiator, it->first)));
      it = mapped.erase(it);
    }
    // A map kept above may sit at another number (made before mapped
    // numbers followed target numbers): moving it would renumber the LUN
    // under a head. New maps take the target number.
    for (int k : wanted) {
      auto taken = mapped.find(k);
      if (taken != mapped.end())
        return Status::Error(EEXIST, initiator + "'s lun_" + std::to_string(k) + " on " + iqn + " leads to lun_" +
                                         std::to_string(taken->second) + ", not to lun_" + std::to_string(k));
      const std::string dir = Tpg(iqn) + "/acls/" + initiator + "/lun_" + std::to_string(k);
      VS_RETURN_IF_ERROR(Dropping(iqn, Mkdir(dir)));
      VS_RETURN_IF_ERROR(Dropping(iqn, Symlink(Tpg(iqn) + "/lun/lun_" + std::to_string(k), dir + "/lun")));
      mapped[k] = k;
    }
    return Status::OK();
  }

  Status Revoke(const std::string& iqn, const std::string& initiator) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!Exists(Tpg(iqn) + "/acls/" + initiator)) return Status::OK();
    TpgIndex* ix = nullptr;
    VS_RETURN_IF_ERROR(Index(iqn, &ix));
    return Dropping(iqn, RemoveAcl(iqn, ix, initiator));
  }

  // Reads configfs afresh (the kernel's view, and the index renewed).
  Status List(std::vector<TargetInfo>* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    index_.clear();
    for (const std::string& iqn : Entries(root_ + "/iscsi")) {
      if (iqn.find(':') == std::string::npos) continue;  // discovery_auth etc.
      TpgIndex* ix = nullptr;
      VS_RETURN_IF_ERROR(Index(iqn, &ix));
      TargetInfo t;
      t.iqn = iqn;
      for (const auto& l : ix->lun_of) t.luns.push_back({l.first, StoreDevice(l.first), l.second});
      for (const auto& a : ix->maps) {
        InitiatorInfo i{a.first, {}, {}};
        for (const auto& m : a.second) {
          auto serial = ix->serial_at.find(m.second);
          if (serial == ix->serial_at.end() || serial->second.empty()) continue;
          i.serials.push_back(serial->second);
          i.luns.push_back(m.first);
        }
        t.initiators.push_back(i);
      }
      out->push_back(t);
    }
    return Status::OK();
  }

 private:
  std::string Tpg(const std::string& iqn) const { return root_ + "/iscsi/" + iqn + "/tpgt_1"; }

  std::string BackstoreDir(const std::string& serial, bool block) const {
    return root_ + "/core/" + (block ? "iblock_0/" : "fileio_0/") + StoreName(serial);
  }

  std::string StoreDevice(const std::string& serial) const {
    for (bool block : {true, false}) {
      std::string dev = Read(BackstoreDir(serial, block) + "/udev_path");
      if (!dev.empty()) return dev;
    }
    return "";
  }

  // Passes st through; an error drops iqn's index, since configfs may now
  // hold part of what the call meant to write.
  Status Dropping(const std::string& iqn, Status st) {
    if (!st.ok()) index_.erase(iqn);
    return st;
  }

  // The number lun gets on iqn (*k: lun.lun, or -1 to choose): the one it
  // has already, else the smallest free. EEXIST if lun.lun is set and the
  // serial is elsewhere or another serial is there.
  static Status ChooseLun(const std::string& iqn, const TpgIndex& ix, const LunSpec& lun, int* k) {
    auto have = ix.lun_of.find(lun.serial);
    if (have != ix.lun_of.end()) {
      if (*k >= 0 && have->second != *k)
        return Status::Error(EEXIST, "LUN " + lun.serial + " is lun_" + std::to_string(have->second) + " of " + iqn +
                                         ", not lun_" + std::to_string(*k) + " as recorded");
      *k = have->second;
      return Status::OK();
    }
    if (*k < 0) {
      *k = SmallestFree(ix.serial_at);
      return Status::OK();
    }
    auto at = ix.serial_at.find(*k);
    // An entry without its link is one an earlier call left half made.
    if (at != ix.serial_at.end() && !at->second.empty())
      return Status::Error(EEXIST, "lun_" + std::to_string(*k) + " of " + iqn + " is LUN " + at->second + ", not " +
                                       lun.serial);
    return Status::OK();
  }

  // iqn's index, read from configfs unless already known. ENOENT if iqn is
  // not exported.
  Status Index(const std::string& iqn, TpgIndex** out) {
    const std::string tpg = Tpg(iqn);
    if (!Exists(tpg)) {
      index_.erase(iqn);
      return Status::Error(ENOENT, iqn + " is not exported");
    }
    auto it = index_.find(iqn);
    if (it != index_.end()) {
      *out = &it->second;
      return Status::OK();
    }
    TpgIndex ix;
    for (const std::string& lun : Entries(tpg + "/lun")) {
      const int k = LunNumber(lun);
      if (k < 0) continue;
      ix.serial_at[k];  // a number in use, even if its link is missing
      for (const std::string& link : Entries(tpg + "/lun/" + lun))
        if (link.compare(0, sizeof kStorePrefix - 1, kStorePrefix) == 0 && IsSymlink(tpg + "/lun/" + lun + "/" + link)) {
          ix.serial_at[k] = link.substr(sizeof kStorePrefix - 1);
          ix.lun_of[ix.serial_at[k]] = k;
        }
    }
    for (const std::string& acl : Entries(tpg + "/acls")) {
      std::map<int, int>& mapped = ix.maps[acl];
      for (const std::string& lun : Entries(tpg + "/acls/" + acl)) {
        const int j = LunNumber(lun);
        if (j < 0) continue;
        mapped[j] = -1;  // in use; -1 until its link says which LUN
        for (const std::string& link : Entries(tpg + "/acls/" + acl + "/" + lun)) {
          const std::string to = ReadLink(tpg + "/acls/" + acl + "/" + lun + "/" + link);
          if (!to.empty()) mapped[j] = LunNumber(to.substr(to.rfind('/') + 1));
        }
      }
    }
    *out = &(index_[iqn] = std::move(ix));
    return Status::OK();
  }

  Status CreateBackstore(const std::string& store, const LunSpec& lun) {
    if (Read(store + "/enable") == "1") return Status::OK();
    VS_RETURN_IF_ERROR(Mkdir(root_ + "/core"));
    VS_RETURN_IF_ERROR(Mkdir(store.substr(0, store.rfind('/'))));
    VS_RETURN_IF_ERROR(Mkdir(store));
    if (IsBlockDevice(lun.device)) {
      VS_RETURN_IF_ERROR(Write(store + "/control", "udev_path=" + lun.device));
    } else {
      struct stat st;
      if (stat(lun.device.c_str(), &st) != 0) return Status::Error(ENOENT, lun.device + " does not exist");
      VS_RETURN_IF_ERROR(
          Write(store + "/control", "fd_dev_name=" + lun.device + ",fd_dev_size=" + std::to_string(st.st_size)));
    }
    VS_RETURN_IF_ERROR(Write(store + "/udev_path", lun.device));
    VS_RETURN_IF_ERROR(Write(store + "/wwn/vpd_unit_serial", lun.serial));
    VS_RETURN_IF_ERROR(Write(store + "/enable", "1"));
    // UNMAP, so that a head's discard (or a guest's) reaches the thin device
    // and its blocks go back to the pool. LIO takes it only while nothing
    // exports the backstore: here. Without it the leg still serves; only
    // its discards fail.
    Status st = Write(store + "/attrib/emulate_tpu", "1");
    if (!st.ok())
      VS_LOG_WARN("LUN %s: no UNMAP (%s): discards on this leg will fail and its unused blocks stay provisioned",
                  lun.serial.c_str(), st.ToString().c_str());
    return Status::OK();
  }

  Status RemoveBackstore(const std::string& serial) {
    for (bool block : {true, false}) VS_RETURN_IF_ERROR(Rmdir(BackstoreDir(serial, block)));
    return Status::OK();
  }

  Status Unmap(const std::string& iqn, const std::string& initiator, int j) {
    const std::string dir = Tpg(iqn) + "/acls/" + initiator + "/lun_" + std::to_string(j);
    // Beside the link, configfs keeps default groups (statistics/) that go
    // away with the directory itself.
    for (const std::string& link : Entries(dir))
      if (IsSymlink(dir + "/" + link)) VS_RETURN_IF_ERROR(Unlink(dir + "/" + link));
    return Rmdir(dir);
  }

  Status RemoveAcl(const std::string& iqn, TpgIndex* ix, const std::string& initiator) {
    std::map<int, int>& mapped = ix->maps[initiator];
    while (!mapped.empty()) {
      VS_RETURN_IF_ERROR(Unmap(iqn, initiator, mapped.begin()->first));
      mapped.erase(mapped.begin());
    }
    ix->maps.erase(initiator);
    return Rmdir(Tpg(iqn) + "/acls/" + initiator);
  }

  Status RemoveLunLocked(const std::string& iqn, TpgIndex* ix, const std::string& serial) {
    auto at = ix->lun_of.find(serial);
    if (at != ix->lun_of.end()) {
      const int k = at->second;
      for (auto& acl : ix->maps)
        for (auto m = acl.second.begin(); m != acl.second.end();) {
          if (m->second != k) {
            ++m;
            continue;
          }
          VS_RETURN_IF_ERROR(Unmap(iqn, acl.first, m->first));
          m = acl.second.erase(m);
        }
      const std::string dir = Tpg(iqn) + "/lun/lun_" + std::to_string(k);
      VS_RETURN_IF_ERROR(Unlink(dir + "/" + StoreName(serial)));
      VS_RETURN_IF_ERROR(Rmdir(dir));
      ix->lun_of.erase(at);
      ix->serial_at.erase(k);
    }
    return RemoveBackstore(serial);
  }

  std::mutex mu_;
  std::string root_;
  std::map<std::string, TpgIndex> index_;  // by target IQN
};

}  // namespace

std::unique_ptr<IscsiTarget> NewLioTarget(const std::string& configfs_root) {
  return std::unique_ptr<IscsiTarget>(new LioTarget(configfs_root));
}

}  // namespace vastsky
