// A storage server's disk as a dm-thin pool behind a VastSky label, so a
// disk is known by what is on it, not by its path. Layout (MiB):
//   [0, 1)                         label: INI text in the first 4 KiB, zero-padded
//   [meta_offset, +meta_mib)       pool metadata
//   [data_offset, +data_mib)       pool data (a whole number of pool blocks)
// dm names never collide with a head's "vastsky-<digits>":
// vastsky-pool-<pdsk8hex>{-meta,-data,} and vastsky-thin-<pdsk8hex>-<thin_id>.
// The pool is created with error_if_no_space: a write that finds the pool
// full fails at once (EIO) instead of queueing, so dm raid fails that leg
// and the manager sees it (agents/PROTOCOL.md, "Disk layout").
// ThinPools is thread-safe: one lock, held across each call (kernel calls
// and thin_check included), except Mapped, Delta and Thins, which share a
// lock of their own (a pool has one metadata snapshot) so that thin_dump,
// thin_delta and thin_ls hold up no other call,
// and Repair, whose thin_check runs outside it (heartbeats read Usage
// meanwhile).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agents/host/device_mapper.h"
#include "lib/ids.h"
#include "lib/status.h"

namespace vastsky {

struct PoolLabel {
  int format = 1;
  std::string cluster;
  int64_t pdsk_id = 0;
  uint64_t block_sectors = 0, meta_offset_mib = 0, meta_mib = 0, data_offset_mib = 0, data_mib = 0;
};

struct PoolUsage {
  uint64_t data_used_mib = 0, data_mib = 0, meta_used_kib = 0, meta_kib = 0;
  std::string mode;  // dm-thin's: "rw", "out_of_data_space", "ro"; "fail" if the pool failed or is down
  bool needs_check = false;  // dm-thin set needs_check in the metadata (I/O errors): thin_check must run
};

// A thin's mapped (provisioned) blocks: [begin, count] in pool blocks of
// block_sectors, ascending, adjacent ones coalesced. A block not in a range
// reads zeros.
struct ThinMap {
  uint64_t block_sectors = 0;
  std::vector<std::pair<int64_t, int64_t>> ranges;
};

// thin_dump's XML of a pool's metadata, in the file xml_path -> the mapped
// blocks of thin_id: its device's range_mapping (origin_begin, length) and
// single_mapping (origin_block) elements, and the shared subtrees (def) it
// refs; block_sectors is the superblock's data_block_size. Strict, because
// a block missed would be discarded: any other element, a number that is
// not one, or a sum that differs from the device's mapped_blocks is EPROTO.
// ENOENT: no device thin_id. E2BIG: more than max_ranges ranges.
Status ParseThinDump(const std::string& xml_path, int64_t thin_id, size_t max_ranges, ThinMap* out);

// Writes one thin's part of a pool's metadata snapshot as thin_dump's XML.
// Implementations are thread-safe.
class ThinDumper {
 public:
  virtual ~ThinDumper() = default;
  // meta_device: the pool's metadata device, a snapshot reserved on it.
  // ETIMEDOUT if it overran; EIO with the tool's words if it failed.
  virtual Status Dump(const std::string& meta_device, int64_t thin_id, const std::string& xml_path) = 0;
};
// thin-provisioning-tools': `program --metadata-snap --dev-id N -o xml_path
// meta_device`, killed at timeout_ms.
std::unique_ptr<ThinDumper> NewThinDumpProgram(const std::string& program, int timeout_ms);

// A leg's thin device: its dm-raid metadata (superblock and write-intent
// bitmap; manager/types.h kMetaMib), then the leg's data.
constexpr uint64_t kLegMetaSectors = 2048;

// The blocks of a leg's thin device (thin, in pool blocks) as blocks of the
// leg's data: offsets from the data's start, the metadata part left out.
// The unit (out's block_sectors) is the pool block if it divides
// kLegMetaSectors, else kLegMetaSectors (a bigger block straddles the
// data's start: its data part is reported whole, never less).
ThinMap LegDataPart(const ThinMap& thin);

// thin_delta's XML (without --verbose) of --snap1 base_thin_id against
// --snap2 thin_id, in the file xml_path -> the blocks whose mapping differs
// (its different, left_only and right_only ranges; not same), merged, in
// pool blocks of the superblock's data_block_size. Strict, as
// ParseThinDump: any other element, a diff of other thins or none, a
// number that is not one, a length of 0: EPROTO. E2BIG: more than
// max_ranges ranges.
Status ParseThinDelta(const std::string& xml_path, int64_t base_thin_id, int64_t thin_id, size_t max_ranges,
                      ThinMap* out);

// A thin's pool space: what it maps, and what it maps that no other thin
// shares (what deleting it would free), in MiB rounded up.
struct ThinUsage {
  int64_t thin_id = 0;
  uint64_t mapped_mib = 0, exclusive_mib = 0;
};
// `thin_ls --no-headers -o DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS`'s output
// (text), blocks of block_sectors (a power of two) -> a ThinUsage per line,
// in its order.
// Each line is three decimals separated by blanks; anything else, an id
// outside 1..kMaxThinId or twice, more exclusive than mapped: EPROTO.
Status ParseThinLs(const std::string& text, uint64_t block_sectors, std::vector<ThinUsage>* out);

// thin_delta and thin_ls on a pool's metadata snapshot, behind an interface
// so the simulated pools report themselves. Implementations are
// thread-safe. meta_device: the pool's metadata device, a snapshot
// reserved on it. ETIMEDOUT if the tool overran; EIO with its words if it
// failed.
class ThinReports {
 public:
  virtual ~ThinReports() = default;
  // thin_delta's XML of --snap1 base_thin_id --snap2 thin_id into
  // xml_path. ENOENT: the metadata has no such thin (either).
  virtual Status Delta(const std::string& meta_device, int64_t base_thin_id, int64_t thin_id,
                       const std::string& xml_path) = 0;
  // thin_ls's lines (--no-headers -o DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS)
  // for every thin into text_path.
  virtual Status List(const std::string& meta_device, const std::string& text_path) = 0;
};
// thin-provisioning-tools': `thin_delta --metadata-snap --snap1 B --snap2 T
// meta_device` and `thin_ls --metadata-snap --no-headers -o ...
// meta_device`, their stdout to the file, killed at timeout_ms.
std::unique_ptr<ThinReports> NewThinReportPrograms(const std::string& thin_delta, const std::string& thin_ls,
                                                   int timeout_ms);
// The simulated device-mapper's (NewSimDeviceMapper(dir)), in the tools'
// formats: EIO unless the sim's pool holds a snapshot. A block differs if
// it is mapped (SEEK_DATA) in one thin's file only, or in both with other
// bytes. A mapped block is exclusive unless the same block of a thin this
// one was snapshotted from, or that was snapshotted from it, holds the same
// bytes.
std::unique_ptr<ThinReports> NewSimThinReports(const std::string& dir);
// The simulated device-mapper's (NewSimDeviceMapper(dir)): a thin's mapped
// blocks are the pool blocks its file has data in (SEEK_DATA: written
// since the thin was made, zeros included, as dm-thin provisions a block
// at its first write); EIO unless the sim's pool holds a snapshot.
std::unique_ptr<ThinDumper> NewSimThinDumper(const std::string& dir);

// thin_check on a pool's metadata, behind an interface so the simulated
// pools check themselves. Implementations are thread-safe.
class ThinChecker {
 public:
  virtual ~ThinChecker() = default;
  // meta_device: the metadata of a pool that is not active. OK: sound, and
  // its needs_check flag cleared. EUCLEAN with the tool's words: damaged.
  // ETIMEDOUT: it overran. Another errno: it could not run.
  virtual Status Check(const std::string& meta_device) = 0;
};
// thin-provisioning-tools': `program -q --clear-needs-check-flag
// meta_device`, killed at timeout_ms.
std::unique_ptr<ThinChecker> NewThinCheckProgram(const std::string& program, int timeout_ms);
// The simulated device-mapper's (NewSimDeviceMapper(dir)): EUCLEAN while
// the file thin/<pool key>.damaged exists, else it clears the pool's
// needs_check (removes thin/<pool key>.needs_check); EBUSY if the pool is
// active.
std::unique_ptr<ThinChecker> NewSimThinChecker(const std::string& dir);

struct ThinPoolOptions {
  std::string thin_check = "/usr/sbin/thin_check";  // unless a ThinChecker is given
  int thin_check_timeout_ms = 600000;
  std::string thin_dump = "/usr/sbin/thin_dump";  // for Mapped, unless a ThinDumper is given
  int thin_dump_timeout_ms = 10000;  // also thin_delta's and thin_ls's
  std::string thin_delta = "/usr/sbin/thin_delta";  // for Delta, unless ThinReports are given
  std::string thin_ls = "/usr/sbin/thin_ls";        // for Thins, likewise
  std::string dump_dir = "/tmp";  // where the tools' output goes for a moment
  // Pool block for Format: a power of two, 64 KiB .. 1 GiB. 64 KiB, by
  // tests/vmlab/thin-blocksize.sh (TCG, tmpfs): random 4 KiB writes to
  // fresh space ran at about 400 IOPS with 64 KiB blocks, 200 with 256 KiB,
  // 60 with 1 MiB (rewrites 1,200-3,500 for all: dm-thin zeroes the rest
  // of each new block), for 12 GiB of metadata on a 16 TiB disk (3 GiB,
  // 768 MiB), 0.07% of it.
  uint64_t block_sectors = 128;
};

constexpr int kPoolLabelFormat = 1;

std::string PoolName(int64_t pdsk_id);
std::string ThinName(int64_t pdsk_id, int64_t thin_id);
// The layout Format writes on a disk of disk_sectors (cluster and pdsk_id
// left unset). Metadata: 48 bytes per data block (dm-thin's guide in the
// kernel's thin-provisioning.txt), at least 16 MiB, at most what dm-thin
// can use (16320 MiB). EINVAL for a bad block size or a disk too small.
Status PlanPool(uint64_t disk_sectors, uint64_t block_sectors, PoolLabel* out);
// EXDEV unless the label is this cluster's.
Status CheckPoolCluster(const PoolLabel& label, const std::string& cluster, const std::string& device);
std::string FormatPoolLabel(const PoolLabel& label);

class ThinPools {
 public:
  // dumper: how Mapped reads metadata; null runs options.thin_dump.
  // checker: how Open and Repair check it; null runs options.thin_check.
  // reports: how Delta and Thins read it; null runs options.thin_delta
  // and options.thin_ls.
  ThinPools(std::shared_ptr<DeviceMapper> dm, ThinPoolOptions options, std::shared_ptr<ThinDumper> dumper = nullptr,
            std::shared_ptr<ThinChecker> checker = nullptr, std::shared_ptr<ThinReports> reports = nullptr);

