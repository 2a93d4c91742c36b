// What listRebuilds and getClusterStatus say about rebuilds: the queue's rows
// (manager/store.h ListRebuilds) joined with how far each running one has
// come (manager/rebuild_progress.h). Pure functions; thread-safe as their
// inputs are (RebuildProgress is).
#pragma once

#include <cstdint>
#include <vector>

#include "manager/rebuild_progress.h"
#include "manager/types.h"

namespace vastsky {

struct RebuildRow {
  RebuildInfo info;
  int64_t total_mib = 0, done_mib = 0;
  double rate_mibs = 0;  // MiB/s at present; 0 = not known (queued, or no two readings yet)
  int64_t eta_s = -1;    // -1 = not known
  int64_t stalled_s = 0;
};

struct RebuildTotals {
  int64_t total_mib = 0;  // every queued and running rebuild's size
  int64_t left_mib = 0;   // and what of it is still to copy
  double rate_mibs = 0;  // the running ones' rates together
  int64_t eta_s = -1;    // left at that rate; -1 = not known; 0 = nothing left
  int64_t longest_stall_s = 0;  // the running rebuild longest without progress
  int64_t stalled = 0;          // running rebuilds without progress for at least `stall_s` (SumRebuilds' argument)
};

RebuildRow MakeRebuildRow(const RebuildInfo& info, const RebuildProgress& progress);
RebuildTotals SumRebuilds(const std::vector<RebuildRow>& rows, int64_t stall_s = 0);

}  // namespace vastsky
