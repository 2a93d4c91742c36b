// The head server's kernel parts simulated for integration tests on a
// machine without device-mapper or open-iscsi. State lives in files under a
// directory, so a restarted agent finds what it left, as it would find the
// kernel's devices and sessions. No I/O is mapped; the rules the agent
// relies on are kept (EEXIST, ENXIO, EBUSY while open, idempotent logout).
// Line formats: tables "<name> <start> <length> <type> <params>", sessions
// "<iqn> <portal> -"; a LUN is the file luns/<iqn>/<serial>. A file "stall" in the device-mapper directory
// makes status calls block while it exists (a dying disk).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <sstream>

#include "agents/host/device_mapper.h"
#include "agents/host/iscsi_initiator.h"
#include "lib/state_file.h"

namespace vastsky {

namespace {

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// A sparse regular file standing in for a block device.
Status MakeDeviceFile(const std::string& path, uint64_t bytes) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error(errno, "cannot create " + path);
  const int rc = ftruncate(fd, static_cast<off_t>(bytes));
  const int err = errno;
  close(fd);
  return rc == 0 ? Status::OK() : Status::Error(err, "cannot size " + path);
}

class SimDeviceMapper : public DeviceMapper {
 public:
  explicit SimDeviceMapper(std::string dir) : dir_(std::move(dir)) {}

  Status Create(const std::string& name, const std::vector<DmTarget>& table) override {
    std::lock_guard<std::mutex> lock(mu_);
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    if (all.count(name)) return Status::Error(EEXIST, "device-mapper device " + name + " exists");
    if (table.empty()) return Status::Error(EINVAL, "an empty table would make a device with no table");
    VS_RETURN_IF_ERROR(MakeStateDir(dir_ + "/mapper"));
    VS_RETURN_IF_ERROR(MakeDeviceFile(DevicePath(name), (table.back().start + table.back().length) * 512));
    all[name] = table;
    return Save(all);
  }

  Status Remove(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu_);
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    if (!all.count(name)) return Status::Error(ENOENT, "no device-mapper device " + name);
    if (Exists(DevicePath(name) + ".open")) return Status::Error(EBUSY, name + " is open");
    all.erase(name);
    unlink(DevicePath(name).c_str());
    return Save(all);
  }

  Status Replace(const std::string& name, const std::vector<DmTarget>& table) override {
    std::lock_guard<std::mutex> lock(mu_);
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    if (!all.count(name)) return Status::Error(ENXIO, "no device-mapper device " + name);
    if (table.empty()) return Status::Error(EINVAL, "an empty table would leave the device with no table");
    // The device takes the new table's size, as the kernel's does at resume.
    VS_RETURN_IF_ERROR(MakeDeviceFile(DevicePath(name), (table.back().start + table.back().length) * 512));
    all[name] = table;
    return Save(all);
  }

  Status GetInfo(const std::string& name, DmInfo* info) override {
    std::lock_guard<std::mutex> lock(mu_);
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    *info = DmInfo();
    info->exists = all.count(name) > 0;
    info->open_count = info->exists && Exists(DevicePath(name) + ".open") ? 1 : 0;
    return Status::OK();
  }

  Status GetTable(const std::string& name, std::vector<DmTarget>* table) override {
    std::lock_guard<std::mutex> lock(mu_);
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    auto it = all.find(name);
    if (it == all.end()) return Status::Error(ENXIO, "no device-mapper device " + name);
    *table = it->second;
    return Status::OK();
  }

  // A simulated raid is always in sync: "raid1 2 AA 2048/2048 idle 0 0 -".
  Status GetStatus(const std::string& name, std::vector<DmTarget>* status) override {
    // A file "stall" in the directory holds every status call until it
    // goes, as a dying disk holds the kernel's (for tests of what must not
    // wait on it).
    for (int i = 0; i < 6000 && Exists(dir_ + "/stall"); ++i) usleep(100000);
    std::vector<DmTarget> table;
    VS_RETURN_IF_ERROR(GetTable(name, &table));
    for (DmTarget t : table) {
      if (t.type == "raid") {
        std::istringstream in(t.params);
        std::string level, tok;
        int nparams = 0, ndevs = 0;
        in >> level >> nparams;
        for (int i = 0; i < nparams; ++i) in >> tok;
        in >> ndevs;
        std::string health;
        for (int i = 0; i < ndevs; ++i) {
          std::string meta, data;
          in >> meta >> data;
          health += data == "-" ? 'D' : 'A';
        }
        t.params = level + " " + std::to_string(ndevs) + " " + health + " " + std::to_string(t.length) + "/" +
                   std::to_string(t.length) + " idle 0 0 -";
      } else {
        t.params.clear();
      }
      status->push_back(t);
    }
    return Status::OK();
  }

  Status List(std::vector<std::string>* names) override {
    std::lock_guard<std::mutex> lock(mu_);
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    for (const auto& t : all) names->push_back(t.first);
    return Status::OK();
  }

  std::string DevicePath(const std::string& name) override { return dir_ + "/mapper/" + name; }

 private:
  using Tables = std::map<std::string, std::vector<DmTarget>>;

