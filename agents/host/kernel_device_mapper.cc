// DeviceMapper over libdevmapper's task API.
#include <fcntl.h>
#include <libdevmapper.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "agents/host/device_mapper.h"
#include "lib/log.h"
#include "lib/state_file.h"

namespace vastsky {

namespace {

// libdevmapper logs through a global callback; route it to ours and keep
// the last error text so a failed call can say why.
thread_local std::string t_last_error;

void DmLog(int level, const char* file, int line, int dm_errno, const char* fmt, ...) {
  (void)file;
  (void)line;
  (void)dm_errno;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (level <= 3) {  // _LOG_ERR
    t_last_error = buf;
    VS_LOG_DEBUG("libdevmapper: %s", buf);
  }
}

class Task {
 public:
  Task(int type, const std::string& name) : t_(dm_task_create(type)) {
    if (t_ && !name.empty()) dm_task_set_name(t_, name.c_str());
  }
  ~Task() {
    if (t_) dm_task_destroy(t_);
  }
  dm_task* get() const { return t_; }
  Status Run(const char* what, const std::string& name) {
    if (!t_) return Status::Internal("libdevmapper: cannot create task");
    t_last_error.clear();
    if (dm_task_run(t_)) return Status::OK();
    int err = dm_task_get_errno(t_);
    if (err == 0) err = EIO;
    return Status::Error(err, std::string(what) + " " + name + ": " +
                                  (t_last_error.empty() ? strerror(err) : t_last_error));
  }

 private:
  dm_task* t_;
};

// The table and its mode on a load task: the kernel sets the disk
// read-only at the resume that swaps a kReadOnly table in.
Status AddTable(dm_task* t, const std::vector<DmTarget>& table, DmAccess access) {
  if (table.empty()) return Status::Error(EINVAL, "an empty table would make a device with no table");
  if (access == DmAccess::kReadOnly && !dm_task_set_ro(t)) return Status::Internal("libdevmapper: cannot set read-only");
  for (const DmTarget& s : table)
    if (!dm_task_add_target(t, s.start, s.length, s.type.c_str(), s.params.c_str()))
      return Status::Error(EINVAL, "bad table line: " + s.type + " " + s.params);
  return Status::OK();
}

Status ReadTargets(dm_task* t, std::vector<DmTarget>* out) {
  void* next = nullptr;
  do {
    uint64_t start = 0, length = 0;
    char* type = nullptr;
    char* params = nullptr;
    next = dm_get_next_target(t, next, &start, &length, &type, &params);
    if (type) out->push_back({start, length, type, params ? params : ""});
  } while (next);
  return Status::OK();
}

// libdevmapper keeps process-global state (the stack of device-node
// operations, the log callback's last error), so one call at a time.
class KernelDeviceMapper : public DeviceMapper {
 public:
  KernelDeviceMapper() {
    static std::once_flag once;
    std::call_once(once, [] {
      dm_log_with_errno_init(DmLog);
      dm_udev_set_sync_support(0);
    });
  }

  // Create, load, resume as three ioctls (what libdevmapper's one-call
  // create does inside), so a table the target refuses returns the
  // target's errno (dm-thin: ENODATA for a thin id its pool lacks), which
  // the one-call create loses.
  Status Create(const std::string& name, const std::vector<DmTarget>& table, DmAccess access) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    DmInfo info;
    VS_RETURN_IF_ERROR(GetInfo(name, &info));
    if (info.exists) return Status::Error(EEXIST, "device-mapper device " + name + " exists");
    if (table.empty()) return Status::Error(EINVAL, "an empty table would make a device with no table");
    {
      Task t(DM_DEVICE_CREATE, name);
      dm_task_set_add_node(t.get(), DM_ADD_NODE_ON_CREATE);
      VS_RETURN_IF_ERROR(t.Run("create", name));
    }
    Status st;
    {
      Task load(DM_DEVICE_RELOAD, name);
      st = AddTable(load.get(), table, access);
      if (st.ok()) st = load.Run("load a table into", name);
    }
    if (st.ok()) {
      Task resume(DM_DEVICE_RESUME, name);
      dm_task_set_add_node(resume.get(), DM_ADD_NODE_ON_CREATE);
      st = resume.Run("resume", name);
    }
    if (!st.ok()) {
      // On failure nothing is left behind.
      Task remove(DM_DEVICE_REMOVE, name);
      Status gone = remove.Run("remove", name);
      if (!gone.ok()) VS_LOG_WARN("a failed create left %s behind: %s", name.c_str(), gone.ToString().c_str());
    }
    dm_udev_wait(0);
    return st;
  }

  Status Remove(const std::string& name) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    DmInfo info;
    VS_RETURN_IF_ERROR(GetInfo(name, &info));
    if (!info.exists) return Status::Error(ENOENT, "no device-mapper device " + name);
    if (info.open_count > 0) return Status::Error(EBUSY, name + " is open " + std::to_string(info.open_count) + " times");
    Task t(DM_DEVICE_REMOVE, name);
    // A short-lived opener (blkid, udev) can race the remove; retry briefly.
    dm_task_retry_remove(t.get());
    Status st = t.Run("remove", name);
    dm_udev_wait(0);
    return st;
  }

