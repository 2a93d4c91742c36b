// The head's freeze of a volume for a snapshot (agents/PROTOCOL.md,
// "Freezing a volume", freezeVolume and thawVolume) over the simulated dm
// and a FakeClock: the order of suspends and resumes, the pause measured,
// the deadline thawing by itself and remembered, a failure midway undone,
// the Watch and a trim leaving a frozen volume alone, what a frozen volume
// refuses, bad input, and an agent restarted mid-freeze.
#include <cppunit/extensions/HelperMacros.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <functional>
#include <memory>

#include "agents/head/assembly.h"
#include "agents/head/freezer.h"
#include "agents/head/leg_maps.h"
#include "lib/clock.h"
#include "lib/state_file.h"
#include "tests/unit/head_fixture.h"
#include "tests/unit/temp_db.h"

using namespace vastsky;
using namespace vastsky::head_test;

namespace {

// lvol 4: top device vastsky-4 over the raids of mirrors 400 and 401.
const std::string kTop = "vastsky-4", kRaid0 = "vastsky-4-m400", kRaid1 = "vastsky-4-m401";

// The sim's dm, writing down every call that suspends, resumes or reloads.
class RecordingDm : public DeviceMapper {
 public:
  explicit RecordingDm(DeviceMapper* inner) : inner_(inner) {}
  Status Create(const std::string& n, const std::vector<DmTarget>& t, DmAccess a) override {
    return inner_->Create(n, t, a);
  }
  Status Remove(const std::string& n) override { return inner_->Remove(n); }
  Status Replace(const std::string& n, const std::vector<DmTarget>& t, DmAccess a) override {
    calls.push_back("reload " + n);
    return inner_->Replace(n, t, a);
  }
  Status GetInfo(const std::string& n, DmInfo* i) override { return inner_->GetInfo(n, i); }
  Status GetTable(const std::string& n, std::vector<DmTarget>* t) override { return inner_->GetTable(n, t); }
  Status GetStatus(const std::string& n, std::vector<DmTarget>* s) override { return inner_->GetStatus(n, s); }
  Status List(std::vector<std::string>* n) override { return inner_->List(n); }
  Status Message(const std::string& n, const std::string& m) override { return inner_->Message(n, m); }
  Status Suspend(const std::string& n) override {
    calls.push_back("suspend " + n);
    Hook();
    return inner_->Suspend(n);
  }
  Status Resume(const std::string& n) override {
    calls.push_back("resume " + n);
    Hook();
    if (n == fail_resume) return Status::Error(EIO, "the test fails resumes of " + n);
    return inner_->Resume(n);
  }
  Status Discard(const std::string& n, uint64_t o, uint64_t l) override {
    calls.push_back("discard " + n);
    return inner_->Discard(n, o, l);
  }
  std::string DevicePath(const std::string& n) override { return inner_->DevicePath(n); }

  std::vector<std::string> calls;
  std::string fail_resume;  // a device whose resumes fail
  std::function<void()> hook;  // run once, at the next suspend or resume

 private:
  void Hook() {
    std::function<void()> h;
    h.swap(hook);
    if (h) h();
  }

  DeviceMapper* inner_;
};

}  // namespace

class HeadFreezeTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(HeadFreezeTest);
  CPPUNIT_TEST(FreezeSuspendsTopThenRaidsThawResumesRaidsThenTop);
  CPPUNIT_TEST(TheDeadlineThawsAndTheThawSaysEtime);
  CPPUNIT_TEST(AThawPastTheDeadlineIsEtime);
  CPPUNIT_TEST(AFailureMidwayResumesWhatWasSuspended);
  CPPUNIT_TEST(AFailedResumeIsRetried);
  CPPUNIT_TEST(AThawMeetingAFreezeOrTheDeadlineOnTheWay);
  CPPUNIT_TEST(TheWatchLeavesAFrozenVolumeAlone);
  CPPUNIT_TEST(ATrimLeavesAFrozenRaidAlone);
  CPPUNIT_TEST(AFrozenVolumeRefusesWhatWouldTouchIt);
  CPPUNIT_TEST(BadInput);
  CPPUNIT_TEST(ARestartResumesAVolumeLeftFrozen);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    tmp_.reset(new TempDb);
    sim_ = NewSimDeviceMapper(tmp_->dir + "/dm");
    dm_.reset(new RecordingDm(sim_.get()));
    iscsi_ = NewSimInitiator(tmp_->dir + "/iscsi", "iqn.2024-01.org.vastsky.test:head");
    mkdir((tmp_->dir + "/iscsi").c_str(), 0755);
    Open();
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(4, 2, 2), "user", "secret-secret", &device).ok());
    dm_->calls.clear();
  }
  void tearDown() override {
    assembly_.reset();
    freezer_.reset();
    tmp_.reset();
  }

  // "0 once `vastsky-<lvolid>` and then each of its raids are suspended
  // with flush"; "`thawVolume` resumes the raids, then the top device;
  // `paused_ms` runs from the first suspend to the last resume"; "A
  // repeated `opid` answers as the first call did"; "ENOENT if not frozen"
  void FreezeSuspendsTopThenRaidsThawResumesRaidsThenTop() {
    CPPUNIT_ASSERT(assembly_->Freeze(4, 2000).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("suspend vastsky-4 suspend vastsky-4-m400 suspend vastsky-4-m401"),
                         Join(dm_->calls));
    CPPUNIT_ASSERT(Suspended(kTop) && Suspended(kRaid0) && Suspended(kRaid1));
    CPPUNIT_ASSERT(freezer_->Frozen(4));
    dm_->calls.clear();
    clock_.Advance(250);
    CPPUNIT_ASSERT_EQUAL(int64_t(1750), freezer_->ThawExpired());
    int64_t paused = 0;
    CPPUNIT_ASSERT(freezer_->Thaw(4, &paused).ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(250), paused);
    CPPUNIT_ASSERT_EQUAL(std::string("resume vastsky-4-m401 resume vastsky-4-m400 resume vastsky-4"), Join(dm_->calls));
    CPPUNIT_ASSERT(!Suspended(kTop) && !Suspended(kRaid0) && !Suspended(kRaid1));
    CPPUNIT_ASSERT(!freezer_->Frozen(4));
    // A repeated thawVolume answers with the first one's pause.
    int64_t again = 0;
    CPPUNIT_ASSERT(freezer_->LastPause(4, &again));
    CPPUNIT_ASSERT_EQUAL(int64_t(250), again);
    CPPUNIT_ASSERT_EQUAL(ENOENT, freezer_->Thaw(4, &paused).code());
    CPPUNIT_ASSERT_EQUAL(int64_t(-1), freezer_->ThawExpired());
  }

  // "At `timeout_ms` (monotonic clock) the head resumes the volume by
  // itself"; "the thaw that follows is ETIME (again if repeated, until the
  // next freeze)"
  void TheDeadlineThawsAndTheThawSaysEtime() {
    CPPUNIT_ASSERT(assembly_->Freeze(4, 500).ok());
    clock_.Advance(499);
    CPPUNIT_ASSERT_EQUAL(int64_t(1), freezer_->ThawExpired());
    CPPUNIT_ASSERT(Suspended(kTop) && Suspended(kRaid1));
    clock_.Advance(1);
    dm_->calls.clear();
    CPPUNIT_ASSERT_EQUAL(int64_t(0), freezer_->ThawExpired());
    CPPUNIT_ASSERT_EQUAL(std::string("resume vastsky-4-m401 resume vastsky-4-m400 resume vastsky-4"), Join(dm_->calls));
    CPPUNIT_ASSERT(!Suspended(kTop) && !Suspended(kRaid0) && !Suspended(kRaid1));
    CPPUNIT_ASSERT(!freezer_->Frozen(4));
    CPPUNIT_ASSERT_EQUAL(int64_t(-1), freezer_->ThawExpired());
    int64_t paused = 0;
    for (int i = 0; i < 2; ++i) CPPUNIT_ASSERT_EQUAL(ETIME, freezer_->Thaw(4, &paused).code());
    CPPUNIT_ASSERT(!freezer_->LastPause(4, &paused));
    // A new freeze starts afresh.
    CPPUNIT_ASSERT(assembly_->Freeze(4, 500).ok());
    CPPUNIT_ASSERT(freezer_->Thaw(4, &paused).ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(0), paused);
  }

  // "as is a thaw arriving past the deadline": before the deadline thread
  // acted, it resumes and says ETIME (again if repeated).
  void AThawPastTheDeadlineIsEtime() {
    CPPUNIT_ASSERT(assembly_->Freeze(4, 100).ok());
    clock_.Advance(150);
    int64_t paused = 0;
    CPPUNIT_ASSERT_EQUAL(ETIME, freezer_->Thaw(4, &paused).code());
    CPPUNIT_ASSERT(!Suspended(kTop) && !Suspended(kRaid0) && !Suspended(kRaid1));
    CPPUNIT_ASSERT_EQUAL(ETIME, freezer_->Thaw(4, &paused).code());
  }

  // "a suspend that fails resumes what the call suspended (and the device
  // that failed: a suspend that timed out may still land) and answers its
  // errno"; a thaw "after a freeze that failed" is ETIME.
  void AFailureMidwayResumesWhatWasSuspended() {
    std::ofstream(dm_->DevicePath(kRaid1) + ".suspend-errno") << EIO;
    CPPUNIT_ASSERT_EQUAL(EIO, assembly_->Freeze(4, 2000).code());
    CPPUNIT_ASSERT_EQUAL(std::string("suspend vastsky-4 suspend vastsky-4-m400 suspend vastsky-4-m401 "
                                     "resume vastsky-4-m401 resume vastsky-4-m400 resume vastsky-4"),
                         Join(dm_->calls));
    CPPUNIT_ASSERT(!Suspended(kTop) && !Suspended(kRaid0) && !Suspended(kRaid1));
    CPPUNIT_ASSERT(!freezer_->Frozen(4));
    int64_t paused = 0;
    CPPUNIT_ASSERT_EQUAL(ETIME, freezer_->Thaw(4, &paused).code());
    unlink((dm_->DevicePath(kRaid1) + ".suspend-errno").c_str());
    CPPUNIT_ASSERT(assembly_->Freeze(4, 2000).ok());
    CPPUNIT_ASSERT(freezer_->Thaw(4, &paused).ok());
  }

  // "A resume that fails is the thaw's errno; the head retries it every
  // second ... and the next thaw is ETIME."
  void AFailedResumeIsRetried() {
    CPPUNIT_ASSERT(assembly_->Freeze(4, 2000).ok());
    dm_->fail_resume = kRaid0;
    int64_t paused = 0;
    CPPUNIT_ASSERT_EQUAL(EIO, freezer_->Thaw(4, &paused).code());
    CPPUNIT_ASSERT(!Suspended(kTop) && Suspended(kRaid0) && !Suspended(kRaid1));
    CPPUNIT_ASSERT(freezer_->Frozen(4));
    CPPUNIT_ASSERT_EQUAL(int64_t(1000), freezer_->ThawExpired());
    clock_.Advance(1000);
    CPPUNIT_ASSERT_EQUAL(int64_t(0), freezer_->ThawExpired());
    CPPUNIT_ASSERT(Suspended(kRaid0));
    dm_->fail_resume.clear();
    dm_->calls.clear();
    clock_.Advance(1000);
    CPPUNIT_ASSERT_EQUAL(int64_t(0), freezer_->ThawExpired());
    CPPUNIT_ASSERT_EQUAL(std::string("resume vastsky-4-m400"), Join(dm_->calls));
    CPPUNIT_ASSERT(!Suspended(kRaid0) && !freezer_->Frozen(4));
    CPPUNIT_ASSERT_EQUAL(ETIME, freezer_->Thaw(4, &paused).code());
  }

  // "EBUSY while its freeze is under way"; a thaw meeting the deadline's
  // own on the way is ETIME, as after it.
  void AThawMeetingAFreezeOrTheDeadlineOnTheWay() {
    int64_t paused = 0;
    int code = 0;
    dm_->hook = [&] { code = freezer_->Thaw(4, &paused).code(); };
    CPPUNIT_ASSERT(assembly_->Freeze(4, 100).ok());
    CPPUNIT_ASSERT_EQUAL(EBUSY, code);
    clock_.Advance(100);
    dm_->hook = [&] { code = freezer_->Thaw(4, &paused).code(); };
    CPPUNIT_ASSERT_EQUAL(int64_t(0), freezer_->ThawExpired());
    CPPUNIT_ASSERT_EQUAL(ETIME, code);
    CPPUNIT_ASSERT(!Suspended(kTop) && !Suspended(kRaid0) && !Suspended(kRaid1));
  }

  // "While frozen, the looks (dead-leg revival, trims, re-assembly) leave
  // the volume alone until thawed": a dead leg that reads again is still
  // reported, reloaded once thawed.
  void TheWatchLeavesAFrozenVolumeAlone() {
    std::ofstream(dm_->DevicePath(kRaid0) + ".status-suspended") << "raid1 2 DA 2097152/2097152 frozen 0 0 -";
    CPPUNIT_ASSERT(assembly_->Freeze(4, 60000).ok());
    dm_->calls.clear();
    assembly_->Reconcile();
    std::vector<int64_t> dead = assembly_->Watch();
    CPPUNIT_ASSERT(std::find(dead.begin(), dead.end(), 4000) != dead.end());
    CPPUNIT_ASSERT_EQUAL(std::string(""), Join(dm_->calls));
    CPPUNIT_ASSERT(Suspended(kTop) && Suspended(kRaid0) && Suspended(kRaid1));
    int64_t paused = 0;
    CPPUNIT_ASSERT(freezer_->Thaw(4, &paused).ok());
    std::ofstream(dm_->DevicePath(kRaid0) + ".status") << "raid1 2 DA 2097152/2097152 idle 0 0 -";
    dm_->calls.clear();
    assembly_->Watch();
    CPPUNIT_ASSERT_EQUAL(std::string("reload vastsky-4-m400"), Join(dm_->calls));
  }

  // The same for trims: a rebuilt leg due for its trim waits for the thaw,
  // even if the suspended raid looks whole (a trim resumes its raid).
  void ATrimLeavesAFrozenRaidAlone() {
    VolumeSpec v = Volume(4, 2, 2);
    v.mirrors[0].legs[0] = Leg(4900, 9, 3);
    CPPUNIT_ASSERT(assembly_->Rebuild(v, 400, 0).ok());
    maps_.maps[4001] = {64, {}};
    maps_.error = Status::Error(EHOSTDOWN, "storage server down");
    assembly_->Watch();  // marks the leg in sync; its trim fails, retried in 30 s
    CPPUNIT_ASSERT_EQUAL(size_t(1), maps_.asked.size());
    maps_.error = Status::OK();
    std::ofstream(dm_->DevicePath(kRaid0) + ".status-suspended") << "raid1 2 AA 2097152/2097152 idle 0 0 -";
    CPPUNIT_ASSERT(assembly_->Freeze(4, 60000).ok());
    clock_.Advance(31000);
    dm_->calls.clear();
    assembly_->Watch();
    CPPUNIT_ASSERT_EQUAL(size_t(1), maps_.asked.size());
    CPPUNIT_ASSERT_EQUAL(std::string(""), Join(dm_->calls));
    CPPUNIT_ASSERT(Suspended(kRaid0));
    int64_t paused = 0;
    CPPUNIT_ASSERT(freezer_->Thaw(4, &paused).ok());
    assembly_->Watch();
    CPPUNIT_ASSERT_EQUAL(size_t(2), maps_.asked.size());
    CPPUNIT_ASSERT(!Suspended(kRaid0));
  }

  // "EBUSY if frozen already"; "`detachLogicalVolume`,
  // `growLogicalVolume` and `rebuildMirror` are EBUSY (retry after the
  // thaw)", nothing touched; "a recovery keeps its rate until its next
  // reload".
  void AFrozenVolumeRefusesWhatWouldTouchIt() {
    CPPUNIT_ASSERT(assembly_->Freeze(4, 2000).ok());
    dm_->calls.clear();
    CPPUNIT_ASSERT_EQUAL(EBUSY, assembly_->Freeze(4, 2000).code());
    CPPUNIT_ASSERT_EQUAL(EBUSY, assembly_->Grow(Volume(4, 3, 2)).code());
    VolumeSpec v = Volume(4, 2, 2);
    v.mirrors[0].legs[0] = Leg(4900, 9, 3);
    CPPUNIT_ASSERT_EQUAL(EBUSY, assembly_->Rebuild(v, 400, 0).code());
    CPPUNIT_ASSERT_EQUAL(EBUSY, assembly_->Detach(4).code());
    CPPUNIT_ASSERT(assembly_->SetRebuildRate(1024).ok());
    CPPUNIT_ASSERT_EQUAL(std::string(""), Join(dm_->calls));
    CPPUNIT_ASSERT(Suspended(kTop) && Suspended(kRaid0) && Suspended(kRaid1));
    // Another volume is not held up.
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(5, 1, 2, 5), "user", "secret-secret", &device).ok());
    CPPUNIT_ASSERT(assembly_->Detach(5).ok());
    int64_t paused = 0;
    CPPUNIT_ASSERT(freezer_->Thaw(4, &paused).ok());
    CPPUNIT_ASSERT(assembly_->Grow(Volume(4, 3, 2)).ok());
    CPPUNIT_ASSERT(assembly_->Detach(4).ok());
  }

  // "`timeout_ms` (100..60000)"; "ENOENT if not assembled there"
  void BadInput() {
    CPPUNIT_ASSERT_EQUAL(EINVAL, assembly_->Freeze(4, 99).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, assembly_->Freeze(4, 60001).code());
    CPPUNIT_ASSERT_EQUAL(ENOENT, assembly_->Freeze(7, 1000).code());
    int64_t paused = 0;
    CPPUNIT_ASSERT_EQUAL(ENOENT, freezer_->Thaw(7, &paused).code());
    CPPUNIT_ASSERT_EQUAL(std::string(""), Join(dm_->calls));
    CPPUNIT_ASSERT(!freezer_->Frozen(4));
    CPPUNIT_ASSERT(assembly_->Freeze(4, 100).ok() && freezer_->Thaw(4, &paused).ok());
    CPPUNIT_ASSERT(assembly_->Freeze(4, 60000).ok() && freezer_->Thaw(4, &paused).ok());
  }

  // "one that starts resumes a recorded volume's suspended devices (a
  // thaw then answers ENOENT)": the deadline ended with the agent.
  void ARestartResumesAVolumeLeftFrozen() {
    CPPUNIT_ASSERT(assembly_->Freeze(4, 60000).ok());
    Open();
    CPPUNIT_ASSERT(assembly_->Start().ok());
    CPPUNIT_ASSERT(!Suspended(kTop) && !Suspended(kRaid0) && !Suspended(kRaid1));
    int64_t paused = 0;
    CPPUNIT_ASSERT_EQUAL(ENOENT, freezer_->Thaw(4, &paused).code());
  }

 private:
  // A new agent over the same host: a fresh freezer and assembly.
  void Open() {
    assembly_.reset();
    freezer_.reset(new Freezer(dm_.get(), &clock_));
    assembly_.reset(new Assembly(Options(tmp_->dir, &clock_, freezer_.get()), dm_.get(), iscsi_.get(), &maps_));
  }
  bool Suspended(const std::string& name) {
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo(name, &info).ok());
    return info.suspended;
  }

  std::unique_ptr<TempDb> tmp_;
  FakeClock clock_;
  FakeLegMaps maps_;
  std::unique_ptr<DeviceMapper> sim_;
  std::unique_ptr<RecordingDm> dm_;
  std::unique_ptr<IscsiInitiator> iscsi_;
  std::unique_ptr<Freezer> freezer_;
  std::unique_ptr<Assembly> assembly_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(HeadFreezeTest);
