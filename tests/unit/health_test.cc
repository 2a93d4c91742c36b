// The health verdict (manager/health.h): each check alone from the counts,
// the worst severity winning, and the Store gathering what the checks
// judge (settings, pools, clocks, servers down).
#include <cppunit/extensions/HelperMacros.h>

#include <cerrno>
#include <string>

#include "lib/health_words.h"
#include "lib/ids.h"
#include "manager/health.h"
#include "tests/unit/store_fixture.h"

namespace vastsky {

class HealthTest : public StoreFixture {
  CPPUNIT_TEST_SUITE(HealthTest);
  CPPUNIT_TEST(NoCheckIsHealthOk);
  CPPUNIT_TEST(EachCheckAlone);
  CPPUNIT_TEST(WorstSeverityWinsAndComesFirst);
  CPPUNIT_TEST(SummariesNameTheThresholds);
  CPPUNIT_TEST(RatioSettingsAreValidatedAndKept);
  CPPUNIT_TEST(StoreCountsPoolsClocksAndServersDown);
  CPPUNIT_TEST(DetailNamesTheFirstTen);
  CPPUNIT_TEST_SUITE_END();

  static Health One(void (*set)(HealthFacts*)) {
    HealthFacts f;
    set(&f);
    return JudgeHealth(f);
  }

  // API.md "Health": at most 10 names, however many it counts.
  void DetailNamesTheFirstTen() {
    Cluster(12, 1, kSectors);
    for (int64_t s : ssvrs_) CPPUNIT_ASSERT(store_->NotifyFailure(kTargetSsvr, s).ok());
    Health h;
    CPPUNIT_ASSERT(store_->GetHealth(0, false, &h).ok());
    CPPUNIT_ASSERT_EQUAL(std::string(kCheckSsvrDown), h.checks[0].code);
    CPPUNIT_ASSERT_EQUAL(int64_t{12}, h.checks[0].count);
    CPPUNIT_ASSERT_EQUAL(kHealthDetailMax, h.checks[0].detail.size());
    CPPUNIT_ASSERT_EQUAL(FormatId("ssvr", ssvrs_[0]), h.checks[0].detail[0]);
    CPPUNIT_ASSERT_EQUAL(FormatId("ssvr", ssvrs_[9]), h.checks[0].detail[9]);
  }

  static void ExpectOnly(const Health& h, const std::string& code, int severity, int64_t count) {
    CPPUNIT_ASSERT_EQUAL_MESSAGE(code, size_t(1), h.checks.size());
    CPPUNIT_ASSERT_EQUAL(code, h.checks[0].code);
    CPPUNIT_ASSERT_EQUAL(severity, h.checks[0].severity);
    CPPUNIT_ASSERT_EQUAL(count, h.checks[0].count);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(code, severity, h.status);
    CPPUNIT_ASSERT(!h.checks[0].summary.empty());
  }

  static constexpr int64_t kSectors = int64_t{20} * 1024 * 1024 * 2;  // 20 GiB

 public:
  // API.md "Health": "With no check, health is HEALTH_OK."
  void NoCheckIsHealthOk() {
    const Health h = JudgeHealth(HealthFacts());
    CPPUNIT_ASSERT_EQUAL(int(kHealthOk), h.status);
    CPPUNIT_ASSERT(h.checks.empty());
    CPPUNIT_ASSERT_EQUAL(std::string("HEALTH_OK"), std::string(HealthWord(h.status)));
  }

