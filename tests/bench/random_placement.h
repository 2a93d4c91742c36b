// What naive placement would have done with the same disks and volumes: each
// leg on a uniformly random disk that still has room, legs of one mirror on
// distinct servers and domains. The benchmark prints its max/mean next to the
// manager's so a reader sees the baseline the balancing target is measured
// against. Pure arithmetic; the manager is not involved.
#pragma once

#include <cstdint>
#include <vector>

namespace vastsky {
namespace bench {

struct ModelDisk {
  int server = 0;
  int domain = 0;
  double capacity_gib = 0;
};

struct ModelVolume {
  int64_t capacity_gib = 0;
  int redundancy = 2;
};

struct RandomPlacementResult {
  double max_over_mean = 0;  // of the per-disk used fraction
  double max_fraction = 0;
  double mean_fraction = 0;
  double overall_fraction = 0;  // all used over all capacity
  int64_t unplaced_legs = 0;  // legs that found no disk with room
};

RandomPlacementResult SimulateRandomPlacement(const std::vector<ModelDisk>& disks,
                                              const std::vector<ModelVolume>& volumes,
                                              int64_t chunk_gib, uint64_t seed);

}  // namespace bench
}  // namespace vastsky