  // ENOENT: no label and the first MiB reads zeros (Format may be called).
  // EMEDIUMTYPE: the old slice layout (a dm-raid superblock at sector 0)
  // or foreign data: never formatted. EPROTO: an unknown label format, or
  // a label that does not fit the disk.
  Status ReadLabel(const std::string& device, PoolLabel* out);
  // The label Format would write on device (cluster and pdsk id unset):
  // its data_mib is the capacity a blank disk registers with.
  Status Plan(const std::string& device, PoolLabel* out);
  // Writes the label of a fresh pool on a disk ReadLabel calls blank (its
  // errno otherwise; EEXIST if labelled). The metadata's superblock is
  // zeroed first and the label written last, so a crash leaves a blank disk.
  Status Format(const std::string& device, const std::string& cluster, int64_t pdsk_id, PoolLabel* out);
  // thin_check (unless the metadata is new) and activation. Idempotent:
  // adopts a pool already active with the same table; EBUSY if active with
  // another, or while Repair runs on it. EUCLEAN if thin_check finds the
  // metadata damaged (the error names the disk and the thin_repair
  // command), ETIMEDOUT if it overruns.
  Status Open(const std::string& device, const PoolLabel& label);
  // Brings an open pool that saw I/O errors back (agents/PROTOCOL.md,
  // "Repairing a pool"): EBUSY, touching nothing, if its mode is rw or
  // out_of_data_space without needs_check (nothing to repair) or a repair
  // of it runs; ENOENT if it is not open here. Else withdraw() (the caller
  // takes away every user of its thin devices: their LUNs), then its thin
  // devices and the pool are deactivated (-meta and -data stay), thin_check
  // runs (outside the lock, bounded by thin_check_timeout) and the pool is
  // activated again; its thins are the caller's to activate (ActivateThin).
  // From the deactivation on, until an activation succeeds, the pool is
  // down: Usage says mode "fail" with needs_check, the thin calls ENXIO, and
  // Repair may run again (after a thin_repair by hand). Faults: withdraw's,
  // the device-mapper's (EBUSY: a thin device still open), Open's check's
  // (EUCLEAN: damaged, naming the thin_repair to do; ETIMEDOUT).
  Status Repair(int64_t pdsk_id, const std::function<Status()>& withdraw);
  // Creates thin_id (size_mib) if missing and activates it; *device its
  // path. Never EEXIST: the same id twice is fine. ENOSPC if the pool is
  // out of data space. ENOENT if the pool is not open here.
  Status CreateThin(int64_t pdsk_id, int64_t thin_id, int64_t size_mib, std::string* device);
  // Activates an existing thin (ENOENT if the pool has no such id).
  Status ActivateThin(int64_t pdsk_id, int64_t thin_id, int64_t size_mib, std::string* device);
  // Deactivates and deletes; absent is fine. EBUSY if the dm device is open.
  Status DeleteThin(int64_t pdsk_id, int64_t thin_id);
  // dm-thin's status; a pool down (see Repair) or being repaired: mode
  // "fail", needs_check, its sizes from the label, nothing used.
  Status Usage(int64_t pdsk_id, PoolUsage* out);
  // thin_id's mapped blocks now, read from a metadata snapshot of the live
  // pool: reserve_metadata_snap, the ThinDumper, release_metadata_snap
  // (always, whatever failed). A snapshot already held (left by a crash:
  // dm-thin says EBUSY) is released and the reserve retried once. ENOENT:
  // the pool is not open here or has no such thin; EINVAL: thin_id outside
  // 1..kMaxThinId; E2BIG: more than kMaxLegMapRanges ranges; ETIMEDOUT:
  // the dump overran.
  Status Mapped(int64_t pdsk_id, int64_t thin_id, ThinMap* out);
  // Makes thin_id a dm-thin snapshot of origin_thin_id (create_snap). The
  // origin's thin device, if active, is suspended (with flush: what its
  // writers were told is written is in the snapshot) for the message and
  // resumed whatever happened; a resume that fails is the error. thin_id
  // existing already is OK (ids are never reused: a repeat). EINVAL: ids
  // outside 1..kMaxThinId or equal; ENOENT: the pool is not open here or
  // has no origin_thin_id; ENOSPC: the pool is not rw (out of data space,
  // ro, failed) or the kernel says so (metadata full); the kernel's errno
  // otherwise.
  Status Snapshot(int64_t pdsk_id, int64_t origin_thin_id, int64_t thin_id);
  // The blocks of thin_id's data part (LegDataPart) whose mapping differs
  // from base_thin_id's, read with thin_delta from a metadata snapshot as
  // Mapped reads one. ENOENT: the pool is not open here or lacks either
  // thin; EINVAL, E2BIG, ETIMEDOUT: as Mapped; EPROTO: thin_delta's output
  // does not parse.
  Status Delta(int64_t pdsk_id, int64_t base_thin_id, int64_t thin_id, ThinMap* out);
  // Every thin of the pool, read with thin_ls from a metadata snapshot: the
  // whole thin device (its leg's metadata part included: pool space is
  // what this is for). Faults as Delta's.
  Status Thins(int64_t pdsk_id, std::vector<ThinUsage>* out);
  // The pdsk ids of the pools Open brought up, in order.
  std::vector<int64_t> Opened();
  // Removes the dump files of Mapped that a killed agent left in dump_dir
  // (up to tens of MiB each). Only for a dump_dir of this agent's own
  // (its state_dir), at start, before Mapped is called.
  void RemoveLeftoverDumps();

