// The storage agent's /metrics (agents/PROTOCOL.md, "Metrics"): per disk
// its thin pool's use as the last heartbeat read it, and where the scrub
// is. Rendering reads only what it is given, never the kernel, so a scrape
// cannot hang behind a dying disk. Thread-safe (a pure function).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "agents/storage/registration.h"
#include "agents/storage/scrub.h"

namespace vastsky {

// Prometheus' text format; now_ms is the monotonic clock's now.
std::string RenderStorageMetrics(const PoolUsageLook& pools, const std::map<int64_t, ScrubProgress>& scrub,
                                 int64_t now_ms);

}  // namespace vastsky
