#include "lib/metric_families.h"

#include <prometheus/text_serializer.h>

namespace vastsky {

prometheus::Family<prometheus::Gauge>& GaugeFamily(prometheus::Registry& r, const std::string& name,
                                                   const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& r, const std::string& name,
                                                       const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}

void SetOneOf(prometheus::Family<prometheus::Gauge>& family, prometheus::Labels labels, const std::string& label,
              const std::vector<const char*>& values, const std::string& now) {
  for (const char* v : values) {
    labels[label] = v;
    family.Add(labels).Set(now == v ? 1 : 0);
  }
}

void AddAge(prometheus::Registry& r, const std::string& name, const std::string& help, int64_t at_ms,
            int64_t now_ms) {
  prometheus::Family<prometheus::Gauge>& age = GaugeFamily(r, name, help);
  if (at_ms >= 0) age.Add({}).Set(static_cast<double>(now_ms > at_ms ? now_ms - at_ms : 0) / 1000.0);
}

std::string RenderMetrics(const prometheus::Registry& r) { return prometheus::TextSerializer().Serialize(r.Collect()); }

}  // namespace vastsky
