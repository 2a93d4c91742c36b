#include "agents/storage/scrub.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

#include "agents/host/disk_size.h"
#include "lib/ids.h"
#include "lib/log.h"

namespace vastsky {

namespace {

constexpr int64_t kBlock = 1 << 20;  // one read
constexpr int64_t kGib = int64_t{1} << 30;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Scrubber::Scrubber(ScrubOptions options, ReadFn read, DisksFn disks, ReportFn report)
    : options_(options), read_(std::move(read)), disks_(std::move(disks)), report_(std::move(report)) {}

Status Scrubber::ReadDirect(const std::string& device, int64_t offset, int64_t length) {
  int fd = open(device.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  // Some file systems (tmpfs, for test disks) refuse O_DIRECT.
  if (fd < 0 && errno == EINVAL) fd = open(device.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Error(errno, "open " + device + ": " + strerror(errno));
  void* raw = nullptr;
  if (posix_memalign(&raw, 4096, static_cast<size_t>(length)) != 0) {
    close(fd);
    return Status::Error(ENOMEM, "no memory for a scrub buffer");
  }
  std::unique_ptr<void, decltype(&free)> buf(raw, &free);
  int64_t done = 0;
  Status st;
  while (done < length) {
    ssize_t n = pread(fd, static_cast<char*>(buf.get()) + done, static_cast<size_t>(length - done), offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = Status::Error(errno, device + " at byte " + std::to_string(offset + done) + ": " + strerror(errno));
      break;
    }
    if (n == 0) break;  // the end of the disk
    done += n;
  }
  close(fd);
  return st;
}

bool Scrubber::Wait(int64_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_; });
  return !stop_;
}

Status Scrubber::ScrubOne(const ScrubDisk& disk, int64_t bytes, std::vector<int64_t>* bad_gib) {
  const int64_t start = NowMs();
  for (int64_t at = 0; at < bytes;) {
    const int64_t length = std::min(kBlock, bytes - at);
    Status st = read_(disk.device, at, length);
    if (!st.ok()) {
      // The rest of this GiB is the manager's to move anyway.
      VS_LOG_WARN("scrub: %s unreadable: %s", FormatId("pdsk", disk.pdsk_id).c_str(), st.ToString().c_str());
      bad_gib->push_back(at / kGib);
      at = (at / kGib + 1) * kGib;
    } else {
      at += length;
    }
    Note(disk.pdsk_id, at, bytes, 0, 0);
    // Hold the pace: `at` bytes should have taken at / rate.
    const int64_t due_ms = at * 1000 / (options_.rate_mibs * kBlock), late_ms = NowMs() - start;
    if (due_ms > late_ms && !Wait(due_ms - late_ms)) return Status::Error(ECANCELED, "scrub stopped");
    if (due_ms <= late_ms && !Wait(0)) return Status::Error(ECANCELED, "scrub stopped");
  }
  return Status::OK();
}

void Scrubber::Run() {
  if (options_.rate_mibs <= 0) return;
  std::map<int64_t, std::vector<int64_t>> unreported;
  while (true) {
    int64_t disks = 0, gib = 0, bad = 0;
    for (const ScrubDisk& d : disks_()) {
      int64_t sectors = 0;
      Status st = DiskSectors(d.device, &sectors);
      if (!st.ok()) {
        VS_LOG_WARN("scrub: cannot size %s: %s", d.device.c_str(), st.ToString().c_str());
        continue;
      }
      std::vector<int64_t> found;
      st = ScrubOne(d, sectors * 512, &found);
      if (st.code() == ECANCELED) return;
      Note(d.pdsk_id, sectors * 512, sectors * 512, 1, static_cast<int64_t>(found.size()));
      ++disks;
      gib += sectors * 512 / kGib;
      bad += found.size();
      std::vector<int64_t>& pending = unreported[d.pdsk_id];
      pending.insert(pending.end(), found.begin(), found.end());
      if (pending.empty()) continue;
      st = report_(d.pdsk_id, pending);
      if (st.ok()) {
        VS_LOG_WARN("scrub: %zu bad GiB block(s) of %s reported to the manager, which moves the chunks there",
                    pending.size(), FormatId("pdsk", d.pdsk_id).c_str());
        pending.clear();
      } else {
        VS_LOG_ERROR("scrub: cannot report the bad blocks of %s yet: %s", FormatId("pdsk", d.pdsk_id).c_str(),
                     st.ToString().c_str());
      }
    }
    if (disks > 0)
      VS_LOG_INFO("scrub pass done: %lld disk(s), %lld GiB read, %lld bad GiB block(s); next pass in %lld s",
                  static_cast<long long>(disks), static_cast<long long>(gib), static_cast<long long>(bad),
                  static_cast<long long>(options_.pause_s));
    if (!Wait(options_.pause_s * 1000)) return;
  }
}

void Scrubber::Note(int64_t pdsk_id, int64_t done, int64_t bytes, int64_t passes_ended, int64_t bad) {
  std::lock_guard<std::mutex> lock(mu_);
  ScrubProgress& p = progress_[pdsk_id];
  p.done_bytes = done;
  p.disk_bytes = bytes;
  p.passes += passes_ended;
  p.bad_gib_found += bad;
}

std::map<int64_t, ScrubProgress> Scrubber::Progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  return progress_;
}

void Scrubber::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

}  // namespace vastsky
