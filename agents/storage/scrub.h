// Scrub: reads every exported disk end to end in the background at a
// bounded rate, so that a sector gone bad is found while the other legs of
// its mirror still hold the data, not during the rebuild that needs it.
// Each unreadable GiB is reported (the manager's notifyBadBlocks), and the
// manager moves the chunks there, not the whole disk.
// Run() on its own thread, which alone calls read, disks and report (so
// report gets a ManagerLink of its own); Stop() and Progress() from any
// thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "lib/status.h"

namespace vastsky {

struct ScrubOptions {
  int64_t rate_mibs = 32;   // read rate per pass; 0 = no scrub
  int64_t pause_s = 86400;  // rest between passes
};

struct ScrubDisk {
  int64_t pdsk_id = 0;
  std::string device;
};

// Where the scrub is on one disk, for /metrics.
struct ScrubProgress {
  int64_t done_bytes = 0, disk_bytes = 0;  // of the pass under way, or of the last one
  int64_t passes = 0;                      // passes ended since the agent started
  int64_t bad_gib_found = 0;               // unreadable GiB blocks found, in all
};

class Scrubber {
 public:
  // Reads length bytes at offset of device (EIO if unreadable).
  using ReadFn = std::function<Status(const std::string& device, int64_t offset, int64_t length)>;
  // The disks exported now, and the report of their bad GiB blocks.
  using DisksFn = std::function<std::vector<ScrubDisk>()>;
  using ReportFn = std::function<Status(int64_t pdsk_id, const std::vector<int64_t>& bad_gib)>;

  Scrubber(ScrubOptions options, ReadFn read, DisksFn disks, ReportFn report);
  // Passes until Stop(); a report that fails is made again next pass.
  void Run();
  void Stop();
  // Per pdsk id, the disks scrubbed or being scrubbed since the start.
  std::map<int64_t, ScrubProgress> Progress() const;
  // One pass over one disk of `bytes`: the GiB blocks that did not read.
  // ECANCELED if stopped meanwhile.
  Status ScrubOne(const ScrubDisk& disk, int64_t bytes, std::vector<int64_t>* bad_gib);

  // Reads with O_DIRECT, so the disk answers and not the page cache.
  static Status ReadDirect(const std::string& device, int64_t offset, int64_t length);

 private:
  // Sleeps `ms` unless stopped; false if stopped.
  bool Wait(int64_t ms);

  const ScrubOptions options_;
  ReadFn read_;
  DisksFn disks_;
  ReportFn report_;
  // Records how far the scrub of a disk is.
  void Note(int64_t pdsk_id, int64_t done, int64_t bytes, int64_t passes_ended, int64_t bad);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::map<int64_t, ScrubProgress> progress_;
};

}  // namespace vastsky
