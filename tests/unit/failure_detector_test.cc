// Failure detection that the manager's own absence or clock cannot fool
// (manager/failure_detector.h), on a clock the test moves.
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <vector>

#include "lib/clock.h"
#include "manager/failure_detector.h"
#include "manager/types.h"

using vastsky::FailureDetector;
using vastsky::FakeClock;
using vastsky::kTargetHsvr;
using vastsky::kTargetSsvr;
using vastsky::MonitoredServer;
using vastsky::SilenceVerdict;

class FailureDetectorTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(FailureDetectorTest);
  CPPUNIT_TEST(SilenceCountsFromTheManagersStart);
  CPPUNIT_TEST(OneSilentServerIsDeclaredAfterTheGracePeriod);
  CPPUNIT_TEST(AHeartbeatRestartsTheCount);
  CPPUNIT_TEST(StormOfSilenceIsTheManagersOwnIsolation);
  CPPUNIT_TEST(StormEndsWhenServersAreHeardAgain);
  CPPUNIT_TEST(SilenceAcrossTwoDomainsIsIsolation);
  CPPUNIT_TEST(SilencesAGracePeriodApartAreJudgedOneByOne);
  CPPUNIT_TEST(ServersNoLongerLiveAreForgotten);
  CPPUNIT_TEST_SUITE_END();

  static constexpr int kGraceS = 60;

  static std::vector<MonitoredServer> Pool(int ssvrs, int hsvrs) {
    std::vector<MonitoredServer> out;
    for (int i = 1; i <= ssvrs; ++i) out.push_back({kTargetSsvr, i, ""});
    for (int i = 1; i <= hsvrs; ++i) out.push_back({kTargetHsvr, 100 + i, ""});
    return out;
  }

  static void HearAllBut(FailureDetector* d, const std::vector<MonitoredServer>& pool, std::vector<int64_t> silent) {
    for (const MonitoredServer& s : pool)
      if (std::find(silent.begin(), silent.end(), s.id) == silent.end()) d->Heard(s.kind, s.id);
  }

  static std::vector<int64_t> Ids(const std::vector<MonitoredServer>& v) {
    std::vector<int64_t> out;
    for (const MonitoredServer& s : v) out.push_back(s.id);
    std::sort(out.begin(), out.end());
    return out;
  }

 public:
  // API.md: "silence is measured on the monotonic clock, from the later of
  // the manager's start and the last heartbeat it received". A manager
  // started long after every server was last heard gives each a whole
  // grace period.
  void SilenceCountsFromTheManagersStart() {
    FakeClock clock;
    FailureDetector d(&clock, {kGraceS, 1.0 / 3});
    const std::vector<MonitoredServer> pool = Pool(6, 2);
    clock.Advance(kGraceS * 1000 - 1);
    SilenceVerdict v = d.Judge(pool);
    CPPUNIT_ASSERT(v.failed.empty() && v.silent.empty() && !v.isolated);
    HearAllBut(&d, pool, {});
    clock.Advance(kGraceS * 1000);
    v = d.Judge(pool);
    CPPUNIT_ASSERT(v.failed.empty() && !v.isolated);
  }

  void OneSilentServerIsDeclaredAfterTheGracePeriod() {
    FakeClock clock;
    FailureDetector d(&clock, {kGraceS, 1.0 / 3});
    const std::vector<MonitoredServer> pool = Pool(6, 2);
    for (int t = 0; t < kGraceS + 5; t += 5) {
      HearAllBut(&d, pool, {3});
      clock.Advance(5000);
    }
    const SilenceVerdict v = d.Judge(pool);
    CPPUNIT_ASSERT(!v.isolated);
    CPPUNIT_ASSERT(Ids(v.failed) == std::vector<int64_t>{3});
    CPPUNIT_ASSERT_EQUAL(1, d.silent_count());
  }

  void AHeartbeatRestartsTheCount() {
    FakeClock clock;
    FailureDetector d(&clock, {kGraceS, 1.0 / 3});
    const std::vector<MonitoredServer> pool = Pool(3, 1);
    clock.Advance(kGraceS * 1000 - 1000);
    HearAllBut(&d, pool, {});
    clock.Advance(kGraceS * 1000 - 1000);
    CPPUNIT_ASSERT(d.Judge(pool).failed.empty());
    clock.Advance(2000);
    const SilenceVerdict v = d.Judge(pool);
    CPPUNIT_ASSERT_EQUAL(size_t(4), v.silent.size());
  }

  // API.md: "when more than a third of the servers fall silent within one
  // grace period, the manager assumes that it is the one cut off. It
  // declares nothing failed".
  void StormOfSilenceIsTheManagersOwnIsolation() {
    FakeClock clock;
    FailureDetector d(&clock, {kGraceS, 1.0 / 3});
    const std::vector<MonitoredServer> pool = Pool(6, 3);  // 9 servers: 3 may go, 4 may not
    HearAllBut(&d, pool, {});
    clock.Advance(10000);
    HearAllBut(&d, pool, {1, 2, 3, 101});
    clock.Advance(kGraceS * 1000 + 1);
    HearAllBut(&d, pool, {1, 2, 3, 101});
    SilenceVerdict v = d.Judge(pool);
    CPPUNIT_ASSERT(v.isolated);
    CPPUNIT_ASSERT(v.failed.empty());
    CPPUNIT_ASSERT_EQUAL(size_t(4), v.silent.size());
    CPPUNIT_ASSERT(d.isolated());
    // Three of nine is a third, not more: those are failures.
    FailureDetector e(&clock, {kGraceS, 1.0 / 3});
    HearAllBut(&e, pool, {1, 2, 101});
    clock.Advance(kGraceS * 1000 + 1);
    HearAllBut(&e, pool, {1, 2, 101});
    v = e.Judge(pool);
    CPPUNIT_ASSERT(!v.isolated);
    CPPUNIT_ASSERT(Ids(v.failed) == (std::vector<int64_t>{1, 2, 101}));
  }

  void StormEndsWhenServersAreHeardAgain() {
    FakeClock clock;
    FailureDetector d(&clock, {kGraceS, 1.0 / 3});
    const std::vector<MonitoredServer> pool = Pool(3, 1);
    clock.Advance(kGraceS * 1000 + 1);  // nobody heard since the start: cut off
    CPPUNIT_ASSERT(d.Judge(pool).isolated);
    HearAllBut(&d, pool, {2});
    const SilenceVerdict v = d.Judge(pool);
    CPPUNIT_ASSERT(!v.isolated && !d.isolated());
    CPPUNIT_ASSERT(Ids(v.failed) == std::vector<int64_t>{2});
  }

  // API.md: "or more than one failure domain".
  void SilenceAcrossTwoDomainsIsIsolation() {
    FakeClock clock;
    FailureDetector d(&clock, {kGraceS, 1.0 / 3});
    std::vector<MonitoredServer> pool;
    for (int i = 1; i <= 12; ++i) pool.push_back({kTargetSsvr, i, "rack" + std::to_string((i - 1) / 4)});
    HearAllBut(&d, pool, {1, 5});  // one server in rack0, one in rack1
    clock.Advance(kGraceS * 1000 + 1);
    HearAllBut(&d, pool, {1, 5});
    SilenceVerdict v = d.Judge(pool);
    CPPUNIT_ASSERT(v.isolated && v.failed.empty());
    // Two servers of one rack are not.
    FailureDetector e(&clock, {kGraceS, 1.0 / 3});
    HearAllBut(&e, pool, {1, 2});
    clock.Advance(kGraceS * 1000 + 1);
    HearAllBut(&e, pool, {1, 2});
    v = e.Judge(pool);
    CPPUNIT_ASSERT(!v.isolated);
    CPPUNIT_ASSERT(Ids(v.failed) == (std::vector<int64_t>{1, 2}));
  }

  // Only silences that began within one grace period of each other count
  // together: failures days apart are each judged alone.
  void SilencesAGracePeriodApartAreJudgedOneByOne() {
    FakeClock clock;
    FailureDetector d(&clock, {kGraceS, 1.0 / 3});
    const std::vector<MonitoredServer> pool = Pool(3, 0);
    HearAllBut(&d, pool, {});
    clock.Advance(1000);
    HearAllBut(&d, pool, {1});
    clock.Advance(2 * kGraceS * 1000);
    HearAllBut(&d, pool, {1});  // ssvr 2 last heard two grace periods after ssvr 1
    clock.Advance(1000);
    HearAllBut(&d, pool, {1, 2});
    clock.Advance(kGraceS * 1000 + 1);
    HearAllBut(&d, pool, {1, 2});
    const SilenceVerdict v = d.Judge(pool);
    CPPUNIT_ASSERT(!v.isolated);
    CPPUNIT_ASSERT(Ids(v.failed) == (std::vector<int64_t>{1, 2}));
  }

  void ServersNoLongerLiveAreForgotten() {
    FakeClock clock;
    FailureDetector d(&clock, {kGraceS, 1.0 / 3});
    std::vector<MonitoredServer> pool = Pool(3, 0);
    HearAllBut(&d, pool, {});
    pool.pop_back();  // ssvr 3 declared failed or deleted
    clock.Advance(kGraceS * 1000 + 1);
    const SilenceVerdict v = d.Judge(pool);
    CPPUNIT_ASSERT_EQUAL(size_t(2), v.silent.size());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(FailureDetectorTest);
