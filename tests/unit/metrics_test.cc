// The manager's /metrics (manager/API.md, "Metrics"): how each value is
// derived from the Store, the failure detector and the counters.
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <string>

#include "lib/clock.h"
#include "lib/ids.h"
#include "manager/metrics.h"
#include "manager/store.h"
#include "tests/unit/metric_text.h"
#include "tests/unit/store_fixture.h"

using namespace vastsky;

namespace {

const int64_t kDiskSectors = 100LL * 1024 * 2048;  // 100 GiB
const double kMib = 1024.0 * 1024.0;

std::string DiskLabels(int64_t pdsk, int64_t ssvr) {
  return "{pdsk=\"" + FormatId("pdsk", pdsk) + "\",ssvr=\"" + FormatId("ssvr", ssvr) + "\"}";
}

}  // namespace

class MetricsTest : public StoreFixture {
  CPPUNIT_TEST_SUITE(MetricsTest);
  CPPUNIT_TEST(BytesPerDiskServerAndCluster);
  CPPUNIT_TEST(StatesCountedWithZeros);
  CPPUNIT_TEST(DegradedMirrorsByLegsMissing);
  CPPUNIT_TEST(HeartbeatAgeFromSilence);
  CPPUNIT_TEST(CallsCountedByMethodAndFault);
  CPPUNIT_TEST(EventsCountedOnlyOnceCommitted);
  CPPUNIT_TEST(LockTimeOfTheScrape);
  CPPUNIT_TEST_SUITE_END();

 public:
  std::string Scrape(ScrapeInput in = ScrapeInput()) {
    CPPUNIT_ASSERT(store_->ReadGauges(&in.store).ok());
    return metrics_.Render(in);
  }

  // API.md: "`vastsky_pdsk_provisioned_bytes` ... space of the legs placed
  // on the disk"; "`vastsky_pdsk_pool_used_bytes` ... absent until a
  // report"; the server and cluster levels are sums.
  void BytesPerDiskServerAndCluster() {
    Cluster(3, 2, kDiskSectors);
    std::string t = Scrape();
    const double disk = 100 * 1024 * kMib;
    CPPUNIT_ASSERT_EQUAL(disk, MetricValue(t, "vastsky_pdsk_capacity_bytes" + DiskLabels(pdsks_[0], ssvrs_[0])));
    CPPUNIT_ASSERT_EQUAL(0.0, MetricValue(t, "vastsky_pdsk_provisioned_bytes" + DiskLabels(pdsks_[0], ssvrs_[0])));
    CPPUNIT_ASSERT_EQUAL(-1.0, MetricValue(t, "vastsky_pdsk_pool_used_bytes" + DiskLabels(pdsks_[0], ssvrs_[0])));
    CPPUNIT_ASSERT_EQUAL(2 * disk, MetricValue(t, "vastsky_ssvr_capacity_bytes{ssvr=\"" + FormatId("ssvr", ssvrs_[1]) + "\"}"));
    CPPUNIT_ASSERT_EQUAL(6 * disk, MetricValue(t, "vastsky_cluster_capacity_bytes"));

    int64_t id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v", 8, 3, &id).ok());
    CPPUNIT_ASSERT(store_->NotePools(ssvrs_[0], {PoolReport{pdsks_[0], 300, 1000, 1, 1000, "rw"}}).ok());
    t = Scrape();
    // 8 GiB in 4 GiB chunks, 3 legs each: 6 legs of 4 GiB + 1 MiB metadata.
    const double legs = 6 * (4096 + kMetaMib) * kMib;
    CPPUNIT_ASSERT_EQUAL(legs, MetricValue(t, "vastsky_cluster_provisioned_bytes"));
    double per_disk = 0;
    for (size_t i = 0; i < pdsks_.size(); ++i)
      per_disk += MetricValue(t, "vastsky_pdsk_provisioned_bytes" + DiskLabels(pdsks_[i], ssvrs_[i / 2]));
    CPPUNIT_ASSERT_EQUAL(legs, per_disk);
    CPPUNIT_ASSERT_EQUAL(300 * kMib, MetricValue(t, "vastsky_pdsk_pool_used_bytes" + DiskLabels(pdsks_[0], ssvrs_[0])));
    CPPUNIT_ASSERT_EQUAL(300 * kMib, MetricValue(t, "vastsky_cluster_pool_used_bytes"));
  }

