// The head server's kernel parts simulated for integration tests on a
// machine without device-mapper or open-iscsi. State lives in files under a
// directory, so a restarted agent finds what it left, as it would find the
// kernel's devices and sessions. No I/O is mapped; the rules the agent
// relies on are kept (EEXIST, ENXIO, EBUSY while open, idempotent logout).
// Line formats: tables "<name> <start> <length> <type> <params>", sessions
// "<iqn> <portal> -"; a LUN is the file luns/<iqn>/<serial>. A file "stall" in the device-mapper directory
// makes status calls block while it exists (a dying disk); "stall-discard"
// and "discard-errno" do the same for discards (device_mapper.h). A thin
// pool's metadata snapshot is the file thin/<pool key>.snap (its status then
// shows a held root), and NewSimThinDumper describes a thin's file as
// thin_dump would: a pool block is mapped if the file has data in it
// (SEEK_DATA). A pool that saw I/O errors is the file
// thin/<pool key>.needs_check ("ro" or "fail": its mode, with needs_check),
// damaged metadata the file thin/<pool key>.damaged (NewSimThinChecker).
// A pool's "create_snap N ORIGIN" copies the origin's file (holes kept) and
// appends "N ORIGIN" to thin/<pool key>.origins, whose pairs
// NewSimThinReports' thin_ls takes as sharing (a block is exclusive unless
// the same block of such a partner holds the same bytes). The file
// "message-errno" holding "<errno> <verb>" makes every pool message of that
// verb fail with errno (a test's kernel refusing create_snap).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "agents/host/device_mapper.h"
#include "agents/host/iscsi_initiator.h"
#include "agents/host/thin_pool.h"
#include "lib/state_file.h"