  Status Load(Tables* all) {
    std::string text;
    Status st = ReadStateFile(dir_ + "/tables", &text);
    if (st.code() == ENOENT) return Status::OK();
    VS_RETURN_IF_ERROR(st);
    std::istringstream in(text);
    std::string name;
    DmTarget t;
    while (in >> name >> t.start >> t.length >> t.type) {
      std::getline(in, t.params);
      if (!t.params.empty() && t.params[0] == ' ') t.params.erase(0, 1);
      (*all)[name].push_back(t);
    }
    return Status::OK();
  }
  Status Save(const Tables& all) {
    std::string text;
    for (const auto& d : all)
      for (const DmTarget& t : d.second)
        text += d.first + " " + std::to_string(t.start) + " " + std::to_string(t.length) + " " + t.type + " " +
                t.params + "\n";
    VS_RETURN_IF_ERROR(MakeStateDir(dir_));
    return WriteStateFile(dir_ + "/tables", text, 0644);
  }

  const std::string dir_;
  std::mutex mu_;
};

// Logins always succeed, except to a target named in the file "refuse"
// (one IQN per line): a test's stand-in for a missing ACL (EACCES). Every
// LUN is mapped, except a serial named in "refuse-luns" (one per line).
class SimInitiator : public IscsiInitiator {
 public:
  SimInitiator(std::string dir, std::string name) : dir_(std::move(dir)), name_(std::move(name)) {}

  Status InitiatorName(std::string* name) override {
    *name = name_;
    return Status::OK();
  }

  Status Login(const IscsiLogin& login) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (Listed("refuse", login.iqn))
      return Status::Error(EACCES, "login to " + login.iqn + " at " + login.portal + " refused (authorization failure)");
    std::vector<IscsiSession> all;
    VS_RETURN_IF_ERROR(Load(&all));
    for (const IscsiSession& s : all)
      if (s.iqn == login.iqn && s.portal == login.portal) return Status::OK();
    all.push_back({login.iqn, login.portal, ""});
    return Save(all);
  }

  Status LunDevice(const std::string& iqn, const std::string& serial, std::string* device) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(FindSession(iqn));
    if (Listed("refuse-luns", serial))
      return Status::Error(ENXIO, "no LUN with serial " + serial + " in the session to " + iqn +
                                      ": the target does not map it to this head");
    VS_RETURN_IF_ERROR(MakeStateDir(LunDir(iqn)));
    *device = LunDir(iqn) + "/" + serial;
    return Exists(*device) ? Status::OK() : MakeDeviceFile(*device, 0);
  }

  Status ForgetLun(const std::string& iqn, const std::string& serial) override {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string path = LunDir(iqn) + "/" + serial;
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return Status::Error(errno, "cannot remove " + path);
    return Status::OK();
  }

  Status Logout(const std::string& iqn) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<IscsiSession> all, kept;
    VS_RETURN_IF_ERROR(Load(&all));
    for (const IscsiSession& s : all)
      if (s.iqn != iqn) kept.push_back(s);
    // A logout takes the session's SCSI devices with it.
    for (const std::string& serial : DirEntries(LunDir(iqn))) unlink((LunDir(iqn) + "/" + serial).c_str());
    rmdir(LunDir(iqn).c_str());
    return Save(kept);
  }

  Status Sessions(std::vector<IscsiSession>* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    return Load(out);
  }

 private:
  Status Load(std::vector<IscsiSession>* all) {
    std::string text;
    Status st = ReadStateFile(dir_ + "/sessions", &text);
    if (st.code() == ENOENT) return Status::OK();
    VS_RETURN_IF_ERROR(st);
    std::istringstream in(text);
    IscsiSession s;
    while (in >> s.iqn >> s.portal >> s.device) {
      if (s.device == "-") s.device.clear();
      all->push_back(s);
    }
    return Status::OK();
  }
  Status Save(const std::vector<IscsiSession>& all) {
    std::string text;
    for (const IscsiSession& s : all) text += s.iqn + " " + s.portal + " " + (s.device.empty() ? "-" : s.device) + "\n";
    VS_RETURN_IF_ERROR(MakeStateDir(dir_));
    return WriteStateFile(dir_ + "/sessions", text, 0644);
  }

  Status FindSession(const std::string& iqn) {
    std::vector<IscsiSession> all;
    VS_RETURN_IF_ERROR(Load(&all));
    for (const IscsiSession& s : all)
      if (s.iqn == iqn) return Status::OK();
    return Status::Error(ENOENT, "no iSCSI session to " + iqn);
  }
  // True if `word` is a line of the file dir/name.
  bool Listed(const char* name, const std::string& word) {
    std::string text;
    return ReadStateFile(dir_ + "/" + name, &text).ok() && ("\n" + text).find("\n" + word + "\n") != std::string::npos;
  }
  std::string LunDir(const std::string& iqn) const { return dir_ + "/luns/" + iqn; }
  const std::string dir_, name_;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<DeviceMapper> NewSimDeviceMapper(const std::string& dir) {
  return std::unique_ptr<DeviceMapper>(new SimDeviceMapper(dir));
}

std::unique_ptr<IscsiInitiator> NewSimInitiator(const std::string& dir, const std::string& initiator_name) {
  return std::unique_ptr<IscsiInitiator>(new SimInitiator(dir, initiator_name));
}

}  // namespace vastsky
