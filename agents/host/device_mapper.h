// The head server's device-mapper, behind an interface so the head agent's
// logic runs against a fake in unit tests and against the kernel (through
// libdevmapper, never by shelling out to dmsetup) in the VM lab.
// Sizes and offsets are 512-byte sectors, as in dm tables.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/status.h"

namespace vastsky {

struct DmTarget {
  uint64_t start = 0, length = 0;
  std::string type;    // "linear", "raid", "striped" ...
  std::string params;  // the table line after "<start> <length> <type>"
};

// How a table is loaded. A device loaded kReadOnly refuses writes (its
// disk is read-only: BLKROGET 1, write(2) EPERM) and opens what its table
// names read-only; the mode is each load's, so a reload without it makes
// the device writable again.
enum class DmAccess { kReadWrite, kReadOnly };

struct DmInfo {
  bool exists = false;
  bool suspended = false;
  bool read_only = false;  // its live table was loaded kReadOnly
  int open_count = 0;
  uint32_t major = 0, minor = 0;
};

// A block device's I/O counters as the kernel keeps them since the device
// was made (/sys/dev/block/<major>:<minor>/stat; the kernel's
// Documentation/block/stat.rst). Times are milliseconds; queue_ms is the
// time requests spent in flight, summed over them.
struct BlockIoStats {
  uint64_t reads = 0, read_sectors = 0, read_ms = 0;
  uint64_t writes = 0, write_sectors = 0, write_ms = 0;
  uint64_t discards = 0, discard_sectors = 0, discard_ms = 0;
  uint64_t in_flight = 0, io_ms = 0, queue_ms = 0;
};

// One line of a stat file: 11 numbers (kernels before 4.18), 15 (with
// discards) or 17 (with flushes). EPROTO for anything else.
Status ParseBlockStat(const std::string& line, BlockIoStats* out);

class DeviceMapper {
 public:
  virtual ~DeviceMapper() = default;
  // EEXIST if the name is taken; on failure nothing is left behind.
  virtual Status Create(const std::string& name, const std::vector<DmTarget>& table,
                        DmAccess access = DmAccess::kReadWrite) = 0;
  // EBUSY if the device is open; ENOENT if it does not exist.
  virtual Status Remove(const std::string& name) = 0;
  // Loads a new table and swaps it in (suspend without flushing, resume), so
  // held I/O completes on the new table instead of failing. The device
  // takes access with the new table.
  virtual Status Replace(const std::string& name, const std::vector<DmTarget>& table,
                         DmAccess access = DmAccess::kReadWrite) = 0;
  virtual Status GetInfo(const std::string& name, DmInfo* info) = 0;
  virtual Status GetTable(const std::string& name, std::vector<DmTarget>* table) = 0;
  // The target's status line per segment (dm raid: "raid1 2 AA 2048/2048 idle 0 0 -").
  virtual Status GetStatus(const std::string& name, std::vector<DmTarget>* status) = 0;
  virtual Status List(std::vector<std::string>* names) = 0;
  // The device's I/O counters; ENOENT if it does not exist. The default is
  // EOPNOTSUPP, for fakes that do no I/O.
  virtual Status GetIoStats(const std::string& name, BlockIoStats* out);
  // A target message at sector 0 (dm-thin's pool: "create_thin 7",
  // "delete 7"). The errno is the target's: dm-thin says EEXIST for an id
  // it has, ENODATA for one it lacks.
  virtual Status Message(const std::string& name, const std::string& message) = 0;
  // Suspends with flush: I/O in flight completes, new I/O waits for
  // Resume. ENXIO if there is no such device.
  virtual Status Suspend(const std::string& name) = 0;
  // Resumes a suspended device; one not suspended is fine.
  virtual Status Resume(const std::string& name) = 0;
  // BLKDISCARD of length_sectors at offset_sectors of DevicePath(name), so
  // a thin device under it gets its blocks back. EOPNOTSUPP if the device
  // takes no discards (an iSCSI LUN without UNMAP); EINVAL past its end.
  virtual Status Discard(const std::string& name, uint64_t offset_sectors, uint64_t length_sectors) = 0;
  // The device node, "/dev/mapper/<name>" for the kernel's.
  virtual std::string DevicePath(const std::string& name) = 0;
};

// The kernel's, through libdevmapper. Device nodes are made by libdevmapper
// itself (no udev in the VM lab; on XCP udev may also create them).
std::unique_ptr<DeviceMapper> NewKernelDeviceMapper();
// A simulated device-mapper for tests without the kernel's: devices are
// regular files under dir (so they can be written and zeroed), tables and
// open counts live in dir/tables and survive the process, as the kernel's
// devices survive a daemon restart. A device counts as open while a file
// "<path>.open" exists (tests create it to play a VM holding the disk).
// dm-thin is emulated: a thin-pool's thin devices are files under
// dir/thin/<pool key>/<id> (the key names the metadata's place on its disk,
// so ids outlive the pool's activation, and zeroed metadata, as after a
// format, is a fresh pool); the pool's status counts their allocated blocks.
// A device's I/O counters are a stat line in "<path>.stat" (tests write
// it), else all zero: the sim maps no I/O.
// A raid is always whole unless a file "<path>.status" holds its status
// line. A suspended device has a file "<path>.suspended" (its I/O is not
// held: tests look for the file); a number in "<path>.suspend-errno" makes
// its Suspend fail with that errno. A device loaded kReadOnly has a file
// "<path>.ro" (no I/O is mapped, so a test's own writes to the file are not
// stopped; the sim's discards on it fail EROFS). A discard zeroes
// its range of the device's file and appends "<name> <offset> <length>" to
// dir/discards; while a file dir/stall-discard exists discards wait (a
// discard stuck on a dying path), and a number in dir/discard-errno makes
// them fail with that errno. A pool that saw I/O errors is the file
// dir/thin/<pool key>.needs_check holding its mode ("ro" or "fail"; its
// status then shows it with needs_check, across activations, until
// NewSimThinChecker clears it), damaged metadata dir/thin/<pool key>.damaged.
std::unique_ptr<DeviceMapper> NewSimDeviceMapper(const std::string& dir);
// Bounds every call of inner by timeout_ms (lib/deadline.h): a dm ioctl
// stuck on a dead path becomes ETIMEDOUT instead of a hung agent. Discards
// get discard_timeout_ms (0: timeout_ms), as a large one takes long.
std::unique_ptr<DeviceMapper> WithDeadlines(std::shared_ptr<DeviceMapper> inner, int timeout_ms,
                                            int discard_timeout_ms = 0);

}  // namespace vastsky
