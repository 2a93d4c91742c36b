// Legs whose thin devices were never created, through the attacher and
// the recovery loop against fake agents (tests/unit/fake_agents.h):
// API.md, "Thin legs" and "Failures and rebuilds" — a leg is in sync only
// if its thin device was created (an allowInitiator carrying it was
// answered); one never created beside a leg that may hold data is rebuilt;
// a leg whose thin device is missing is replaced from a sibling.
#include <cppunit/extensions/HelperMacros.h>

#include <cerrno>
#include <set>
#include <string>

#include "tests/unit/recovery_fixture.h"

using namespace vastsky;

class RecoveryCreatedTest : public RecoveryFixture {
  CPPUNIT_TEST_SUITE(RecoveryCreatedTest);
  CPPUNIT_TEST(SkippedDiskLegIsRebuiltNotInSync);
  CPPUNIT_TEST(UnknownOutcomeKeepsSkippedLegOutOfSync);
  CPPUNIT_TEST(UndoneAttachLeavesLegsNeverCreated);
  CPPUNIT_TEST(RestartBetweenGrantsLeavesNoStuckLeg);
  CPPUNIT_TEST(RestartBeforeAnyGrantBuildsAfresh);
  CPPUNIT_TEST(RestartMidGrowLeavesNoStuckLeg);
  CPPUNIT_TEST(StateOnlyAttachLeavesLegsToCreate);
  CPPUNIT_TEST(MissingThinIsReplacedFromASibling);
  CPPUNIT_TEST(MissingOnlyCopyIsLeftToTheAdmin);
  CPPUNIT_TEST(FailedCreatedRecordUndoesTheAttach);
  CPPUNIT_TEST_SUITE_END();

