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

std::string RenderMetrics(const prometheus::Registry& r) { return prometheus::TextSerializer().Serialize(r.Collect()); }

}  // namespace vastsky