  Status Replace(const std::string& name, const std::vector<DmTarget>& table, DmAccess access) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    {
      Task load(DM_DEVICE_RELOAD, name);
      VS_RETURN_IF_ERROR(AddTable(load.get(), table, access));
      VS_RETURN_IF_ERROR(load.Run("reload", name));
    }
    {
      Task suspend(DM_DEVICE_SUSPEND, name);
      dm_task_no_flush(suspend.get());
      VS_RETURN_IF_ERROR(suspend.Run("suspend", name));
    }
    Task resume(DM_DEVICE_RESUME, name);
    return resume.Run("resume", name);
  }

  Status GetInfo(const std::string& name, DmInfo* out) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    Task t(DM_DEVICE_INFO, name);
    VS_RETURN_IF_ERROR(t.Run("info", name));
    dm_info info;
    if (!dm_task_get_info(t.get(), &info)) return Status::Internal("info " + name + ": no answer");
    out->exists = info.exists != 0;
    out->suspended = info.suspended != 0;
    out->read_only = info.read_only != 0;
    out->open_count = info.open_count;
    out->major = info.major;
    out->minor = info.minor;
    return Status::OK();
  }

  // From sysfs, not an ioctl: only the device's numbers take the lock.
  Status GetIoStats(const std::string& name, BlockIoStats* out) override {
    DmInfo info;
    VS_RETURN_IF_ERROR(GetInfo(name, &info));
    if (!info.exists) return Status::Error(ENOENT, "no device-mapper device " + name);
    const std::string path = "/sys/dev/block/" + std::to_string(info.major) + ":" + std::to_string(info.minor) + "/stat";
    std::string line;
    VS_RETURN_IF_ERROR(ReadStateFile(path, &line));
    return ParseBlockStat(line, out);
  }

  Status GetTable(const std::string& name, std::vector<DmTarget>* table) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    Task t(DM_DEVICE_TABLE, name);
    VS_RETURN_IF_ERROR(t.Run("table", name));
    return ReadTargets(t.get(), table);
  }

  Status GetStatus(const std::string& name, std::vector<DmTarget>* status) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    Task t(DM_DEVICE_STATUS, name);
    VS_RETURN_IF_ERROR(t.Run("status", name));
    return ReadTargets(t.get(), status);
  }

  Status List(std::vector<std::string>* names) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    Task t(DM_DEVICE_LIST, "");
    VS_RETURN_IF_ERROR(t.Run("list", ""));
    dm_names* n = dm_task_get_names(t.get());
    if (!n || !n->dev) return Status::OK();
    for (;;) {
      names->push_back(n->name);
      if (!n->next) break;
      n = reinterpret_cast<dm_names*>(reinterpret_cast<char*>(n) + n->next);
    }
    return Status::OK();
  }

  Status Message(const std::string& name, const std::string& message) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    Task t(DM_DEVICE_TARGET_MSG, name);
    if (t.get() && (!dm_task_set_sector(t.get(), 0) || !dm_task_set_message(t.get(), message.c_str())))
      return Status::Internal("libdevmapper: cannot set message " + message);
    return t.Run(("message '" + message + "' to").c_str(), name);
  }

  Status Suspend(const std::string& name) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    Task t(DM_DEVICE_SUSPEND, name);
    // Flushing (the default) is the point; no filesystem sits on our
    // devices themselves (the guest's is inside), so nothing to freeze.
    if (t.get()) dm_task_skip_lockfs(t.get());
    return t.Run("suspend", name);
  }

  Status Resume(const std::string& name) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    Task t(DM_DEVICE_RESUME, name);
    return t.Run("resume", name);
  }

  // Not under mu_: a long discard must not hold up other dm calls.
  Status Discard(const std::string& name, uint64_t offset_sectors, uint64_t length_sectors) override {
    const std::string path = DevicePath(name);
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return Status::Error(errno, "cannot open " + path);
    uint64_t range[2] = {offset_sectors * 512, length_sectors * 512};
    const int rc = ioctl(fd, BLKDISCARD, range);
    const int err = errno;
    close(fd);
    if (rc == 0) return Status::OK();
    return Status::Error(err, "discard of " + std::to_string(length_sectors) + " sectors at " +
                                  std::to_string(offset_sectors) + " of " + path + ": " + strerror(err));
  }

  std::string DevicePath(const std::string& name) override { return "/dev/mapper/" + name; }

 private:
  std::recursive_mutex mu_;
};

}  // namespace

std::unique_ptr<DeviceMapper> NewKernelDeviceMapper() { return std::unique_ptr<DeviceMapper>(new KernelDeviceMapper); }

}  // namespace vastsky