  int64_t Volume(const std::string& name) {
    int64_t v;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume(name, 4, 2, &v).ok());  // one mirror, a leg on each disk
    return v;
  }
  std::vector<ChunkInfo> Legs(int64_t v, size_t mirror = 0) { return Layout(v).mirrors.at(mirror).chunks; }
  ChunkInfo LegOn(int64_t v, int64_t pdsk, size_t mirror = 0) {
    for (const ChunkInfo& c : Legs(v, mirror))
      if (c.pdsk_id == pdsk) return c;
    CPPUNIT_FAIL("no leg on that disk");
    return ChunkInfo();
  }
  std::set<int64_t> Queued() {
    std::vector<RebuildTask> queued;
    std::set<int64_t> busy;
    std::vector<RunningRebuild> running;
    CPPUNIT_ASSERT(store_->RebuildWork(&queued, &busy, &running).ok());
    std::set<int64_t> out;
    for (const RebuildTask& t : queued) out.insert(t.id);
    return out;
  }
  bool Event(const std::string& level, const std::string& words) {
    std::vector<EventInfo> events;
    CPPUNIT_ASSERT(store_->ListEvents(0, 1000, &events).ok());
    for (const EventInfo& e : events)
      if (e.level == level && e.message.find(words) != std::string::npos) return true;
    return false;
  }
  void Audit() {
    std::vector<std::string> problems;
    CPPUNIT_ASSERT(Store::Audit(dir_ + "/state.db", &problems).ok());
    CPPUNIT_ASSERT_MESSAGE(problems.empty() ? "" : problems[0], problems.empty());
  }
  // The cluster was shut down and came back without the second disk: its
  // server answers, the disk stays HALT (unreachable, never replaced).
  void SecondDiskHalted() {
    CPPUNIT_ASSERT(store_->ShutdownAll().ok());
    for (size_t s = 0; s < ssvrs_.size(); ++s) {
      int64_t id, pd;
      const std::string url = SsvrUrl(static_cast<int>(s));
      CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.0." + std::to_string(s + 1)}, nullptr, &id, false, &url).ok());
      if (s != 1) CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(id, "/dev/d0", kDiskSectors, &pd).ok());
    }
    int64_t h;
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &h, false, &kHeadUrl, &kIqn).ok());
    CPPUNIT_ASSERT_EQUAL(head_, h);
  }
  void SecondDiskBack() {
    int64_t pd;
    CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(ssvrs_[1], "/dev/d0", kDiskSectors, &pd).ok());
    CPPUNIT_ASSERT_EQUAL(pdsks_[1], pd);
  }
  // A manager restarted on the same database.
  void Restart() {
    recovery_.reset();
    attacher_.reset();
    store_.reset(new Store);
    CPPUNIT_ASSERT(store_->Open(dir_ + "/state.db", Store::Options()).ok());
    attacher_.reset(new Attacher(store_.get(), Locked(), &agents_, &agents_));
    NewRecovery();
  }
  // The mirror's leg on the first disk is in sync, the second's SPARE (rebuilt).
  void FirstInSyncSecondRebuilt(int64_t v, size_t mirror = 0) {
    CPPUNIT_ASSERT_EQUAL(int{kInsync}, LegOn(v, pdsks_[0], mirror).status);
    CPPUNIT_ASSERT_EQUAL(int{kSpare}, LegOn(v, pdsks_[1], mirror).status);
  }
  // The intent of an attach of v recorded, the first disk's grant
  // answered if grant_first, and the manager restarted.
  void StoppedMidAttach(int64_t v, bool grant_first) {
    AttachPlan plan;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, head_, false, &plan).ok());
    const ChunkInfo first = LegOn(v, pdsks_[0]);
    if (grant_first) CPPUNIT_ASSERT(attacher_->Grant(plan.head, first.pdsk_id, first.ssvr_url, "op-p").ok());
    Restart();
  }
  // Attaches v (a detach first clears an ERROR), expecting success.
  void AttachAgain(int64_t v) {
    CPPUNIT_ASSERT(attacher_->Detach(VolumeRef{v, ""}).ok());
    Status st = attacher_->Attach(VolumeRef{v, ""}, head_);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
  }

 public:
  void setUp() override { SetUpPool(2); }

  // API.md: "A leg on a disk the attach skipped (failed, offline or
  // halted: a missing member on the head) is not in sync: it is SPARE,
  // rebuilt once its disk is back." Before: marked INSYNC, never created,
  // so every later grant said no `create` and the agent answered ENOENT.
  void SkippedDiskLegIsRebuiltNotInSync() {
    const int64_t v = Volume("v");
    SecondDiskHalted();
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{v, ""}, head_).ok());
    FirstInSyncSecondRebuilt(v);
    CPPUNIT_ASSERT_EQUAL(size_t(1), Queued().size());
    const ChunkInfo skipped = LegOn(v, pdsks_[1]);
    SecondDiskBack();
    AttachAgain(v);
    CPPUNIT_ASSERT(agents_.ThinIds(pdsks_[1]).count(skipped.thin_id));
    Audit();
  }

  // API.md: "a leg still ALLOCATED after an unknown outcome ... becomes
  // INSYNC if it was created ... and SPARE if it was not while another
  // leg was".
  void UnknownOutcomeKeepsSkippedLegOutOfSync() {
    const int64_t v = Volume("v");
    SecondDiskHalted();
    agents_.Fail(kHeadUrl, ETIMEDOUT);  // the attach's answer is lost, and its undo fails
    CPPUNIT_ASSERT(!attacher_->Attach(VolumeRef{v, ""}, head_).ok());
    agents_.Fail(kHeadUrl, 0);
    std::vector<VolumeInfo> vols;
    CPPUNIT_ASSERT(store_->ListLogicalVolumes(nullptr, &vols).ok());
    CPPUNIT_ASSERT_EQUAL(int{kBindError}, vols.at(0).bind_status);
    FirstInSyncSecondRebuilt(v);
    SecondDiskBack();
    AttachAgain(v);
    Audit();
  }

  // API.md: "An attach undone with the head's confirmation leaves the
  // mirrors it handed out unwritten, their legs as never created": a leg
  // created then, skipped by a later attach whose outcome is unknown, was
  // not built with the leg that may now hold data.
  void UndoneAttachLeavesLegsNeverCreated() {
    const int64_t v = Volume("v");
    agents_.Fail(kHeadUrl, ECONNREFUSED);  // both legs granted, the head never reached
    CPPUNIT_ASSERT_EQUAL(ECONNREFUSED, attacher_->Attach(VolumeRef{v, ""}, head_).code());
    for (const ChunkInfo& c : Legs(v)) CPPUNIT_ASSERT(agents_.ThinIds(c.pdsk_id).count(c.thin_id));
    SecondDiskHalted();
    agents_.Fail(kHeadUrl, ETIMEDOUT);
    CPPUNIT_ASSERT(!attacher_->Attach(VolumeRef{v, ""}, head_).ok());
    agents_.Fail(kHeadUrl, 0);
    FirstInSyncSecondRebuilt(v);
    SecondDiskBack();
    AttachAgain(v);
    Audit();
  }

  // A manager stopped between an attach's grants. API.md: "A leg is
  // created once a storage agent answered a grant carrying it; that is
  // recorded before any head is handed the leg": the leg granted counts
  // (it may have been built), the other is rebuilt from it.
  void RestartBetweenGrantsLeavesNoStuckLeg() {
    const int64_t v = Volume("v");
    StoppedMidAttach(v, true);
    FirstInSyncSecondRebuilt(v);
    AttachAgain(v);
    Audit();
  }

  // Stopped before any grant. API.md: "A leg is INSYNC only once created
  // (or, in a mirror none of whose legs was ever created, when all are
  // blank alike ...)": created at the next attach.
  void RestartBeforeAnyGrantBuildsAfresh() {
    const int64_t v = Volume("v");
    StoppedMidAttach(v, false);
    AttachAgain(v);
    for (const ChunkInfo& c : Legs(v)) {
      CPPUNIT_ASSERT_EQUAL(int{kInsync}, c.status);
      CPPUNIT_ASSERT(agents_.ThinIds(c.pdsk_id).count(c.thin_id));
    }
    Audit();
  }

  // The same for a grow: its new legs count once granted.
  void RestartMidGrowLeavesNoStuckLeg() {
    const int64_t v = Volume("v");
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{v, ""}, head_).ok());
    ResizePlan plan;
    CPPUNIT_ASSERT(store_->BeginResize(VolumeRef{v, ""}, 8, &plan).ok());
    CPPUNIT_ASSERT(plan.agent);
    const ChunkInfo first = LegOn(v, pdsks_[0], 1);
    CPPUNIT_ASSERT(attacher_->Grant(plan.head, first.pdsk_id, first.ssvr_url, "op-p").ok());
    Restart();
    FirstInSyncSecondRebuilt(v, 1);
    AttachAgain(v);
    Audit();
  }

  // API.md: a grant's legs have `create` "unless the leg is INSYNC and
  // was created": a 3.0 head's state-only attach creates nothing, and an
  // agent's attach later creates its legs. Before: ENOENT for ever.
  void StateOnlyAttachLeavesLegsToCreate() {
    const int64_t v = Volume("v");
    int64_t plain;
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.9"}, &plain).ok());
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{v, ""}, plain).ok());
    for (const ChunkInfo& c : Legs(v)) CPPUNIT_ASSERT_EQUAL(int{kInsync}, c.status);  // as 3.0 shows it
    AttachAgain(v);
    for (const ChunkInfo& c : Legs(v)) CPPUNIT_ASSERT(agents_.ThinIds(c.pdsk_id).count(c.thin_id));
    Audit();
  }

  // API.md: "A leg lost from its disk's pool: an allowInitiator answered
  // ENOENT and the agent's listExports lacks a leg the grant gave as
  // existing. It is replaced as a dead leg is ... if another leg of its
  // mirror is in sync"; "once such a leg is replaced the attach is tried
  // once more".
  void MissingThinIsReplacedFromASibling() {
    const int64_t v = Volume("v");
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{v, ""}, head_).ok());
    CPPUNIT_ASSERT(attacher_->Detach(VolumeRef{v, ""}).ok());
    const ChunkInfo lost = LegOn(v, pdsks_[1]);
    CPPUNIT_ASSERT(agents_.DeleteLegs(SsvrUrl(1), "x", lost.pdsk_id, {LegRef{lost.id, lost.thin_id}}).ok());
    Status st = attacher_->Attach(VolumeRef{v, ""}, head_);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    std::vector<ChunkInfo> legs = Legs(v);
    CPPUNIT_ASSERT_EQUAL(size_t(2), legs.size());
    for (const ChunkInfo& c : legs) CPPUNIT_ASSERT(c.id != lost.id);
    const ChunkInfo kept = LegOn(v, pdsks_[0]);
    const ChunkInfo fresh = legs[0].id == kept.id ? legs[1] : legs[0];
    CPPUNIT_ASSERT_EQUAL(int{kInsync}, kept.status);
    CPPUNIT_ASSERT_EQUAL(int{kSpare}, fresh.status);
    CPPUNIT_ASSERT_EQUAL(size_t(1), Queued().size());
    CPPUNIT_ASSERT(agents_.VolumesOn(kHeadUrl).count(v));
    CPPUNIT_ASSERT(Event("warning", "thin device is missing"));
    Audit();
  }

  // API.md: "else it may be the only copy: it is kept, an error event
  // lost says so, and the call fails ENOENT."
  void MissingOnlyCopyIsLeftToTheAdmin() {
    const int64_t v = Volume("v");
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{v, ""}, head_).ok());
    CPPUNIT_ASSERT(attacher_->Detach(VolumeRef{v, ""}).ok());
    for (const ChunkInfo& c : Legs(v)) {
      const std::string url = SsvrUrl(c.pdsk_id == pdsks_[0] ? 0 : 1);
      CPPUNIT_ASSERT(agents_.DeleteLegs(url, "x", c.pdsk_id, {LegRef{c.id, c.thin_id}}).ok());
    }
    // The first leg found missing still had an in-sync sibling as far as
    // the database knew: replaced. The sibling, found missing next, is
    // kept as the only copy.
    const ChunkInfo last = LegOn(v, pdsks_[0]);
    Status st = attacher_->Attach(VolumeRef{v, ""}, head_);
    CPPUNIT_ASSERT_EQUAL(ENOENT, st.code());
    CPPUNIT_ASSERT_EQUAL(last.id, LegOn(v, pdsks_[0]).id);
    FirstInSyncSecondRebuilt(v);
    CPPUNIT_ASSERT(Event("error", "only copy"));
    CPPUNIT_ASSERT(agents_.VolumesOn(kHeadUrl).empty());
    Audit();
  }

  // API.md: "that is recorded before any head is handed the leg (a
  // failure to record it fails the grant)": a transaction of its own; if
  // it fails the attach is undone before the head is called (the legs
  // stay ALLOCATED, created again next time).
  void FailedCreatedRecordUndoesTheAttach() {
    const int64_t v = Volume("v");
    store_->db_for_test()->FailAfter(2, Db::Fault::kCommit);  // BeginAttach, then the first grant's record
    CPPUNIT_ASSERT(!attacher_->Attach(VolumeRef{v, ""}, head_).ok());
    CPPUNIT_ASSERT(!store_->db_for_test()->fault_pending());
    for (const ChunkInfo& c : Legs(v)) CPPUNIT_ASSERT_EQUAL(int{kAllocated}, c.status);
    for (const std::string& call : agents_.Calls())  // the head was never asked to build
      CPPUNIT_ASSERT(call.rfind("attachLogicalVolume ", 0) != 0);
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{v, ""}, head_).ok());
    for (const ChunkInfo& c : Legs(v)) CPPUNIT_ASSERT_EQUAL(int{kInsync}, c.status);
    Audit();
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RecoveryCreatedTest);
