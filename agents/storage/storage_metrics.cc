#include "agents/storage/storage_metrics.h"

#include "lib/ids.h"
#include "lib/metric_families.h"

namespace vastsky {

namespace {

using prometheus::Family;
using prometheus::Gauge;
using prometheus::Labels;

// dm-thin's pool modes, and "fail" for a pool failed or down.
const std::vector<const char*> kModes = {"rw", "out_of_data_space", "ro", "fail"};

void AddPools(prometheus::Registry& r, const PoolUsageLook& look, int64_t now_ms) {
  AddAge(r, "vastsky_storage_pool_look_age_seconds",
         "Seconds since the storage agent last read its pools' use (each heartbeat does); no series before the first",
         look.at_ms, now_ms);
  Family<Gauge>& data = GaugeFamily(r, "vastsky_storage_pool_data_bytes", "Data space of the disk's thin pool");
  Family<Gauge>& used = GaugeFamily(r, "vastsky_storage_pool_data_used_bytes", "Data space the pool has mapped");
  Family<Gauge>& meta = GaugeFamily(r, "vastsky_storage_pool_metadata_bytes", "Metadata space of the pool");
  Family<Gauge>& meta_used = GaugeFamily(r, "vastsky_storage_pool_metadata_used_bytes", "Metadata space in use");
  Family<Gauge>& needs_check = GaugeFamily(r, "vastsky_storage_pool_needs_check",
                                           "1 if dm-thin asks for thin_check (the pool saw I/O errors)");
  Family<Gauge>& mode = GaugeFamily(r, "vastsky_storage_pool_mode", "1 for the pool's mode now, else 0");
  constexpr double kMib = 1048576.0, kKib = 1024.0;
  for (const auto& p : look.pools) {
    const Labels l = {{"pdsk", FormatId("pdsk", p.first)}};
    const PoolUsage& u = p.second;
    data.Add(l).Set(static_cast<double>(u.data_mib) * kMib);
    used.Add(l).Set(static_cast<double>(u.data_used_mib) * kMib);
    meta.Add(l).Set(static_cast<double>(u.meta_kib) * kKib);
    meta_used.Add(l).Set(static_cast<double>(u.meta_used_kib) * kKib);
    needs_check.Add(l).Set(u.needs_check ? 1 : 0);
    SetOneOf(mode, l, "mode", kModes, u.mode);
  }
}

void AddScrub(prometheus::Registry& r, const std::map<int64_t, ScrubProgress>& scrub) {
  Family<Gauge>& done = GaugeFamily(r, "vastsky_storage_scrub_position_bytes",
                                    "Bytes of the disk the scrub's pass under way has read (the last pass's end "
                                    "between passes)");
  Family<Gauge>& size = GaugeFamily(r, "vastsky_storage_scrub_disk_bytes", "Bytes a scrub pass reads on the disk");
  Family<prometheus::Counter>& passes =
      CounterFamily(r, "vastsky_storage_scrub_passes_total", "Scrub passes over the disk ended since the agent started");
  Family<prometheus::Counter>& bad = CounterFamily(r, "vastsky_storage_scrub_bad_blocks_total",
                                                   "Unreadable GiB blocks the scrub found on the disk since the "
                                                   "agent started (each is reported to the manager)");
  for (const auto& s : scrub) {
    const Labels l = {{"pdsk", FormatId("pdsk", s.first)}};
    done.Add(l).Set(static_cast<double>(s.second.done_bytes));
    size.Add(l).Set(static_cast<double>(s.second.disk_bytes));
    passes.Add(l).Increment(static_cast<double>(s.second.passes));
    bad.Add(l).Increment(static_cast<double>(s.second.bad_gib_found));
  }
}

}  // namespace

std::string RenderStorageMetrics(const PoolUsageLook& pools, const std::map<int64_t, ScrubProgress>& scrub,
                                 int64_t now_ms) {
  prometheus::Registry r;
  AddPools(r, pools, now_ms);
  AddScrub(r, scrub);
  return RenderMetrics(r);
}

}  // namespace vastsky
