#include "tests/bench/random_placement.h"

#include <algorithm>
#include <random>

namespace vastsky {
namespace bench {

namespace {
// Each leg carries a 1 MiB dm-raid metadata slice, as in the manager.
constexpr double kMetaGib = 1.0 / 1024;
// Rejection sampling stays cheap while most disks have room; past this many
// misses the leg counts as unplaced rather than scanning every disk.
constexpr int kMaxTries = 100000;
}  // namespace

RandomPlacementResult SimulateRandomPlacement(const std::vector<ModelDisk>& disks,
                                              const std::vector<ModelVolume>& volumes,
                                              int64_t chunk_gib, uint64_t seed) {
  RandomPlacementResult r;
  if (disks.empty() || chunk_gib <= 0) return r;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, disks.size() - 1);
  std::vector<double> used(disks.size(), 0.0);
  std::vector<size_t> legs;
  for (const ModelVolume& v : volumes) {
    for (int64_t off = 0; off < v.capacity_gib; off += chunk_gib) {
      double need = static_cast<double>(std::min(chunk_gib, v.capacity_gib - off)) + kMetaGib;
      legs.clear();
      for (int leg = 0; leg < v.redundancy; ++leg) {
        bool placed = false;
        for (int t = 0; t < kMaxTries && !placed; ++t) {
          size_t d = pick(rng);
          if (disks[d].capacity_gib - used[d] < need) continue;
          bool clash = false;
          for (size_t o : legs)
            clash |= disks[o].server == disks[d].server || disks[o].domain == disks[d].domain;
          if (clash) continue;
          used[d] += need;
          legs.push_back(d);
          placed = true;
        }
        if (!placed) ++r.unplaced_legs;
      }
    }
  }
  double sum = 0, used_all = 0, cap_all = 0;
  for (size_t d = 0; d < disks.size(); ++d) {
    double f = used[d] / disks[d].capacity_gib;
    sum += f;
    used_all += used[d];
    cap_all += disks[d].capacity_gib;
    r.max_fraction = std::max(r.max_fraction, f);
  }
  r.mean_fraction = sum / static_cast<double>(disks.size());
  r.overall_fraction = used_all / cap_all;
  r.max_over_mean = r.mean_fraction > 0 ? r.max_fraction / r.mean_fraction : 0;
  return r;
}

}  // namespace bench
}  // namespace vastsky