  // API.md "Health": the table of checks, each with its severity.
  void EachCheckAlone() {
    ExpectOnly(One([](HealthFacts* f) { f->ssvrs_down = 2; }), kCheckSsvrDown, kHealthWarn, 2);
    ExpectOnly(One([](HealthFacts* f) { f->hsvrs_down = 1; }), kCheckHsvrDown, kHealthWarn, 1);
    ExpectOnly(One([](HealthFacts* f) { f->pdsks_down = 3; }), kCheckPdskDown, kHealthWarn, 3);
    ExpectOnly(One([](HealthFacts* f) { f->silent_servers = 1; }), kCheckServerSilent, kHealthWarn, 1);
    ExpectOnly(One([](HealthFacts* f) { f->mirrors_degraded = 4; }), kCheckMirrorDegraded, kHealthWarn, 4);
    ExpectOnly(One([](HealthFacts* f) { f->mirrors_one_leg = 5; }), kCheckMirrorOneLeg, kHealthWarn, 5);
    ExpectOnly(One([](HealthFacts* f) { f->mirrors_down = 6; }), kCheckMirrorDown, kHealthErr, 6);
    ExpectOnly(One([](HealthFacts* f) { f->pools_nearfull = 1; }), kCheckPoolNearfull, kHealthWarn, 1);
    ExpectOnly(One([](HealthFacts* f) { f->pools_full = 2; }), kCheckPoolFull, kHealthErr, 2);
    ExpectOnly(One([](HealthFacts* f) { f->pools_failed = 1; }), kCheckPoolFailed, kHealthErr, 1);
    ExpectOnly(One([](HealthFacts* f) { f->clock_skewed = 2; }), kCheckClockSkew, kHealthWarn, 2);
    ExpectOnly(One([](HealthFacts* f) {
                 f->rebuilds_stalled = 1;
                 f->longest_stall_s = 700;
               }),
               kCheckRebuildStalled, kHealthWarn, 1);
    // The storm guard holds silent servers back: both checks show.
    const Health storm = One([](HealthFacts* f) {
      f->isolated = true;
      f->silent_servers = 4;
    });
    CPPUNIT_ASSERT_EQUAL(size_t(2), storm.checks.size());
    CPPUNIT_ASSERT_EQUAL(std::string(kCheckServerSilent), storm.checks[0].code);
    CPPUNIT_ASSERT_EQUAL(std::string(kCheckStormGuard), storm.checks[1].code);
    CPPUNIT_ASSERT(storm.checks[0].summary.find("storm guard") != std::string::npos);
  }

  // API.md "Health": "the worst severity among the checks wins; checks are
  // listed worst first".
  void WorstSeverityWinsAndComesFirst() {
    HealthFacts f;
    f.ssvrs_down = 1;
    f.clock_skewed = 1;
    CPPUNIT_ASSERT_EQUAL(int(kHealthWarn), JudgeHealth(f).status);
    f.mirrors_down = 1;
    f.pools_full = 1;
    const Health h = JudgeHealth(f);
    CPPUNIT_ASSERT_EQUAL(int(kHealthErr), h.status);
    CPPUNIT_ASSERT_EQUAL(std::string("HEALTH_ERR"), std::string(HealthWord(h.status)));
    CPPUNIT_ASSERT_EQUAL(size_t(4), h.checks.size());
    CPPUNIT_ASSERT_EQUAL(std::string(kCheckMirrorDown), h.checks[0].code);
    CPPUNIT_ASSERT_EQUAL(std::string(kCheckPoolFull), h.checks[1].code);
    CPPUNIT_ASSERT_EQUAL(std::string(kCheckSsvrDown), h.checks[2].code);
    CPPUNIT_ASSERT_EQUAL(std::string(kCheckClockSkew), h.checks[3].code);
  }

  void SummariesNameTheThresholds() {
    HealthFacts f;
    f.pools_nearfull = 1;
    f.nearfull_ratio = 0.8;
    f.clock_skewed = 1;
    f.max_clock_skew_s = 5;
    f.worst_clock_skew_s = -61;
    const Health h = JudgeHealth(f);
    CPPUNIT_ASSERT(h.checks[0].summary.find("80%") != std::string::npos);
    CPPUNIT_ASSERT(h.checks[1].summary.find("5 s") != std::string::npos);
    CPPUNIT_ASSERT(h.checks[1].summary.find("61 s") != std::string::npos);
  }

