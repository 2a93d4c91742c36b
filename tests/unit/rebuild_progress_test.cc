// How far a rebuild has come and when it should end (manager/rebuild_progress.h,
// manager/rebuild_report.h): the sync ratio's parsing, the rate over a
// window of the monotonic clock, stalls, and the whole path from a head's
// listVolumes through the recovery loop to listRebuilds' rows.
#include <cppunit/extensions/HelperMacros.h>

#include "manager/health.h"
#include "manager/rebuild_progress.h"
#include "manager/rebuild_report.h"
#include "tests/unit/recovery_fixture.h"

using namespace vastsky;

namespace {
constexpr int64_t kMiB = 1 << 20;
constexpr int64_t kGiB = 1 << 30;
RebuildSample Sample(int64_t done_mib, int64_t total_mib) { return {done_mib * kMiB, total_mib * kMiB}; }
}  // namespace

class RebuildProgressTest : public RecoveryFixture {
  CPPUNIT_TEST_SUITE(RebuildProgressTest);
  CPPUNIT_TEST(SyncRatioIsSectorsDoneOfTotal);
  CPPUNIT_TEST(RateIsMeasuredOverTheLastMinute);
  CPPUNIT_TEST(NoProgressIsAStallAndNoEta);
  CPPUNIT_TEST(ALowerReadingStartsOver);
  CPPUNIT_TEST(FinishedRebuildsAreForgotten);
  CPPUNIT_TEST(TotalsCountQueuedWorkWhole);
  CPPUNIT_TEST(StalledRebuildsAreCounted);
  CPPUNIT_TEST(ListRebuildsFollowsTheHeadsReadings);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override { SetUpPool(4); }

  void SyncRatioIsSectorsDoneOfTotal() {
    RebuildSample s;
    CPPUNIT_ASSERT(ParseSyncRatio("1024/2048", &s));
    CPPUNIT_ASSERT_EQUAL(int64_t(512 * 1024), s.done);
    CPPUNIT_ASSERT_EQUAL(int64_t(1024 * 1024), s.total);
    for (const char* bad : {"", "5", "/5", "5/", "a/b", "6/5", "-1/5", "1/0", "1/2x", "1 /2"})
      CPPUNIT_ASSERT_MESSAGE(bad, !ParseSyncRatio(bad, &s));
  }

  // API.md, listRebuilds: "`rate_mibs` is the copy's pace over the last
  // minute of the head's readings, `eta` the seconds left at that pace".
  void RateIsMeasuredOverTheLastMinute() {
    RebuildProgress p(&clock_);
    RebuildEstimate e;
    CPPUNIT_ASSERT(!p.Estimate(7, &e));
    p.Note(7, Sample(0, 1024));
    CPPUNIT_ASSERT(p.Estimate(7, &e));
    CPPUNIT_ASSERT_EQUAL(int64_t(-1), e.eta_s);  // one reading: no pace yet
    for (int i = 1; i <= 12; ++i) {  // 10 MiB/s for two minutes
      clock_.Advance(10000);
      p.Note(7, Sample(100 * i, 2048));
    }
    for (int i = 1; i <= 6; ++i) {  // then 1 MiB/s for a minute
      clock_.Advance(10000);
      p.Note(7, Sample(1200 + 10 * i, 2048));
    }
    CPPUNIT_ASSERT(p.Estimate(7, &e));
    CPPUNIT_ASSERT_DOUBLES_EQUAL(1.0 * kMiB, e.rate, 1);
    CPPUNIT_ASSERT_EQUAL(int64_t(1260 * kMiB), e.done);
    CPPUNIT_ASSERT_EQUAL(int64_t(2048 - 1260), e.eta_s);
    CPPUNIT_ASSERT_EQUAL(int64_t(0), e.stalled_s);
  }

  void NoProgressIsAStallAndNoEta() {
    RebuildProgress p(&clock_);
    p.Note(7, Sample(0, 1024));
    clock_.Advance(10000);
    p.Note(7, Sample(100, 1024));
    for (int i = 0; i < 10; ++i) {
      clock_.Advance(30000);
      p.Note(7, Sample(100, 1024));
    }
    RebuildEstimate e;
    CPPUNIT_ASSERT(p.Estimate(7, &e));
    CPPUNIT_ASSERT_EQUAL(int64_t(300), e.stalled_s);
    CPPUNIT_ASSERT_EQUAL(0.0, e.rate);
    CPPUNIT_ASSERT_EQUAL(int64_t(-1), e.eta_s);
  }

  // md restarts a recovery from its checkpoint or from the start after a
  // reload: the old pace says nothing about the new run.
  void ALowerReadingStartsOver() {
    RebuildProgress p(&clock_);
    p.Note(7, Sample(0, 1024));
    clock_.Advance(10000);
    p.Note(7, Sample(500, 1024));
    clock_.Advance(10000);
    p.Note(7, Sample(10, 1024));
    RebuildEstimate e;
    CPPUNIT_ASSERT(p.Estimate(7, &e));
    CPPUNIT_ASSERT_EQUAL(int64_t(10 * kMiB), e.done);
    CPPUNIT_ASSERT_EQUAL(int64_t(-1), e.eta_s);
  }

