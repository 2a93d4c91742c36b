// Metrics: the manager's /metrics in Prometheus' text format, built and
// serialised with prometheus-cpp (manager/API.md, "Metrics").
//
// Two kinds of series:
//  - Counters and the latency histogram (API calls, events) are counted as
//    things happen and live as long as the manager. CountCall and
//    CountEvent are thread-safe: prometheus-cpp's counters are atomic, and
//    a label set seen for the first time is added under the family's lock.
//  - Gauges describe the state and are built afresh at each scrape from one
//    ScrapeInput, which the caller reads under the API lock (so a scrape is
//    consistent); a deleted disk's series disappears with it. Render is
//    const and thread-safe, and is meant to run without the API lock: it
//    only reads its input and the counters.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "lib/metric_families.h"

#include "manager/failure_detector.h"
#include "manager/health.h"
#include "manager/rebuild_report.h"
#include "manager/types.h"

namespace vastsky {

// What one scrape shows of the state.
struct ScrapeInput {
  StoreGauges store;
  std::vector<MonitoredServer> agents;  // live servers with an agent
  std::vector<int64_t> silence_ms;      // agents[i]'s silence on the monotonic clock
  Health health;                        // the verdict getClusterStatus gives
  std::vector<RebuildRow> rebuilds;     // listRebuilds' rows
  RebuildTotals rebuild_totals;
  // How long reading the above held the API lock: every API call waits
  // that long behind a scrape at the most (the render does not hold it).
  double lock_seconds = 0;
};

class Metrics {
 public:
  // Prometheus' text exposition format, as the Content-Type of /metrics.
  static constexpr const char* kContentType = kMetricsContentType;

  Metrics();
  // An XML-RPC call to `method` ended with errno `code` (0: no fault) after
  // `seconds`, waiting for the lock included.
  void CountCall(const std::string& method, int code, double seconds);
  // An event of `type` ("attach", "pool" ...) and `level` was recorded.
  void CountEvent(const std::string& type, const std::string& level);
  // The whole /metrics body: the gauges of `in`, then the counters.
  std::string Render(const ScrapeInput& in) const;

 private:
  std::shared_ptr<prometheus::Registry> counted_;
  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Histogram>& call_seconds_;
  prometheus::Family<prometheus::Counter>& events_;
};

}  // namespace vastsky
