// Short hands over prometheus-cpp for the daemons' /metrics: a family of
// gauges or counters registered in one call, and a registry serialised in
// Prometheus' text format. Series a scrape builds afresh from state go in a
// registry made for that scrape; prometheus-cpp's registries and families
// are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace vastsky {

// The Content-Type of /metrics: Prometheus' text exposition format.
constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

prometheus::Family<prometheus::Gauge>& GaugeFamily(prometheus::Registry& r, const std::string& name,
                                                   const std::string& help);
// name ends in _total, as Prometheus names counters.
prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& r, const std::string& name,
                                                       const std::string& help);
// A state set: one series per value of `label` in `values`, 1 for `now`
// and 0 for the others, so a series never vanishes when the state moves.
void SetOneOf(prometheus::Family<prometheus::Gauge>& family, prometheus::Labels labels, const std::string& label,
              const std::vector<const char*>& values, const std::string& now);
// A gauge `name` of the seconds from at_ms to now_ms (monotonic clock):
// how old what an agent shows is. No series while at_ms < 0 (never yet);
// never below 0.
void AddAge(prometheus::Registry& r, const std::string& name, const std::string& help, int64_t at_ms,
            int64_t now_ms);
std::string RenderMetrics(const prometheus::Registry& r);

}  // namespace vastsky
