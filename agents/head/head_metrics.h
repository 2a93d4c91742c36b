// The head agent's /metrics (agents/PROTOCOL.md, "Metrics"): per volume the
// kernel's I/O counters of its device, per mirror dm raid's view of its
// legs and sync, as the head's last look found them (watch.h). Rendering
// reads only the look it is given, never the kernel, so a scrape cannot
// hang behind a dying disk: the look's age says how fresh it is.
// Thread-safe (a pure function).
#pragma once

#include <cstdint>
#include <string>

#include "agents/head/watch.h"

namespace vastsky {

// Prometheus' text format; now_ms is the monotonic clock's now.
std::string RenderHeadMetrics(const HeadLook& look, int64_t now_ms);

}  // namespace vastsky