 private:
  Status PoolPath(int64_t pdsk_id, std::string* path);
  Status Activate(int64_t pdsk_id, int64_t thin_id, int64_t size_mib, std::string* device);
  Status EnsureDevice(const std::string& name, const DmTarget& table);
  Status CheckMetadata(const std::string& device, const PoolLabel& label);
  // The rest of Open once the metadata is checked (or the pool is active).
  Status ActivatePool(const std::string& device, const PoolLabel& label);
  // Repair's first step: the pool's label and disk, marked as repairing.
  Status StartRepair(int64_t pdsk_id, PoolLabel* label, std::string* device);
  // Removes the pool's thin devices and the pool (marked down first).
  Status Deactivate(int64_t pdsk_id);
  Status UsageLocked(int64_t pdsk_id, PoolUsage* out);
  Status ReserveSnapshot(const std::string& pool);
  // read(meta_device) on a metadata snapshot of the pool: reserved, read,
  // released whatever failed; one at a time (snapshot_mu_).
  // *block_sectors: the pool's block, by its label, before read runs.
  Status OnMetadataSnap(int64_t pdsk_id, uint64_t* block_sectors, const std::function<Status(const std::string&)>& read);
  // EPROTO unless the metadata's block (seen) is the label's (want).
  Status CheckBlock(int64_t pdsk_id, uint64_t want, uint64_t seen);
  // use(path) on a fresh file in dump_dir, removed after.
  Status WithDumpFile(const std::function<Status(const std::string&)>& use);
  Status DumpMap(int64_t pdsk_id, int64_t thin_id, ThinMap* out);
  // The create_snap message, its errnos as Snapshot says.
  Status SnapMessage(int64_t pdsk_id, int64_t origin_thin_id, int64_t thin_id);

  std::mutex mu_;
  std::mutex snapshot_mu_;  // Mapped's, Delta's, Thins': one metadata snapshot per pool
  std::shared_ptr<DeviceMapper> dm_;
  const ThinPoolOptions options_;
  std::shared_ptr<ThinDumper> dumper_;
  std::shared_ptr<ThinChecker> checker_;
  std::shared_ptr<ThinReports> reports_;
  std::map<int64_t, PoolLabel> open_;  // pdsk id -> label of its pool, once Open succeeded
  std::map<int64_t, std::string> disk_of_;  // pdsk id -> its disk, for Repair
  std::set<int64_t> repairing_, down_;      // see Repair
};

}  // namespace vastsky