  // API.md: "servers in that priority; every state is shown, 0 included".
  void StatesCountedWithZeros() {
    Cluster(3, 1, kDiskSectors);
    int64_t head, id;
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.3.0.1"}, &head).ok());
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("a", 4, 2, &id).ok());
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("b", 4, 2, &id).ok());
    VolumeRef ref;
    ref.id = id;
    CPPUNIT_ASSERT(store_->AttachLogicalVolume(ref, head).ok());
    CPPUNIT_ASSERT(store_->Drain(kTargetSsvr, ssvrs_[1]).ok());
    const std::string t = Scrape();
    CPPUNIT_ASSERT_EQUAL(2.0, MetricValue(t, "vastsky_servers{kind=\"ssvr\",state=\"high\"}"));
    CPPUNIT_ASSERT_EQUAL(1.0, MetricValue(t, "vastsky_servers{kind=\"ssvr\",state=\"evacuate\"}"));
    CPPUNIT_ASSERT_EQUAL(0.0, MetricValue(t, "vastsky_servers{kind=\"ssvr\",state=\"halt\"}"));
    CPPUNIT_ASSERT_EQUAL(1.0, MetricValue(t, "vastsky_servers{kind=\"hsvr\",state=\"high\"}"));
    CPPUNIT_ASSERT_EQUAL(0.0, MetricValue(t, "vastsky_servers{kind=\"hsvr\",state=\"faulty\"}"));
    CPPUNIT_ASSERT_EQUAL(2.0, MetricValue(t, "vastsky_pdsks{state=\"high\"}"));
    CPPUNIT_ASSERT_EQUAL(1.0, MetricValue(t, "vastsky_pdsks{state=\"evacuate\"}"));  // a drained server's disks
    CPPUNIT_ASSERT_EQUAL(1.0, MetricValue(t, "vastsky_lvols{bind_status=\"unbound\"}"));
    CPPUNIT_ASSERT_EQUAL(1.0, MetricValue(t, "vastsky_lvols{bind_status=\"bound\"}"));
    CPPUNIT_ASSERT_EQUAL(0.0, MetricValue(t, "vastsky_lvols{bind_status=\"error\"}"));
  }

  // API.md: "`vastsky_mirrors_degraded` ... degraded mirrors by their
  // number of SPARE legs"; they agree with getClusterStatus.
  void DegradedMirrorsByLegsMissing() {
    Cluster(4, 1, kDiskSectors);
    int64_t id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v", 8, 3, &id).ok());
    std::string t = Scrape();
    CPPUNIT_ASSERT_EQUAL(2.0, MetricValue(t, "vastsky_mirrors{state=\"whole\"}"));
    CPPUNIT_ASSERT_EQUAL(0.0, MetricValue(t, "vastsky_mirrors{state=\"degraded\"}"));
    for (int i = 0; i < 2; ++i) CPPUNIT_ASSERT(store_->NotifyFailure(kTargetSsvr, ssvrs_[i]).ok());
    t = Scrape();
    ClusterStatus status;
    CPPUNIT_ASSERT(store_->GetClusterStatus(&status).ok());
    CPPUNIT_ASSERT(status.mirrors_degraded > 0);
    CPPUNIT_ASSERT_EQUAL(static_cast<double>(status.mirrors_degraded), MetricValue(t, "vastsky_mirrors{state=\"degraded\"}"));
    CPPUNIT_ASSERT_EQUAL(static_cast<double>(status.mirrors - status.mirrors_degraded),
                         MetricValue(t, "vastsky_mirrors{state=\"whole\"}"));
    const double one = std::max(0.0, MetricValue(t, "vastsky_mirrors_degraded{legs_missing=\"1\"}"));
    const double two = std::max(0.0, MetricValue(t, "vastsky_mirrors_degraded{legs_missing=\"2\"}"));
    CPPUNIT_ASSERT_EQUAL(static_cast<double>(status.mirrors_degraded), one + two);
    CPPUNIT_ASSERT_EQUAL(-1.0, MetricValue(t, "vastsky_mirrors_degraded{legs_missing=\"3\"}"));
    CPPUNIT_ASSERT_EQUAL(static_cast<double>(status.rebuilds_queued), MetricValue(t, "vastsky_rebuilds{state=\"queued\"}"));
    CPPUNIT_ASSERT_EQUAL(static_cast<double>(status.rebuilds_running), MetricValue(t, "vastsky_rebuilds{state=\"running\"}"));
    CPPUNIT_ASSERT_EQUAL(2.0, MetricValue(t, "vastsky_servers{kind=\"ssvr\",state=\"faulty\"}") +
                                  MetricValue(t, "vastsky_servers{kind=\"ssvr\",state=\"offline\"}"));
  }

  // API.md: "per live server with an agent: seconds since it was last
  // heard ... as the failure detector counts silence".
  void HeartbeatAgeFromSilence() {
    FakeClock clock;
    FailureDetector detector(&clock, FailureDetector::Options());
    ScrapeInput in;
    in.agents = {{kTargetSsvr, 1, ""}, {kTargetHsvr, 2, ""}};
    clock.Advance(5000);
    detector.Heard(kTargetSsvr, 1);
    clock.Advance(2500);
    in.silence_ms = detector.SilenceMs(in.agents);
    const std::string t = Scrape(in);
    CPPUNIT_ASSERT_EQUAL(2.5, MetricValue(t, "vastsky_agent_heartbeat_age_seconds{id=\"ssvr-00000001\",kind=\"ssvr\"}"));
    // Never heard: silent since the manager started.
    CPPUNIT_ASSERT_EQUAL(7.5, MetricValue(t, "vastsky_agent_heartbeat_age_seconds{id=\"hsvr-00000002\",kind=\"hsvr\"}"));
  }

  // API.md: "`vastsky_api_calls_total` | `method`, `fault` (errno name such
  // as `EINVAL`, or `none`)"; the histogram counts every call.
  void CallsCountedByMethodAndFault() {
    metrics_.CountCall("createLogicalVolume", 0, 0.002);
    metrics_.CountCall("createLogicalVolume", 0, 0.2);
    metrics_.CountCall("createLogicalVolume", EINVAL, 0.001);
    const std::string t = Scrape();
    CPPUNIT_ASSERT_EQUAL(2.0, MetricValue(t, "vastsky_api_calls_total{fault=\"none\",method=\"createLogicalVolume\"}"));
    CPPUNIT_ASSERT_EQUAL(1.0, MetricValue(t, "vastsky_api_calls_total{fault=\"EINVAL\",method=\"createLogicalVolume\"}"));
    CPPUNIT_ASSERT_EQUAL(3.0, MetricValue(t, "vastsky_api_call_duration_seconds_count{method=\"createLogicalVolume\"}"));
    CPPUNIT_ASSERT_EQUAL(2.0, MetricValue(t, "vastsky_api_call_duration_seconds_bucket{method=\"createLogicalVolume\",le=\"0.0025\"}"));
  }

  // API.md: "an event of a change that was rolled back is not counted".
  void EventsCountedOnlyOnceCommitted() {
    store_->CountEventsWith([this](const std::string& type, const std::string& level) { metrics_.CountEvent(type, level); });
    Cluster(3, 1, kDiskSectors);
    std::vector<EventInfo> before;
    CPPUNIT_ASSERT(store_->ListEvents(0, 1000, &before).ok());
    store_->db_for_test()->FailAfter(1, Db::Fault::kCommit);
    CPPUNIT_ASSERT(!store_->NotifyFailure(kTargetSsvr, ssvrs_[0]).ok());
    std::vector<EventInfo> events;
    CPPUNIT_ASSERT(store_->ListEvents(0, 1000, &events).ok());
    CPPUNIT_ASSERT_EQUAL(before.size(), events.size());
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetSsvr, ssvrs_[0]).ok());
    events.clear();
    CPPUNIT_ASSERT(store_->ListEvents(0, 1000, &events).ok());
    std::map<std::string, double> expected;
    for (const EventInfo& e : events) expected["vastsky_events_total{level=\"" + e.level + "\",type=\"" + e.type + "\"}"]++;
    CPPUNIT_ASSERT(!expected.empty());
    const std::string t = Scrape();
    for (const auto& e : expected) CPPUNIT_ASSERT_EQUAL_MESSAGE(e.first, e.second, MetricValue(t, e.first));
  }

  // API.md: "`vastsky_scrape_lock_seconds` | none | how long this scrape's
  // read of the state held the lock the API calls take".
  void LockTimeOfTheScrape() {
    ScrapeInput in;
    in.lock_seconds = 0.25;
    CPPUNIT_ASSERT_EQUAL(0.25, MetricValue(Scrape(in), "vastsky_scrape_lock_seconds"));
  }

 private:
  Metrics metrics_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(MetricsTest);