  // API.md setClusterSetting: "nearfull_ratio and full_ratio keep 0 <
  // nearfull < full <= 1 ... EINVAL otherwise"; kept across restarts.
  void RatioSettingsAreValidatedAndKept() {
    for (const char* bad : {"0", "-0.1", "0.95", "0.99", "x", "", "nan"})
      CPPUNIT_ASSERT_EQUAL_MESSAGE(bad, EINVAL, store_->SetClusterSetting(kSettingNearfullRatio, bad).code());
    for (const char* bad : {"0.85", "0.5", "1.01", "inf"})
      CPPUNIT_ASSERT_EQUAL_MESSAGE(bad, EINVAL, store_->SetClusterSetting(kSettingFullRatio, bad).code());
    for (const char* bad : {"0", "-1", "3601"})
      CPPUNIT_ASSERT_EQUAL_MESSAGE(bad, EINVAL, store_->SetClusterSetting(kSettingMaxClockSkew, bad).code());
    CPPUNIT_ASSERT(store_->SetClusterSetting(kSettingFullRatio, "0.98").ok());
    CPPUNIT_ASSERT(store_->SetClusterSetting(kSettingNearfullRatio, "0.9").ok());
    CPPUNIT_ASSERT(store_->SetClusterSetting(kSettingMaxClockSkew, "2.5").ok());
    delete store_;
    store_ = new Store;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, Store::Options()).ok());
    ClusterStatus c;
    CPPUNIT_ASSERT(store_->GetClusterStatus(&c).ok());
    CPPUNIT_ASSERT_EQUAL(0.9, c.nearfull_ratio);
    CPPUNIT_ASSERT_EQUAL(0.98, c.full_ratio);
    CPPUNIT_ASSERT_EQUAL(2.5, c.max_clock_skew_s);
  }

  // API.md "Health": pools judged by their last report against the ratios
  // now set, clocks by the last heartbeat's `time`, of live servers only.
  void StoreCountsPoolsClocksAndServersDown() {
    Cluster(3, 1, kSectors);
    Health h;
    CPPUNIT_ASSERT(store_->GetHealth(0, false, &h).ok());
    CPPUNIT_ASSERT_EQUAL(int(kHealthOk), h.status);
    CPPUNIT_ASSERT(store_->NotePools(ssvrs_[0], {PoolReport{pdsks_[0], 900, 1000, 0, 1000, "rw"}}).ok());
    CPPUNIT_ASSERT(store_->NotePools(ssvrs_[1], {PoolReport{pdsks_[1], 10, 1000, 0, 1000, "fail"}}).ok());
    store_->NoteClockSkew(kTargetSsvr, ssvrs_[2], -30);
    store_->NoteClockSkew(kTargetSsvr, ssvrs_[1], 1);
    CPPUNIT_ASSERT(store_->GetHealth(0, false, &h).ok());
    CPPUNIT_ASSERT_EQUAL(int(kHealthErr), h.status);
    CPPUNIT_ASSERT_EQUAL(size_t(3), h.checks.size());
    CPPUNIT_ASSERT_EQUAL(std::string(kCheckPoolFailed), h.checks[0].code);
    CPPUNIT_ASSERT_EQUAL(std::string(kCheckPoolNearfull), h.checks[1].code);
    CPPUNIT_ASSERT_EQUAL(std::string(kCheckClockSkew), h.checks[2].code);
    // API.md "Health": "`detail` names the first 10 of them in id order".
    CPPUNIT_ASSERT(h.checks[0].detail == std::vector<std::string>({FormatId("pdsk", pdsks_[1])}));
    CPPUNIT_ASSERT(h.checks[1].detail == std::vector<std::string>({FormatId("pdsk", pdsks_[0])}));
    CPPUNIT_ASSERT(h.checks[2].detail == std::vector<std::string>({FormatId("ssvr", ssvrs_[2])}));
    // 90% is below a nearfull_ratio of 0.92: no longer nearfull, at once.
    // A failed server's clock is judged no more.
    CPPUNIT_ASSERT(store_->SetClusterSetting(kSettingNearfullRatio, "0.92").ok());
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetSsvr, ssvrs_[2]).ok());
    CPPUNIT_ASSERT(store_->GetHealth(0, false, &h).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(3), h.checks.size());
    CPPUNIT_ASSERT_EQUAL(std::string(kCheckPoolFailed), h.checks[0].code);
    CPPUNIT_ASSERT_EQUAL(std::string(kCheckSsvrDown), h.checks[1].code);
    CPPUNIT_ASSERT_EQUAL(std::string(kCheckPdskDown), h.checks[2].code);
    CPPUNIT_ASSERT(h.checks[1].detail == std::vector<std::string>({FormatId("ssvr", ssvrs_[2])}));
    CPPUNIT_ASSERT(h.checks[2].detail == std::vector<std::string>({FormatId("pdsk", pdsks_[2])}));
    Audit();
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(HealthTest);

}  // namespace vastsky
