// Chunk placement, in memory, over the free extents of every disk.
//
// The allocator is the fast index the manager consults inside a transaction;
// the database stays the truth. Every change is recorded in a Journal: the
// caller writes the journal's extent changes to the database in the same
// transaction, and calls Undo() if that transaction fails, which restores
// the allocator exactly (free lists are kept coalesced, so each operation
// has an exact inverse).
//
// Placement rules: the legs of one mirror go to distinct storage servers and
// distinct failure domains (a server without a domain is its own domain);
// each leg goes to the eligible disk with the lowest used/(size*weight),
// ties broken at random so that every disk's chunks have their other legs
// all over the pool (a rebuild then reads from everywhere, not from a few
// partners), and inside that disk to the start of the smallest free extent that fits
// (best fit keeps large holes for large chunks).
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lib/status.h"

namespace vastsky {

struct Extent {
  int64_t offset = 0;  // MiB
  int64_t length = 0;  // MiB
};

struct DiskSpec {
  int64_t id = 0;
  int64_t ssvr_id = 0;
  int64_t size_mib = 0;
  double weight = 1.0;
  bool allocatable = true;  // disk and server HIGH/LOW
};

// One leg placed: which disk and where its footprint starts.
struct Placement {
  int64_t pdsk_id = 0;
  int64_t ssvr_id = 0;
  int64_t offset = 0;  // MiB
  int64_t length = 0;  // MiB (the whole footprint)
};

// A change to one free extent, keyed by its old offset: old_offset < 0 means
// a new row, new_length == 0 means the row goes away.
struct ExtentChange {
  int64_t pdsk_id;
  int64_t old_offset;
  int64_t new_offset;
  int64_t new_length;
};

class Journal {
 public:
  const std::vector<ExtentChange>& changes() const { return changes_; }
  bool empty() const { return ops_.empty(); }

 private:
  friend class Allocator;
  struct Op {
    bool alloc;
    int64_t pdsk_id, offset, length;
  };
  std::vector<Op> ops_;
  std::vector<ExtentChange> changes_;
};

class Allocator {
 public:
  // Disks come and go with registration; free is the disk's coalesced free
  // list as stored. used is derived: size - sum(free).
  void AddDisk(const DiskSpec& spec, const std::vector<Extent>& free);
  void RemoveDisk(int64_t pdsk_id);
  void SetWeight(int64_t pdsk_id, double weight);
  void SetAllocatable(int64_t pdsk_id, bool allocatable);
  // Domain "" means the server is a domain of its own.
  void SetServerDomain(int64_t ssvr_id, const std::string& domain);

  // Places `legs` footprints of `length` MiB, avoiding the servers and the
  // domains of `keep` (legs that already exist). ENOSPC leaves nothing placed.
  // With `load` (queued rebuild work per disk), a replacement leg goes to
  // the least loaded eligible disk at most two chunks fuller than the least
  // full one: a disk already busy rebuilding would stretch the whole
  // rebuild, and two chunks hardly change the balance. With `source` (the
  // disk the rebuild will read), disks on the other RebuildSide come first
  // within that window (see rebuild_scheduler.h).
  Status PlaceMirror(int legs, int64_t length, const std::vector<Placement>& keep,
                     Journal* journal, std::vector<Placement>* out,
                     const std::unordered_map<int64_t, double>* load = nullptr, int64_t source = 0);
  // Reserves a footprint of `length` MiB on one given disk, allocatable or
  // not (a snapshot leg must share its origin leg's pool), best fit.
  // ENOSPC if no free extent there is long enough.
  Status PlaceOn(int64_t pdsk_id, int64_t length, Journal* journal, Placement* out);
  // Returns a footprint to the free list (coalescing with its neighbours).
  void Free(int64_t pdsk_id, int64_t offset, int64_t length, Journal* journal);
  // Reverts every operation of the journal, newest first.
  void Undo(Journal* journal);

  struct DiskUsage {
    int64_t size_mib = 0, used_mib = 0, largest_free = 0;
  };
  bool Usage(int64_t pdsk_id, DiskUsage* out) const;
  // MiB that new chunks may still use on a disk (0 if not allocatable).
  int64_t Available(int64_t pdsk_id) const;
  const std::map<int64_t, int64_t>* FreeList(int64_t pdsk_id) const;
  size_t disk_count() const { return disks_.size(); }
  // For tests: the first difference in disks, specs, free lists, fill
  // order and domains from `other` ("" if none). The random tie-breaking
  // salts are not compared.
  std::string Difference(const Allocator& other) const;

 private:
  struct Disk {
    DiskSpec spec;
    std::map<int64_t, int64_t> free;  // offset -> length, coalesced
    int64_t used = 0;
    int64_t largest = 0;
    bool indexed = false;
    double key = 0;
    uint64_t salt = 0;
  };
  void Unindex(Disk& d);
  void Reindex(Disk& d);
  void Recompute(Disk& d);
  int64_t DomainOf(int64_t ssvr_id) const;
  // Low-level moves on one disk's free list, recording the extent changes.
  void TakeRange(Disk& d, int64_t offset, int64_t length, Journal* j);
  void GiveRange(Disk& d, int64_t offset, int64_t length, Journal* j);
  // Takes `length` from the start of d's smallest free extent that fits
  // (the caller checked d.largest), recorded in the journal.
  Placement TakeBestFit(Disk& d, int64_t length, Journal* journal);

  std::unordered_map<int64_t, Disk> disks_;
  std::mt19937_64 rng_{0x5eed};
  // (fill key, salt, pdsk id). The salt, drawn anew at every reindex,
  // breaks ties so equally full disks are taken in a fresh random order in
  // every round, never in a fixed cycle that pairs the same disks.
  using OrderKey = std::tuple<double, uint64_t, int64_t>;
  std::set<OrderKey> order_;
  std::unordered_map<int64_t, std::string> server_domain_;
  std::map<std::string, int64_t> domain_ids_;
};

}  // namespace vastsky
