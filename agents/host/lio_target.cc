// IscsiTarget over kernel LIO's configfs tree. The layout, per disk:
//   core/iblock_0/<name>          backstore (fileio_0 for a regular file)
//   iscsi/<iqn>/tpgt_1/lun/lun_0  -> the backstore
//   iscsi/<iqn>/tpgt_1/np/<ip:port>
//   iscsi/<iqn>/tpgt_1/acls/<initiator>/lun_0 -> ../../lun/lun_0, auth/*
// with generate_node_acls=0 and authentication=1: only listed initiators
// with the right CHAP secret may log in. configfs is global across network
// namespaces; a portal listens in the namespace of the process creating it.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "agents/host/iscsi_target.h"

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

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') out.push_back(e->d_name);
  closedir(d);
  return out;
}

// A backstore name from the IQN's last part ("pdsk-0000000a").
std::string StoreName(const std::string& iqn) {
  size_t colon = iqn.rfind(':');
  return "vastsky-" + (colon == std::string::npos ? iqn : iqn.substr(colon + 1));
}

bool IsBlockDevice(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
}

class LioTarget : public IscsiTarget {
 public:
  explicit LioTarget(std::string root) : root_(std::move(root)) {}

  Status Export(const TargetSpec& spec) override {
    if (!Exists(root_)) return Status::Error(ENODEV, root_ + " missing: load target_core_mod and mount configfs");
    const std::string store = BackstoreDir(spec.iqn, IsBlockDevice(spec.device));
    if (Exists(store + "/udev_path")) {
      std::string current = Read(store + "/udev_path");
      if (!current.empty() && current != spec.device)
        return Status::Error(EEXIST, spec.iqn + " already exports " + current);
    }
    VS_RETURN_IF_ERROR(CreateBackstore(store, spec));
    const std::string tpg = Tpg(spec.iqn);
    VS_RETURN_IF_ERROR(Mkdir(root_ + "/iscsi"));
    VS_RETURN_IF_ERROR(Mkdir(root_ + "/iscsi/" + spec.iqn));
    VS_RETURN_IF_ERROR(Mkdir(tpg));
    VS_RETURN_IF_ERROR(Mkdir(tpg + "/lun/lun_0"));
    VS_RETURN_IF_ERROR(Symlink(store, tpg + "/lun/lun_0/" + StoreName(spec.iqn)));
    for (const std::string& portal : spec.portals) VS_RETURN_IF_ERROR(Mkdir(tpg + "/np/" + portal));
    VS_RETURN_IF_ERROR(Write(tpg + "/attrib/generate_node_acls", "0"));
    VS_RETURN_IF_ERROR(Write(tpg + "/attrib/authentication", "1"));
    VS_RETURN_IF_ERROR(Write(tpg + "/attrib/demo_mode_write_protect", "0"));
    return Write(tpg + "/enable", "1");
  }

  Status Unexport(const std::string& iqn) override {
    const std::string tpg = Tpg(iqn);
    if (Exists(tpg)) {
      if (Exists(tpg + "/enable")) VS_RETURN_IF_ERROR(Write(tpg + "/enable", "0"));
      for (const std::string& acl : Entries(tpg + "/acls")) VS_RETURN_IF_ERROR(RemoveAcl(tpg, acl));
      for (const std::string& np : Entries(tpg + "/np")) VS_RETURN_IF_ERROR(Rmdir(tpg + "/np/" + np));
      for (const std::string& lun : Entries(tpg + "/lun")) {
        for (const std::string& link : Entries(tpg + "/lun/" + lun))
          if (IsSymlink(tpg + "/lun/" + lun + "/" + link)) VS_RETURN_IF_ERROR(Unlink(tpg + "/lun/" + lun + "/" + link));
        VS_RETURN_IF_ERROR(Rmdir(tpg + "/lun/" + lun));
      }
      VS_RETURN_IF_ERROR(Rmdir(tpg));
    }
    VS_RETURN_IF_ERROR(Rmdir(root_ + "/iscsi/" + iqn));
    for (bool block : {true, false}) {
      const std::string store = BackstoreDir(iqn, block);
      if (!Exists(store)) continue;
      VS_RETURN_IF_ERROR(Rmdir(store));
    }
    return Status::OK();
  }