  void FinishedRebuildsAreForgotten() {
    RebuildProgress p(&clock_);
    p.Note(7, Sample(0, 1024));
    p.Note(8, Sample(0, 1024));
    p.Retain({8});
    RebuildEstimate e;
    CPPUNIT_ASSERT(!p.Estimate(7, &e));
    CPPUNIT_ASSERT(p.Estimate(8, &e));
  }

  // API.md, getClusterStatus: "`rebuild_left_mib` counts a queued rebuild
  // whole"; "`rebuild_eta` ... -1 while no pace is known".
  void TotalsCountQueuedWorkWhole() {
    RebuildProgress p(&clock_);
    RebuildInfo running, queued;
    running.mirror_id = 7, running.capacity_gib = 1, running.running = true;
    queued.mirror_id = 8, queued.capacity_gib = 2;
    p.Note(7, Sample(0, 1024));
    RebuildTotals t = SumRebuilds({MakeRebuildRow(running, p), MakeRebuildRow(queued, p)});
    CPPUNIT_ASSERT_EQUAL(int64_t(3072), t.total_mib);
    CPPUNIT_ASSERT_EQUAL(int64_t(3072), t.left_mib);
    CPPUNIT_ASSERT_EQUAL(int64_t(-1), t.eta_s);
    clock_.Advance(16000);
    p.Note(7, Sample(1024, 1024));  // 64 MiB/s
    t = SumRebuilds({MakeRebuildRow(running, p), MakeRebuildRow(queued, p)});
    CPPUNIT_ASSERT_EQUAL(int64_t(2048), t.left_mib);
    CPPUNIT_ASSERT_EQUAL(int64_t(32), t.eta_s);
    CPPUNIT_ASSERT_EQUAL(int64_t(0), SumRebuilds({}).eta_s);
  }

  // API.md, Health: "REBUILD_STALLED ... no progress for 10 minutes".
  void StalledRebuildsAreCounted() {
    RebuildProgress p(&clock_);
    RebuildInfo running;
    running.mirror_id = 7, running.capacity_gib = 1, running.running = true;
    p.Note(7, Sample(10, 1024));
    clock_.Advance((kRebuildStallS - 1) * 1000);
    p.Note(7, Sample(10, 1024));
    CPPUNIT_ASSERT_EQUAL(int64_t(0), SumRebuilds({MakeRebuildRow(running, p)}, kRebuildStallS).stalled);
    clock_.Advance(1000);
    const RebuildTotals t = SumRebuilds({MakeRebuildRow(running, p)}, kRebuildStallS);
    CPPUNIT_ASSERT_EQUAL(int64_t(1), t.stalled);
    CPPUNIT_ASSERT_EQUAL(kRebuildStallS, t.longest_stall_s);
  }

  // API.md, listRebuilds: "each mirror with a rebuild in the queue ...
  // `done_mib` as its head last reported"; a finished one leaves the list.
  void ListRebuildsFollowsTheHeadsReadings() {
    int64_t v;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v", 4, 2, &v).ok());
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{v, ""}, head_).ok());
    VolumeLayout l;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{v, ""}, &l).ok());
    const MirrorInfo& m = l.mirrors[0];
    const int64_t sectors = m.capacity_gib * (kGiB / 512);
    agents_.SetMirrorState(m.id, "aA", "0/" + std::to_string(sectors), "recover");
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetSsvr, m.chunks[0].ssvr_id).ok());
    std::vector<RebuildInfo> queue;
    CPPUNIT_ASSERT(store_->ListRebuilds(&queue).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), queue.size());
    CPPUNIT_ASSERT(!queue[0].running);
    recovery_->RunOnce();  // started
    recovery_->RunOnce();  // the head reads 0 done
    clock_.Advance(20000);
    agents_.SetMirrorState(m.id, "aA", std::to_string(sectors / 4) + "/" + std::to_string(sectors), "recover");
    recovery_->RunOnce();
    queue.clear();
    CPPUNIT_ASSERT(store_->ListRebuilds(&queue).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), queue.size());
    const RebuildRow row = MakeRebuildRow(queue[0], recovery_->progress());
    CPPUNIT_ASSERT(row.info.running);
    CPPUNIT_ASSERT_EQUAL(m.id, row.info.mirror_id);
    CPPUNIT_ASSERT_EQUAL(v, row.info.lvol_id);
    CPPUNIT_ASSERT_EQUAL(head_, row.info.hsvr_id);
    CPPUNIT_ASSERT_EQUAL(size_t(1), row.info.dest_pdsks.size());
    CPPUNIT_ASSERT(row.info.source_pdsk == m.chunks[1].pdsk_id);
    CPPUNIT_ASSERT_EQUAL(m.capacity_gib * 256, row.done_mib);
    CPPUNIT_ASSERT_DOUBLES_EQUAL(m.capacity_gib * 256 / 20.0, row.rate_mibs, 0.01);
    CPPUNIT_ASSERT_EQUAL(int64_t(60), row.eta_s);
    agents_.SetMirrorState(m.id, "AA", std::to_string(sectors) + "/" + std::to_string(sectors), "idle");
    recovery_->RunOnce();
    queue.clear();
    CPPUNIT_ASSERT(store_->ListRebuilds(&queue).ok());
    CPPUNIT_ASSERT(queue.empty());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RebuildProgressTest);
