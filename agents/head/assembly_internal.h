// What the head's assembly files share (assembly.cc: attach, detach,
// rebuild, watch; grow.cc: growing an assembled volume; trim.cc: trimming
// rebuilt legs): the device names, the sector units, and the pieces a Plan
// is built from. Not for other users: include agents/head/assembly.h.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agents/head/assembly.h"
#include "agents/head/plan.h"

namespace vastsky {
namespace assembly_internal {

constexpr uint64_t kSectorsPerMib = 2048, kSectorsPerGib = 2097152;
constexpr uint64_t kMetaSectors = kSectorsPerMib;  // manager/types.h kMetaMib
constexpr char kPrefix[] = "vastsky-";

inline std::string VolumeDm(int64_t lvol) { return kPrefix + std::to_string(lvol); }
inline std::string MirrorDm(int64_t lvol, int64_t mirror) { return VolumeDm(lvol) + "-m" + std::to_string(mirror); }
inline std::string SliceDm(int64_t lvol, int64_t chunk, const char* part) {
  return VolumeDm(lvol) + "-c" + std::to_string(chunk) + "-" + part;
}
// A leg's slices of its own LUN: dm-raid metadata in the first MiB, data after.
inline std::vector<DmTarget> MetaTable(const std::string& lun) { return {{0, kMetaSectors, "linear", lun + " 0"}}; }
inline std::vector<DmTarget> DataTable(const std::string& lun, uint64_t sectors) {
  return {{0, sectors, "linear", lun + " " + std::to_string(kMetaSectors)}};
}

// How the volume's top device is loaded (the raids and slices: always
// read-write).
inline DmAccess Access(const VolumeSpec& spec) { return spec.read_only ? DmAccess::kReadOnly : DmAccess::kReadWrite; }

// After an attach or grow: the legs hold data from now on, so a
// re-assembly must neither zero their metadata nor skip their resync.
// Fresh legs beside written ones, which dm raid fills, are to be trimmed.
void MarkWritten(MirrorSpec* m);

}  // namespace assembly_internal

// Built once per attach, detach or grow: what the LUN steps found, for
// the slice steps that follow them (steps run on the Plan's threads).
struct Assembly::Context {
  std::mutex mu;
  std::map<int64_t, std::string> luns;  // chunk id -> SCSI disk of its leg's LUN
  // Disks whose sessions this call must never log out of, even undoing:
  // a grown volume's existing mirrors use them. Set before the plan runs.
  std::set<int64_t> keep_sessions;
  std::string Lun(int64_t chunk) {
    std::lock_guard<std::mutex> lock(mu);
    return luns[chunk];
  }
};

// One piece of a volume: `up` builds it (or adopts it), `down` removes it
// (gone already is fine). deps index earlier nodes that must be up first.
struct Assembly::Node {
  std::string name;
  std::vector<int> deps;
  Plan::Fn up, down;
};

}  // namespace vastsky