  Status Allow(const std::string& iqn, const InitiatorAccess& access) override {
    const std::string tpg = Tpg(iqn);
    if (!Exists(tpg)) return Status::Error(ENOENT, iqn + " is not exported");
    if (access.initiator.empty() || access.initiator.find('/') != std::string::npos)
      return Status::Error(EINVAL, "bad initiator name '" + access.initiator + "'");
    const std::string acl = tpg + "/acls/" + access.initiator;
    VS_RETURN_IF_ERROR(Mkdir(acl));
    VS_RETURN_IF_ERROR(Mkdir(acl + "/lun_0"));
    VS_RETURN_IF_ERROR(Symlink(tpg + "/lun/lun_0", acl + "/lun_0/lun_0"));
    VS_RETURN_IF_ERROR(Write(acl + "/auth/userid", access.chap_user));
    return Write(acl + "/auth/password", access.chap_secret);
  }

  Status Revoke(const std::string& iqn, const std::string& initiator) override {
    const std::string tpg = Tpg(iqn);
    if (!Exists(tpg + "/acls/" + initiator)) return Status::OK();
    return RemoveAcl(tpg, initiator);
  }

  Status List(std::vector<TargetInfo>* out) override {
    for (const std::string& iqn : Entries(root_ + "/iscsi")) {
      if (iqn.find(':') == std::string::npos) continue;  // discovery_auth etc.
      TargetInfo t;
      t.iqn = iqn;
      for (bool block : {true, false})
        if (Exists(BackstoreDir(iqn, block) + "/udev_path")) t.device = Read(BackstoreDir(iqn, block) + "/udev_path");
      t.initiators = Entries(Tpg(iqn) + "/acls");
      out->push_back(t);
    }
    return Status::OK();
  }

 private:
  std::string Tpg(const std::string& iqn) const { return root_ + "/iscsi/" + iqn + "/tpgt_1"; }

  std::string BackstoreDir(const std::string& iqn, bool block) const {
    return root_ + "/core/" + (block ? "iblock_0/" : "fileio_0/") + StoreName(iqn);
  }

  Status CreateBackstore(const std::string& store, const TargetSpec& spec) {
    VS_RETURN_IF_ERROR(Mkdir(root_ + "/core"));
    VS_RETURN_IF_ERROR(Mkdir(store.substr(0, store.rfind('/'))));
    VS_RETURN_IF_ERROR(Mkdir(store));
    if (Read(store + "/enable") == "1") return Status::OK();
    if (IsBlockDevice(spec.device)) {
      VS_RETURN_IF_ERROR(Write(store + "/control", "udev_path=" + spec.device));
    } else {
      struct stat st;
      if (stat(spec.device.c_str(), &st) != 0) return Status::Error(ENOENT, spec.device + " does not exist");
      VS_RETURN_IF_ERROR(Write(store + "/control", "fd_dev_name=" + spec.device + ",fd_dev_size=" + std::to_string(st.st_size)));
    }
    VS_RETURN_IF_ERROR(Write(store + "/udev_path", spec.device));
    if (!spec.serial.empty()) VS_RETURN_IF_ERROR(Write(store + "/wwn/vpd_unit_serial", spec.serial));
    return Write(store + "/enable", "1");
  }

  Status RemoveAcl(const std::string& tpg, const std::string& initiator) {
    const std::string acl = tpg + "/acls/" + initiator;
    for (const std::string& lun : Entries(acl)) {
      if (lun.rfind("lun_", 0) != 0) continue;
      // Beside the link, configfs keeps default groups (statistics/) that
      // go away with the directory itself.
      for (const std::string& link : Entries(acl + "/" + lun))
        if (IsSymlink(acl + "/" + lun + "/" + link)) VS_RETURN_IF_ERROR(Unlink(acl + "/" + lun + "/" + link));
      VS_RETURN_IF_ERROR(Rmdir(acl + "/" + lun));
    }
    return Rmdir(acl);
  }

  std::string root_;
};

}  // namespace

std::unique_ptr<IscsiTarget> NewLioTarget(const std::string& configfs_root) {
  return std::unique_ptr<IscsiTarget>(new LioTarget(configfs_root));
}

}  // namespace vastsky
