#include "manager/metrics.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <cctype>
#include <deque>
#include <map>

#include "lib/health_words.h"
#include "lib/ids.h"
#include "lib/status.h"

namespace vastsky {

namespace {

using prometheus::Labels;

constexpr double kMib = 1024.0 * 1024.0;

// From a millisecond to the agent timeout's default (300 s): attach and
// detach wait on agents.
const prometheus::Histogram::BucketBoundaries kCallBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                               0.5,   1,      2.5,   5,    10,    30,   60,  300};

// "HIGH" -> "high": label values in Prometheus' customary case.
std::string Lower(const char* name) {
  std::string s(name);
  for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

const char* KindName(int target) { return target == kTargetSsvr ? "ssvr" : "hsvr"; }

// One gauge family of a scrape, with Add(labels).Set(value) as
// prometheus::Family<Gauge> has, but written straight into the
// MetricFamily the serializer reads: at 12,000 disks a Registry's objects
// per series, its hashing and Collect's copies cost more than the text
// itself (tests/bench: the scrape phase).
class ScrapeFamily {
 public:
  ScrapeFamily(const std::string& name, const std::string& help) : f_{name, help, prometheus::MetricType::Gauge, {}} {}

  class Series {
   public:
    explicit Series(prometheus::ClientMetric* m) : m_(m) {}
    void Set(double value) { m_->gauge.value = value; }

   private:
    prometheus::ClientMetric* m_;
  };
  // A new series; Labels is sorted by name, as a Registry writes them.
  Series Add(const Labels& labels) {
    f_.metric.emplace_back();
    for (const auto& l : labels) f_.metric.back().label.push_back({l.first, l.second});
    return Series(&f_.metric.back());
  }
  prometheus::MetricFamily& family() { return f_; }

 private:
  prometheus::MetricFamily f_;
};

// The families of one scrape, in the order made.
class ScrapeGauges {
 public:
  ScrapeFamily& Family(const std::string& name, const std::string& help) {
    return families_.emplace_back(name, help);  // a deque: references stay valid
  }
  // Families without series are left out, as a Registry leaves them out.
  void MoveTo(std::vector<prometheus::MetricFamily>* out) {
    for (ScrapeFamily& f : families_)
      if (!f.family().metric.empty()) out->push_back(std::move(f.family()));
  }

 private:
  std::deque<ScrapeFamily> families_;
};

// Bytes per disk, per server and in all: the three levels of one quantity.
struct BytesLevels {
  ScrapeFamily &pdsk, &ssvr, &cluster;
  BytesLevels(ScrapeGauges& r, const std::string& what, const std::string& help)
      : pdsk(r.Family("vastsky_pdsk_" + what + "_bytes", help + ", per disk")),
        ssvr(r.Family("vastsky_ssvr_" + what + "_bytes", help + ", per storage server")),
        cluster(r.Family("vastsky_cluster_" + what + "_bytes", help + ", in the whole cluster")) {}
};

void AddDiskBytes(ScrapeGauges& r, const StoreGauges& g) {
  BytesLevels capacity(r, "capacity", "Pool data size of the disks as registered");
  BytesLevels provisioned(r, "provisioned", "Space of the legs (chunks) placed on the disks");
  BytesLevels used(r, "pool_used", "Pool data in use, as the storage agents last reported in heartbeats");
  std::map<int64_t, StoreGauges::Disk> per_ssvr;
  StoreGauges::Disk all;
  for (const StoreGauges::Disk& d : g.disks) {
    const Labels labels = {{"pdsk", FormatId("pdsk", d.id)}, {"ssvr", FormatId("ssvr", d.ssvr_id)}};
    capacity.pdsk.Add(labels).Set(d.capacity_mib * kMib);
    provisioned.pdsk.Add(labels).Set(d.provisioned_mib * kMib);
    if (d.pool_reported) used.pdsk.Add(labels).Set(d.pool_used_mib * kMib);
    for (StoreGauges::Disk* sum : {&per_ssvr[d.ssvr_id], &all}) {
      sum->capacity_mib += d.capacity_mib;
      sum->provisioned_mib += d.provisioned_mib;
      sum->pool_used_mib += d.pool_used_mib;
    }
  }
  for (const auto& s : per_ssvr) {
    const Labels labels = {{"ssvr", FormatId("ssvr", s.first)}};
    capacity.ssvr.Add(labels).Set(s.second.capacity_mib * kMib);
    provisioned.ssvr.Add(labels).Set(s.second.provisioned_mib * kMib);
    used.ssvr.Add(labels).Set(s.second.pool_used_mib * kMib);
  }
  capacity.cluster.Add({}).Set(all.capacity_mib * kMib);
  provisioned.cluster.Add({}).Set(all.provisioned_mib * kMib);
  used.cluster.Add({}).Set(all.pool_used_mib * kMib);
}

// Every state is shown, zero included, so a series does not vanish when
// its count drops to nothing.
void AddByPriority(ScrapeFamily& family, Labels labels, const std::map<int, int64_t>& counts) {
  for (int p = kHigh; p <= kHalt; ++p) {
    labels["state"] = Lower(PriorityName(p));
    auto it = counts.find(p);
    family.Add(labels).Set(it == counts.end() ? 0 : static_cast<double>(it->second));
  }
}

void AddStates(ScrapeGauges& r, const StoreGauges& g) {
  ScrapeFamily& servers = r.Family("vastsky_servers", "Servers by kind and allocation priority");
  AddByPriority(servers, {{"kind", KindName(kTargetSsvr)}}, g.ssvrs);
  AddByPriority(servers, {{"kind", KindName(kTargetHsvr)}}, g.hsvrs);
  std::map<int, int64_t> pdsks;
  for (const StoreGauges::Disk& d : g.disks) ++pdsks[d.priority];
  AddByPriority(r.Family("vastsky_pdsks", "Physical disks by allocation priority"), {}, pdsks);

  ScrapeFamily& lvols = r.Family("vastsky_lvols", "Logical volumes by attachment status");
  for (int b : {kUnbound, kBound, kBindError}) {
    auto it = g.lvols_by_bind.find(b);
    lvols.Add({{"bind_status", Lower(BindStatusName(b))}})
        .Set(it == g.lvols_by_bind.end() ? 0 : static_cast<double>(it->second));
  }

  int64_t degraded = 0;
  ScrapeFamily& by_missing =
      r.Family("vastsky_mirrors_degraded", "Degraded mirrors by how many of their legs are not in sync");
  for (const auto& m : g.degraded_by_missing) {
    by_missing.Add({{"legs_missing", std::to_string(m.first)}}).Set(static_cast<double>(m.second));
    degraded += m.second;
  }
  ScrapeFamily& mirrors = r.Family("vastsky_mirrors", "Mirrors whole (every leg in sync) or degraded");
  mirrors.Add({{"state", "whole"}}).Set(static_cast<double>(g.mirrors - degraded));
  mirrors.Add({{"state", "degraded"}}).Set(static_cast<double>(degraded));

  ScrapeFamily& rebuilds = r.Family("vastsky_rebuilds", "Legs being rebuilt, queued or running");
  rebuilds.Add({{"state", "queued"}}).Set(static_cast<double>(g.rebuilds_queued));
  rebuilds.Add({{"state", "running"}}).Set(static_cast<double>(g.rebuilds_running));
}

void AddSilence(ScrapeGauges& r, const ScrapeInput& in) {
  ScrapeFamily& age = r.Family("vastsky_agent_heartbeat_age_seconds",
                                   "Seconds since the agent was last heard (heartbeat or registration), on the "
                                   "monotonic clock, counted from the manager's start at the most");
  for (size_t i = 0; i < in.agents.size() && i < in.silence_ms.size(); ++i) {
    const MonitoredServer& s = in.agents[i];
    age.Add({{"kind", KindName(s.kind)}, {"id", FormatId(KindName(s.kind), s.id)}}).Set(in.silence_ms[i] / 1000.0);
  }
}

void AddHealth(ScrapeGauges& r, const Health& h) {
  r.Family("vastsky_health_status", "The health verdict: 0 HEALTH_OK, 1 HEALTH_WARN, 2 HEALTH_ERR")
      .Add({})
      .Set(h.status);
  ScrapeFamily& checks = r.Family("vastsky_health_check",
                                      "Failing health checks (manager/API.md, Health): what each counts; a check "
                                      "that passes has no series");
  for (const HealthCheck& c : h.checks)
    checks.Add({{"code", c.code}, {"severity", HealthWord(c.severity)}}).Set(static_cast<double>(c.count));
}

void AddRebuilds(ScrapeGauges& r, const ScrapeInput& in) {
  const RebuildTotals& t = in.rebuild_totals;
  r.Family("vastsky_rebuild_total_bytes", "Size of every mirror being rebuilt or moved, queued or running")
      .Add({})
      .Set(t.total_mib * kMib);
  r.Family("vastsky_rebuild_left_bytes", "What of it is still to copy").Add({}).Set(t.left_mib * kMib);
  r.Family("vastsky_rebuild_rate_bytes_per_second",
              "The running rebuilds' pace together, over the last minute of their heads' readings")
      .Add({})
      .Set(t.rate_mibs * kMib);
  ScrapeFamily& eta = r.Family("vastsky_rebuild_eta_seconds",
                                   "Seconds until everything is copied at the present pace; no series while no "
                                   "pace is known");
  if (t.eta_s >= 0) eta.Add({}).Set(static_cast<double>(t.eta_s));
  ScrapeFamily& done = r.Family("vastsky_rebuild_done_ratio", "Share of each running rebuild's mirror in sync");
  for (const RebuildRow& row : in.rebuilds)
    if (row.info.running && row.total_mib > 0)
      done.Add({{"mirror", FormatId("mirr", row.info.mirror_id)}, {"lvol", row.info.lvol_name},
                {"kind", row.info.retires ? "move" : "rebuild"}})
          .Set(static_cast<double>(row.done_mib) / static_cast<double>(row.total_mib));
}

void AddScrape(ScrapeGauges& r, const ScrapeInput& in) {
  r.Family("vastsky_scrape_lock_seconds",
              "Seconds this scrape's read of the state held the lock the API calls take; the text is written "
              "after it is released")
      .Add({})
      .Set(in.lock_seconds);
}

}  // namespace

Metrics::Metrics()
    : counted_(std::make_shared<prometheus::Registry>()),
      calls_(prometheus::BuildCounter()
                 .Name("vastsky_api_calls_total")
                 .Help("XML-RPC calls to the manager by method and fault (errno name, or none)")
                 .Register(*counted_)),
      call_seconds_(prometheus::BuildHistogram()
                        .Name("vastsky_api_call_duration_seconds")
                        .Help("Time the manager took to answer XML-RPC calls, waiting for its lock included")
                        .Register(*counted_)),
      events_(prometheus::BuildCounter()
                  .Name("vastsky_events_total")
                  .Help("Events the manager recorded, by type and level")
                  .Register(*counted_)) {}

void Metrics::CountCall(const std::string& method, int code, double seconds) {
  calls_.Add({{"method", method}, {"fault", code == 0 ? "none" : ErrnoName(code)}}).Increment();
  call_seconds_.Add({{"method", method}}, kCallBuckets).Observe(seconds);
}

void Metrics::CountEvent(const std::string& type, const std::string& level) {
  events_.Add({{"type", type}, {"level", level}}).Increment();
}

std::string Metrics::Render(const ScrapeInput& in) const {
  ScrapeGauges gauges;
  AddDiskBytes(gauges, in.store);
  AddStates(gauges, in.store);
  AddSilence(gauges, in);
  AddHealth(gauges, in.health);
  AddRebuilds(gauges, in);
  AddScrape(gauges, in);
  std::vector<prometheus::MetricFamily> families;
  gauges.MoveTo(&families);
  for (prometheus::MetricFamily& f : counted_->Collect()) families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace vastsky