namespace vastsky {

namespace {

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// Zeroes bytes of a device file as a discard on a thin device reads back:
// a hole where the file system can punch one.
Status ZeroRange(const std::string& path, uint64_t offset, uint64_t length) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::Error(errno, "cannot open " + path);
  int err = 0;
  if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset), static_cast<off_t>(length)) != 0) {
    const std::string zeros(1 << 20, '\0');
    for (uint64_t done = 0; done < length && err == 0;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), length - done));
      const ssize_t w = pwrite(fd, zeros.data(), n, static_cast<off_t>(offset + done));
      if (w != static_cast<ssize_t>(n)) err = w < 0 ? errno : EIO;
      done += n;
    }
  }
  close(fd);
  return err ? Status::Error(err, "cannot zero " + path) : Status::OK();
}

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

  Status Create(const std::string& name, const std::vector<DmTarget>& table, DmAccess access) override {
    std::lock_guard<std::mutex> lock(mu_);
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    if (all.count(name)) return Status::Error(EEXIST, "device-mapper device " + name + " exists");
    if (table.empty()) return Status::Error(EINVAL, "an empty table would make a device with no table");
    VS_RETURN_IF_ERROR(MakeStateDir(dir_ + "/mapper"));
    const std::string path = DevicePath(name);
    unlink(path.c_str());  // a thin's link left by a crash
    if (table[0].type == "thin-pool") VS_RETURN_IF_ERROR(ActivatePool(all, table[0]));
    if (table[0].type == "thin") {
      // The device is a link to the thin's file, so its data outlives the
      // activation as a thin device's blocks do.
      std::string file;
      VS_RETURN_IF_ERROR(ThinFile(all, table[0].params, &file));
      if (symlink(file.c_str(), path.c_str()) != 0) return Status::Error(errno, "cannot link " + path);
    }
    VS_RETURN_IF_ERROR(MakeDeviceFile(path, (table.back().start + table.back().length) * 512));
    VS_RETURN_IF_ERROR(SetAccess(name, access));
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
    unlink((DevicePath(name) + ".suspended").c_str());
    unlink((DevicePath(name) + ".ro").c_str());
    return Save(all);
  }

  Status Replace(const std::string& name, const std::vector<DmTarget>& table, DmAccess access) override {
    std::lock_guard<std::mutex> lock(mu_);
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    if (!all.count(name)) return Status::Error(ENXIO, "no device-mapper device " + name);
    if (table.empty()) return Status::Error(EINVAL, "an empty table would leave the device with no table");
    // The device takes the new table's size, as the kernel's does at resume.
    VS_RETURN_IF_ERROR(MakeDeviceFile(DevicePath(name), (table.back().start + table.back().length) * 512));
    unlink((DevicePath(name) + ".suspended").c_str());  // a reload ends with a resume
    VS_RETURN_IF_ERROR(SetAccess(name, access));
    all[name] = table;
    return Save(all);
  }

  Status Suspend(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Find(name));
    std::string err;
    if (ReadStateFile(DevicePath(name) + ".suspend-errno", &err).ok() && atoi(err.c_str()) > 0)
      return Status::Error(atoi(err.c_str()), "suspend of " + name + " refused (the test's suspend-errno)");
    return WriteStateFile(DevicePath(name) + ".suspended", "", 0644);
  }

  Status Resume(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Find(name));
    unlink((DevicePath(name) + ".suspended").c_str());
    return Status::OK();
  }

  Status Discard(const std::string& name, uint64_t offset_sectors, uint64_t length_sectors) override {
    for (int i = 0; i < 6000 && Exists(dir_ + "/stall-discard"); ++i) usleep(100000);
    std::string text;
    if (ReadStateFile(dir_ + "/discard-errno", &text).ok() && atoi(text.c_str()) > 0)
      return Status::Error(atoi(text.c_str()), "discard on " + name + " refused (the test's discard-errno)");
    std::lock_guard<std::mutex> lock(mu_);
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    if (!all.count(name)) return Status::Error(ENXIO, "no device-mapper device " + name);
    if (offset_sectors + length_sectors > Length(all, DevicePath(name)))
      return Status::Error(EINVAL, "discard past the end of " + name);
    if (Exists(DevicePath(name) + ".ro")) return Status::Error(EROFS, "discard on " + name + ": it is read-only");
    VS_RETURN_IF_ERROR(ZeroRange(DevicePath(name), offset_sectors * 512, length_sectors * 512));
    const std::string line = name + " " + std::to_string(offset_sectors) + " " + std::to_string(length_sectors) + "\n";
    int fd = open((dir_ + "/discards").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return Status::Error(errno, "cannot record a discard in " + dir_);
    const bool written = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    close(fd);
    return written ? Status::OK() : Status::Error(EIO, "cannot record a discard in " + dir_);
  }

  Status GetInfo(const std::string& name, DmInfo* info) override {
    std::lock_guard<std::mutex> lock(mu_);
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    *info = DmInfo();
    info->exists = all.count(name) > 0;
    info->open_count = info->exists && Exists(DevicePath(name) + ".open") ? 1 : 0;
    info->suspended = info->exists && Exists(DevicePath(name) + ".suspended");
    info->read_only = info->exists && Exists(DevicePath(name) + ".ro");
    return Status::OK();
  }

  Status GetIoStats(const std::string& name, BlockIoStats* out) override {
    DmInfo info;
    VS_RETURN_IF_ERROR(GetInfo(name, &info));
    if (!info.exists) return Status::Error(ENOENT, "no device-mapper device " + name);
    std::string line;
    if (!ReadStateFile(DevicePath(name) + ".stat", &line).ok()) {
      *out = BlockIoStats();
      return Status::OK();
    }
    return ParseBlockStat(line, out);
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

  // A simulated raid is always in sync: "raid1 2 AA 2048/2048 idle 0 0 -",
  // unless a file "<path>.status" gives its status line (a test's raid
  // recovering or degraded). Suspended, it looks as Frozen says, or as
  // "<path>.status-suspended" says (a leg failing as it suspends). A thin-pool counts its thins' allocated
  // blocks (dm-thin's status line).
  Status GetStatus(const std::string& name, std::vector<DmTarget>* status) override {
    // A file "stall" in the directory holds every status call until it
    // goes, as a dying disk holds the kernel's (for tests of what must not
    // wait on it).
    for (int i = 0; i < 6000 && Exists(dir_ + "/stall"); ++i) usleep(100000);
    std::lock_guard<std::mutex> lock(mu_);
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    auto it = all.find(name);
    if (it == all.end()) return Status::Error(ENXIO, "no device-mapper device " + name);
    for (DmTarget t : it->second) {
      if (t.type == "raid") t.params = SimRaidStatus(name, t);
      else if (t.type == "thin-pool") t.params = PoolStatus(all, t);
      else t.params.clear();
      status->push_back(t);
    }
    return Status::OK();
  }

  // dm-thin's pool messages: "create_thin N" (EEXIST if present), "delete N"
  // (ENODATA if absent, EBUSY while a thin device over it is active),
  // "create_snap N ORIGIN" (EEXIST if N is present, else ENODATA if ORIGIN
  // is absent), "reserve_metadata_snap" (EBUSY if one is held),
  // "release_metadata_snap" (EINVAL if none is).
  Status Message(const std::string& name, const std::string& message) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(RefusedMessage(name, message));
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    auto it = all.find(name);
    if (it == all.end()) return Status::Error(ENXIO, "no device-mapper device " + name);
    if (it->second[0].type != "thin-pool") return Status::Error(EINVAL, name + " takes no messages");
    const std::string snapshot = PoolDir(all, it->second[0]) + ".snap";
    if (message == "reserve_metadata_snap") {
      if (Exists(snapshot)) return Status::Error(EBUSY, name + " holds a metadata snapshot already");
      return MakeDeviceFile(snapshot, 0);
    }
    if (message == "release_metadata_snap") {
      if (unlink(snapshot.c_str()) != 0) return Status::Error(EINVAL, name + " holds no metadata snapshot");
      return Status::OK();
    }
    std::istringstream in(message);
    std::string verb;
    uint64_t id = 0;
    if (!(in >> verb >> id) || (verb != "create_thin" && verb != "delete" && verb != "create_snap"))
      return Status::Error(EINVAL, "unknown message '" + message + "' to " + name);
    const std::string dir = PoolDir(all, it->second[0]), file = dir + "/" + std::to_string(id);
    if (verb == "create_thin") {
      if (Exists(file)) return Status::Error(EEXIST, name + " has thin " + std::to_string(id));
      return MakeDeviceFile(file, 0);
    }
    if (verb == "create_snap") {
      uint64_t origin = 0;
      if (!(in >> origin)) return Status::Error(EINVAL, "create_snap without an origin to " + name);
      if (Exists(file)) return Status::Error(EEXIST, name + " has thin " + std::to_string(id));
      const std::string from = dir + "/" + std::to_string(origin);
      if (!Exists(from)) return Status::Error(ENODATA, name + " has no thin " + std::to_string(origin));
      VS_RETURN_IF_ERROR(CopySparse(from, file));
      Pairs pairs = Origins(dir);
      pairs.push_back({static_cast<int64_t>(id), static_cast<int64_t>(origin)});
      return SaveOrigins(dir, pairs);
    }
    if (!Exists(file)) return Status::Error(ENODATA, name + " has no thin " + std::to_string(id));
    for (const auto& d : all)
      if (d.second[0].type == "thin" && d.second[0].params == DevicePath(name) + " " + std::to_string(id))
        return Status::Error(EBUSY, "thin " + std::to_string(id) + " of " + name + " is active as " + d.first);
    unlink(file.c_str());
    Pairs pairs = Origins(dir);
    pairs.erase(std::remove_if(pairs.begin(), pairs.end(),
                               [&](const std::pair<int64_t, int64_t>& p) {
                                 return p.first == static_cast<int64_t>(id) || p.second == static_cast<int64_t>(id);
                               }),
                pairs.end());
    return SaveOrigins(dir, pairs);
  }

  Status List(std::vector<std::string>* names) override {
    std::lock_guard<std::mutex> lock(mu_);
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    for (const auto& t : all) names->push_back(t.first);
    return Status::OK();
  }

  std::string DevicePath(const std::string& name) override { return dir_ + "/mapper/" + name; }

  // thin_dump --metadata-snap --dev-id thin_id -o xml_path meta_device,
  // from the thin's file (NewSimThinDumper).
  Status DumpThin(const std::string& meta_device, int64_t thin_id, const std::string& xml_path) {
    std::lock_guard<std::mutex> lock(mu_);
    SnapPool pool;
    VS_RETURN_IF_ERROR(FindSnapPool("thin_dump", meta_device, &pool));
    std::string xml = pool.superblock;
    const std::string file = pool.dir + "/" + std::to_string(thin_id);
    if (Exists(file)) {
      std::string device;
      VS_RETURN_IF_ERROR(DeviceXml(file, thin_id, pool.block_bytes, &device));
      xml += device;
    }
    return WriteStateFile(xml_path, xml + "</superblock>\n", 0644);
  }

  // thin_delta --metadata-snap --snap1 base --snap2 thin meta_device >
  // xml_path, comparing the thins' files block by block.
  Status DeltaThins(const std::string& meta_device, int64_t base, int64_t thin, const std::string& xml_path) {
    std::lock_guard<std::mutex> lock(mu_);
    SnapPool pool;
    VS_RETURN_IF_ERROR(FindSnapPool("thin_delta", meta_device, &pool));
    const std::string left = pool.dir + "/" + std::to_string(base), right = pool.dir + "/" + std::to_string(thin);
    for (const std::string& f : {left, right})
      if (!Exists(f)) return Status::Error(ENOENT, "thin_delta: no thin " + f.substr(f.rfind('/') + 1));
    std::set<int64_t> l, r, both;
    VS_RETURN_IF_ERROR(MappedBlocks(left, pool.block_bytes, &l));
    VS_RETURN_IF_ERROR(MappedBlocks(right, pool.block_bytes, &r));
    both.insert(l.begin(), l.end());
    both.insert(r.begin(), r.end());
    std::string xml = pool.superblock + "  <diff left=\"" + std::to_string(base) + "\" right=\"" +
                      std::to_string(thin) + "\">\n";
    std::string kind;
    int64_t begin = 0, length = 0;
    auto flush = [&] {
      if (length) xml += "    <" + kind + " begin=\"" + std::to_string(begin) + "\" length=\"" + std::to_string(length) + "\"/>\n";
    };
    for (int64_t b : both) {
      const std::string k = !r.count(b) ? "left_only" : !l.count(b) ? "right_only"
                            : SameBlock(left, right, b, pool.block_bytes) ? "same" : "different";
      if (k == kind && b == begin + length) {
        ++length;
        continue;
      }
      flush();
      kind = k;
      begin = b;
      length = 1;
    }
    flush();
    return WriteStateFile(xml_path, xml + "  </diff>\n</superblock>\n", 0644);
  }

  // thin_ls --metadata-snap --no-headers -o DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS
  // meta_device > text_path; sharing as the pool's .origins file says.
  Status ListThins(const std::string& meta_device, const std::string& text_path) {
    std::lock_guard<std::mutex> lock(mu_);
    SnapPool pool;
    VS_RETURN_IF_ERROR(FindSnapPool("thin_ls", meta_device, &pool));
    const Pairs pairs = Origins(pool.dir);
    std::map<int64_t, std::set<int64_t>> mapped;
    for (const std::string& f : DirEntries(pool.dir))
      if (!f.empty() && f.find_first_not_of("0123456789") == std::string::npos)
        VS_RETURN_IF_ERROR(MappedBlocks(pool.dir + "/" + f, pool.block_bytes, &mapped[std::stoll(f)]));
    std::string text;
    for (const auto& t : mapped) {
      int64_t exclusive = 0;
      for (int64_t b : t.second) exclusive += Shared(pool, pairs, mapped, t.first, b) ? 0 : 1;
      text += std::to_string(t.first) + " " + std::to_string(t.second.size()) + " " + std::to_string(exclusive) + "\n";
    }
    return WriteStateFile(text_path, text, 0644);
  }

  // thin_check -q --clear-needs-check-flag meta_device (NewSimThinChecker):
  // EUCLEAN while the pool's ".damaged" file exists (its text the tool's
  // words), else its ".needs_check" file goes. EBUSY if a pool is active on
  // it: thin_check must never read metadata a live pool is changing.
  Status CheckThin(const std::string& meta_device) {
    std::lock_guard<std::mutex> lock(mu_);
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    std::string place;
    for (const auto& d : all) {
      const DmTarget& t = d.second[0];
      if (t.type == "thin-pool" && t.params.compare(0, meta_device.size() + 1, meta_device + " ") == 0)
        return Status::Error(EBUSY, "thin_check of " + meta_device + ": the pool " + d.first + " is active on it");
      if (t.type == "linear" && DevicePath(d.first) == meta_device) place = t.params;
    }
    if (place.empty()) return Status::Error(ENOENT, "thin_check: no metadata device " + meta_device);
    const std::string dir = PoolDirOf(place);
    std::string words;
    if (ReadStateFile(dir + ".damaged", &words).ok())
      return Status::Error(EUCLEAN, words.empty() ? "metadata damaged (sim)" : words.substr(0, words.find('\n')));
    unlink((dir + ".needs_check").c_str());
    return Status::OK();
  }

 private:
  using Tables = std::map<std::string, std::vector<DmTarget>>;
  using Pairs = std::vector<std::pair<int64_t, int64_t>>;  // (snapshot, origin)

  // A pool whose metadata snapshot the sim's tools read.
  struct SnapPool {
    std::string dir, superblock;  // superblock: thin tools' opening element
    uint64_t block_bytes = 0;
  };

  // The pool on meta_device; EIO (the tool's) unless it holds a snapshot.
  Status FindSnapPool(const char* tool, const std::string& meta_device, SnapPool* out) {
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    const std::string what = std::string(tool) + " of " + meta_device;
    for (const auto& d : all) {
      const DmTarget& pool = d.second[0];
      if (pool.type != "thin-pool" || pool.params.compare(0, meta_device.size() + 1, meta_device + " ") != 0) continue;
      out->dir = PoolDir(all, pool);
      if (!Exists(out->dir + ".snap")) return Status::Error(EIO, what + ": no current metadata snap");
      std::istringstream in(pool.params);
      std::string meta, data;
      uint64_t block = 0;
      in >> meta >> data >> block;
      if (block == 0) return Status::Error(EIO, what + ": the pool has no block size");
      out->block_bytes = block * 512;
      out->superblock = "<superblock uuid=\"\" time=\"0\" transaction=\"0\" flags=\"0\" version=\"2\" data_block_size=\"" +
                        std::to_string(block) + "\" nr_data_blocks=\"" + std::to_string(Length(all, data) / block) +
                        "\">\n";
      return Status::OK();
    }
    return Status::Error(EIO, what + ": not a pool's metadata device");
  }

  // A refusal the test asked for in the file "message-errno".
  Status RefusedMessage(const std::string& name, const std::string& message) {
    std::string text, verb;
    int err = 0;
    if (!ReadStateFile(dir_ + "/message-errno", &text).ok()) return Status::OK();
    std::istringstream in(text);
    if (!(in >> err >> verb) || err <= 0 || message.compare(0, verb.size() + 1, verb + " ") != 0) return Status::OK();
    return Status::Error(err, "message '" + message + "' to " + name + " refused (the test's message-errno)");
  }

  static Pairs Origins(const std::string& pool_dir) {
    Pairs pairs;
    std::string text;
    if (!ReadStateFile(pool_dir + ".origins", &text).ok()) return pairs;
    std::istringstream in(text);
    for (int64_t snap = 0, origin = 0; in >> snap >> origin;) pairs.push_back({snap, origin});
    return pairs;
  }
  static Status SaveOrigins(const std::string& pool_dir, const Pairs& pairs) {
    std::string text;
    for (const auto& p : pairs) text += std::to_string(p.first) + " " + std::to_string(p.second) + "\n";
    return WriteStateFile(pool_dir + ".origins", text, 0644);
  }

  // Block b of thin is shared if a thin it was snapshotted from, or that
  // was snapshotted from it, maps b with the same bytes.
  static bool Shared(const SnapPool& pool, const Pairs& pairs, const std::map<int64_t, std::set<int64_t>>& mapped,
                     int64_t thin, int64_t b) {
    for (const auto& p : pairs) {
      const int64_t other = p.first == thin ? p.second : p.second == thin ? p.first : 0;
      auto it = mapped.find(other);
      if (other && it != mapped.end() && it->second.count(b) &&
          SameBlock(pool.dir + "/" + std::to_string(thin), pool.dir + "/" + std::to_string(other), b, pool.block_bytes))
        return true;
    }
    return false;
  }

  static std::string ReadBlock(const std::string& file, int64_t b, uint64_t block_bytes) {
    std::string buf(block_bytes, '\0');
    int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "";
    const ssize_t n = pread(fd, &buf[0], buf.size(), static_cast<off_t>(b * block_bytes));
    close(fd);
    if (n < 0) return "";
    return buf;  // past the end reads zeros, as a thin device's unmapped tail
  }
  static bool SameBlock(const std::string& a, const std::string& b, int64_t block, uint64_t block_bytes) {
    const std::string x = ReadBlock(a, block, block_bytes);
    return !x.empty() && x == ReadBlock(b, block, block_bytes);
  }

  // A thin's file copied, holes kept: a fresh snapshot maps what its
  // origin maps.
  static Status CopySparse(const std::string& from, const std::string& to) {
    int in = open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return Status::Error(errno, "cannot open " + from);
    int out = open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
      close(in);
      return Status::Error(errno, "cannot create " + to);
    }
    const off_t size = lseek(in, 0, SEEK_END);
    int err = ftruncate(out, size) == 0 ? 0 : errno;
    std::string buf(1 << 20, '\0');
    for (off_t pos = 0; err == 0 && pos < size;) {
      const off_t data = lseek(in, pos, SEEK_DATA);
      if (data < 0) break;
      off_t hole = lseek(in, data, SEEK_HOLE);
      if (hole < 0) hole = size;
      for (off_t at = data; err == 0 && at < hole;) {
        const ssize_t n = pread(in, &buf[0], static_cast<size_t>(std::min<off_t>(hole - at, buf.size())), at);
        if (n <= 0 || pwrite(out, buf.data(), static_cast<size_t>(n), at) != n) err = n < 0 ? errno : EIO;
        at += n > 0 ? n : 0;
      }
      pos = hole;
    }
    close(in);
    close(out);
    return err ? Status::Error(err, "cannot copy " + from + " to " + to) : Status::OK();
  }

  // ENXIO, as the kernel's ioctls say, if there is no such device.
  Status Find(const std::string& name) {
    Tables all;
    VS_RETURN_IF_ERROR(Load(&all));
    return all.count(name) ? Status::OK() : Status::Error(ENXIO, "no device-mapper device " + name);
  }

  // The runs [first block, end block) of pool blocks (block_bytes each)
  // that a thin's file has data in.
  static Status MappedRuns(const std::string& file, uint64_t block_bytes, std::vector<std::pair<off_t, off_t>>* runs) {
    int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::Error(errno, "cannot open " + file);
    const off_t size = lseek(fd, 0, SEEK_END), block = static_cast<off_t>(block_bytes);
    for (off_t pos = 0; pos < size;) {
      const off_t data = lseek(fd, pos, SEEK_DATA);
      if (data < 0) break;  // ENXIO: no data past pos
      off_t hole = lseek(fd, data, SEEK_HOLE);
      if (hole < 0) hole = size;
      const off_t first = data / block, end = (hole + block - 1) / block;
      if (!runs->empty() && first <= runs->back().second)
        runs->back().second = std::max(runs->back().second, end);
      else
        runs->push_back({first, end});
      pos = hole;
    }
    close(fd);
    return Status::OK();
  }

  static Status MappedBlocks(const std::string& file, uint64_t block_bytes, std::set<int64_t>* out) {
    std::vector<std::pair<off_t, off_t>> runs;
    VS_RETURN_IF_ERROR(MappedRuns(file, block_bytes, &runs));
    for (const auto& r : runs)
      for (off_t b = r.first; b < r.second; ++b) out->insert(b);
    return Status::OK();
  }

  // A thin's <device> element: a range_mapping per run of mapped blocks.
  static Status DeviceXml(const std::string& file, int64_t thin_id, uint64_t block_bytes, std::string* out) {
    std::vector<std::pair<off_t, off_t>> runs;
    VS_RETURN_IF_ERROR(MappedRuns(file, block_bytes, &runs));
    off_t mapped = 0;
    std::string ranges;
    for (const auto& r : runs) {
      ranges += "    <range_mapping origin_begin=\"" + std::to_string(r.first) + "\" data_begin=\"" +
                std::to_string(mapped) + "\" length=\"" + std::to_string(r.second - r.first) + "\" time=\"0\"/>\n";
      mapped += r.second - r.first;
    }
    *out = "  <device dev_id=\"" + std::to_string(thin_id) + "\" mapped_blocks=\"" + std::to_string(mapped) +
           "\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n" + ranges + "  </device>\n";
    return Status::OK();
  }

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
  // A suspended raid's status: dm raid's presuspend froze its recovery
  // thread, so the action is "frozen", and the kernel may then show an
  // in-sync leg as 'a' (recovery flagged as needed); the sim always does.
  static std::string Frozen(const std::string& line) {
    std::istringstream in(line);
    std::string level, n, health, sync, action, rest;
    in >> level >> n >> health >> sync >> action;
    std::getline(in, rest);
    std::replace(health.begin(), health.end(), 'A', 'a');
    return level + " " + n + " " + health + " " + sync + " frozen" + rest;
  }

  std::string SimRaidStatus(const std::string& name, const DmTarget& t) {
    const std::string path = DevicePath(name);
    std::string forced;
    const bool suspended = Exists(path + ".suspended");
    if (suspended && ReadStateFile(path + ".status-suspended", &forced).ok()) return forced.substr(0, forced.find('\n'));
    std::string line = ReadStateFile(path + ".status", &forced).ok() ? forced.substr(0, forced.find('\n')) : RaidStatus(t);
    return suspended ? Frozen(line) : line;
  }

  static std::string RaidStatus(const DmTarget& t) {
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
    return level + " " + std::to_string(ndevs) + " " + health + " " + std::to_string(t.length) + "/" +
           std::to_string(t.length) + " idle 0 0 -";
  }

  // The sectors of a device: its table's length if it is one of ours.
  uint64_t Length(const Tables& all, const std::string& path) {
    for (const auto& d : all)
      if (DevicePath(d.first) == path) return d.second.back().start + d.second.back().length;
    return 0;
  }

  // Where a thin-pool's metadata lives: "<disk> <offset>" of the linear
  // device under it (the pool's identity across activations).
  std::string MetaPlace(const Tables& all, const DmTarget& pool) {
    std::istringstream in(pool.params);
    std::string meta;
    in >> meta;
    for (const auto& d : all)
      if (DevicePath(d.first) == meta && d.second[0].type == "linear") return d.second[0].params;
    return meta + " 0";
  }

  std::string PoolDir(const Tables& all, const DmTarget& pool) { return PoolDirOf(MetaPlace(all, pool)); }
  std::string PoolDirOf(std::string key) {
    for (char& c : key)
      if (!isalnum(static_cast<unsigned char>(c))) c = '_';
    return dir_ + "/thin/" + key;
  }

  // As dm-thin does: all-zero metadata is a new pool (its thins are
  // forgotten); the sim then marks the metadata as in use.
  Status ActivatePool(const Tables& all, const DmTarget& pool) {
    std::istringstream in(MetaPlace(all, pool));
    std::string disk;
    uint64_t offset = 0;
    in >> disk >> offset;
    const std::string dir = PoolDir(all, pool);
    int fd = open(disk.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      char super[4096] = {0};
      const ssize_t n = pread(fd, super, sizeof super, static_cast<off_t>(offset * 512));
      static const char kMark[] = "vastsky sim thin-pool metadata\n";
      if (n <= 0 || std::all_of(super, super + n, [](char c) { return c == 0; })) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
        std::filesystem::remove(dir + ".snap", ec);
        std::filesystem::remove(dir + ".origins", ec);
        const ssize_t w = pwrite(fd, kMark, sizeof kMark - 1, static_cast<off_t>(offset * 512));
        close(fd);
        if (w != sizeof kMark - 1) return Status::Error(EIO, "cannot write the sim's pool metadata on " + disk);
      } else {
        close(fd);
      }
    }
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    return ec ? Status::Error(ec.value(), "cannot make " + dir) : Status::OK();
  }

  // "<pool device> <id>" -> the thin's file; ENODATA if the pool lacks it.
  Status ThinFile(const Tables& all, const std::string& params, std::string* file) {
    std::istringstream in(params);
    std::string pool;
    uint64_t id = 0;
    in >> pool >> id;
    for (const auto& d : all)
      if (DevicePath(d.first) == pool && d.second[0].type == "thin-pool") {
        *file = PoolDir(all, d.second[0]) + "/" + std::to_string(id);
        if (!Exists(*file)) return Status::Error(ENODATA, d.first + " has no thin " + std::to_string(id));
        return Status::OK();
      }
    return Status::Error(ENXIO, "no thin-pool " + pool);
  }

  // "<transaction> <used meta>/<meta> <used data>/<data> <held root> <mode>
  // <discard> <no-space policy> <needs_check> <meta low water>", blocks of
  // 4 KiB (metadata) and of the pool's block size (data).
  std::string PoolStatus(const Tables& all, const DmTarget& pool) {
    std::istringstream in(pool.params);
    std::string meta, data;
    uint64_t block = 1;
    in >> meta >> data >> block;
    uint64_t used = 0, thins = 0;
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(PoolDir(all, pool), ec)) {
      struct stat st;
      if (stat(f.path().c_str(), &st) != 0) continue;
      ++thins;
      used += (static_cast<uint64_t>(st.st_blocks) + block - 1) / block;
    }
    const uint64_t total = Length(all, data) / std::max<uint64_t>(block, 1);
    const bool error = pool.params.find("error_if_no_space") != std::string::npos;
    const std::string held_root = Exists(PoolDir(all, pool) + ".snap") ? "1" : "-";
    std::string mode = used >= total ? "out_of_data_space" : "rw", needs_check = "-";
    if (ForcedMode(all, pool, &mode)) needs_check = "needs_check";
    if (mode == "fail") return "Fail";
    return "0 " + std::to_string(1 + thins) + "/" + std::to_string(Length(all, meta) / 8) + " " +
           std::to_string(used) + "/" + std::to_string(total) + " " + held_root + " " + mode +
           " discard_passdown " + (error ? "error_if_no_space" : "queue_if_no_space") + " " + needs_check + " 1024";
  }

  // A test's failing pool: the pool's ".needs_check" file holds the mode
  // dm-thin switched it to after I/O errors ("ro", or "fail"); like the
  // metadata flag it stands for, it outlives the pool's activation until
  // the sim's thin_check clears it.
  bool ForcedMode(const Tables& all, const DmTarget& pool, std::string* mode) {
    std::string text;
    if (!ReadStateFile(PoolDir(all, pool) + ".needs_check", &text).ok()) return false;
    std::istringstream in(text);
    if (!(in >> *mode)) *mode = "ro";
    return true;
  }

  // The "<path>.ro" marker as access says (one a crash left is cleared).
  Status SetAccess(const std::string& name, DmAccess access) {
    const std::string marker = DevicePath(name) + ".ro";
    if (access == DmAccess::kReadOnly) return WriteStateFile(marker, "", 0644);
    if (unlink(marker.c_str()) != 0 && errno != ENOENT) return Status::Error(errno, "cannot remove " + marker);
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

namespace {

class SimThinDumper : public ThinDumper {
 public:
  explicit SimThinDumper(const std::string& dir) : dm_(dir) {}
  Status Dump(const std::string& meta_device, int64_t thin_id, const std::string& xml_path) override {
    return dm_.DumpThin(meta_device, thin_id, xml_path);
  }

 private:
  SimDeviceMapper dm_;  // the same files as the agent's sim device-mapper
};

}  // namespace

std::unique_ptr<ThinDumper> NewSimThinDumper(const std::string& dir) {
  return std::unique_ptr<ThinDumper>(new SimThinDumper(dir));
}

namespace {

class SimThinChecker : public ThinChecker {
 public:
  explicit SimThinChecker(const std::string& dir) : dm_(dir) {}
  Status Check(const std::string& meta_device) override { return dm_.CheckThin(meta_device); }

 private:
  SimDeviceMapper dm_;  // the same files as the agent's sim device-mapper
};

}  // namespace

std::unique_ptr<ThinChecker> NewSimThinChecker(const std::string& dir) {
  return std::unique_ptr<ThinChecker>(new SimThinChecker(dir));
}

namespace {

class SimThinReports : public ThinReports {
 public:
  explicit SimThinReports(const std::string& dir) : dm_(dir) {}
  Status Delta(const std::string& meta_device, int64_t base_thin_id, int64_t thin_id,
               const std::string& xml_path) override {
    return dm_.DeltaThins(meta_device, base_thin_id, thin_id, xml_path);
  }
  Status List(const std::string& meta_device, const std::string& text_path) override {
    return dm_.ListThins(meta_device, text_path);
  }

 private:
  SimDeviceMapper dm_;  // the same files as the agent's sim device-mapper
};

}  // namespace

std::unique_ptr<ThinReports> NewSimThinReports(const std::string& dir) {
  return std::unique_ptr<ThinReports>(new SimThinReports(dir));
}

std::unique_ptr<IscsiInitiator> NewSimInitiator(const std::string& dir, const std::string& initiator_name) {
  return std::unique_ptr<IscsiInitiator>(new SimInitiator(dir, initiator_name));
}

}  // namespace vastsky
