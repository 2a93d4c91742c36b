// The head agent's test suites' common ground: volumes as the manager
// describes them to a head, an assembly's options under a scratch
// directory, and a word list joined for one assertion.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agents/head/assembly.h"
#include "agents/head/volume_spec.h"

namespace vastsky {
namespace head_test {

inline LegSpec Leg(int64_t chunk, int64_t pdsk, int status) {
  LegSpec l;
  l.chunk_id = chunk;
  l.pdsk_id = pdsk;
  l.portals = {"10.0.0." + std::to_string(pdsk) + ":3260"};
  l.length_mib = 1024;
  l.status = status;
  return l;
}

// lvol `id` of `mirrors` 1 GiB mirrors, two legs each on disks 2m+1, 2m+2.
inline VolumeSpec Volume(int64_t id, int mirrors, int status = 1, int64_t first_pdsk = 1) {
  VolumeSpec v;
  v.lvol_id = id;
  v.name = "vol" + std::to_string(id);
  for (int i = 0; i < mirrors; ++i) {
    MirrorSpec m;
    m.mirror_id = id * 100 + i;
    m.offset_gib = i;
    m.capacity_gib = 1;
    m.legs = {Leg(id * 1000 + 2 * i, first_pdsk + 2 * i, status), Leg(id * 1000 + 2 * i + 1, first_pdsk + 2 * i + 1, status)};
    v.mirrors.push_back(m);
  }
  return v;
}

// Links and records under dir, 5 s kernel calls, clock and freezer as given.
inline AssemblyOptions Options(const std::string& dir, const Clock* clock, Freezer* freezer) {
  AssemblyOptions o;
  o.link_dir = dir + "/dev/vastsky";
  o.records_dir = dir + "/volumes";
  o.kernel_timeout_ms = 5000;
  o.clock = clock;
  o.freezer = freezer;
  return o;
}

// A head over the simulated kernel under dir (dm, initiator, assembly, as
// the head agent's host=sim has them); a previous assembly goes first.
inline void OpenSimHead(const std::string& dir, std::unique_ptr<DeviceMapper>* dm,
                        std::unique_ptr<IscsiInitiator>* iscsi, std::unique_ptr<Assembly>* assembly) {
  assembly->reset();
  *dm = NewSimDeviceMapper(dir + "/dm");
  *iscsi = NewSimInitiator(dir + "/iscsi", "iqn.2024-01.org.vastsky.test:head");
  mkdir((dir + "/iscsi").c_str(), 0755);
  assembly->reset(new Assembly(Options(dir, nullptr, nullptr), dm->get(), iscsi->get()));
}

inline std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

}  // namespace head_test
}  // namespace vastsky
