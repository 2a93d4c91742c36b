// Held space through the recovery loop and the attacher (manager/
// recovery.cc, attacher.cc) against fake agents (tests/unit/fake_agents.h):
// API.md, "Space is freed only when nobody can write it any more" — the
// head's rebuildMirror answer, its detach, its confirmed undo or its fence
// on that disk free a replaced leg; a head that does not answer, or a disk
// the fence did not reach, keeps it held.
#include <cppunit/extensions/HelperMacros.h>

#include <cerrno>
#include <string>

#include "tests/unit/recovery_fixture.h"

using namespace vastsky;

class RecoveryHeldTest : public RecoveryFixture {
  CPPUNIT_TEST_SUITE(RecoveryHeldTest);
  CPPUNIT_TEST(RebuildAnswerFreesTheReplacedLeg);
  CPPUNIT_TEST(SilentHeadKeepsItHeld);
  CPPUNIT_TEST(FenceFreesOnlyWhereItRevoked);
  CPPUNIT_TEST(DetachAnswerFreesIt);
  CPPUNIT_TEST_SUITE_END();

  size_t Held() {
    std::vector<HeldExtent> h;
    CPPUNIT_ASSERT(store_->ListHeld(&h).ok());
    return h.size();
  }

  // A volume attached through the fake head; one of its legs then lost
  // with its storage server. Returns the volume.
  int64_t AttachedThenServerLost(int64_t* lost_ssvr) {
    int64_t v;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v", 4, 2, &v).ok());
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{v, ""}, head_).ok());
    VolumeLayout l;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{v, ""}, &l).ok());
    *lost_ssvr = l.mirrors[0].chunks[0].ssvr_id;
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetSsvr, *lost_ssvr).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), Held());
    return v;
  }

 public:
  void setUp() override { SetUpPool(4); }

  void RebuildAnswerFreesTheReplacedLeg() {
    int64_t lost;
    AttachedThenServerLost(&lost);
    recovery_->RunOnce();  // rebuildMirror with the new leg in the slot: answered
    CPPUNIT_ASSERT_EQUAL(size_t(0), Held());
  }

  void SilentHeadKeepsItHeld() {
    int64_t lost;
    AttachedThenServerLost(&lost);
    agents_.Fail(kHeadUrl, ETIMEDOUT);
    recovery_->RunOnce();
    CPPUNIT_ASSERT_EQUAL(size_t(1), Held());
  }

  void FenceFreesOnlyWhereItRevoked() {
    int64_t lost;
    AttachedThenServerLost(&lost);
    agents_.Fail(kHeadUrl, ECONNREFUSED);
    // The lost server is OFFLINE: the fence cannot revoke the head there.
    CPPUNIT_ASSERT(recovery_->FenceHead(head_).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), Held());
    // Its agent's ACLs reconciled at its registration: freed.
    std::vector<PhysicalDiskInfo> disks;
    CPPUNIT_ASSERT(store_->ListPhysicalDisks(lost, &disks).ok());
    CPPUNIT_ASSERT(store_->ReleaseRevoked(head_, {disks.at(0).id}).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(0), Held());
  }

  void DetachAnswerFreesIt() {
    int64_t lost;
    const int64_t v = AttachedThenServerLost(&lost);
    agents_.Fail(kHeadUrl, ETIMEDOUT);  // no answer: ERROR, still held
    CPPUNIT_ASSERT_EQUAL(ETIMEDOUT, attacher_->Detach(VolumeRef{v, ""}).code());
    CPPUNIT_ASSERT_EQUAL(size_t(1), Held());
    agents_.Fail(kHeadUrl, 0);
    CPPUNIT_ASSERT(attacher_->Detach(VolumeRef{v, ""}).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(0), Held());
    std::vector<std::string> problems;
    CPPUNIT_ASSERT(Store::Audit(dir_ + "/state.db", &problems).ok());
    CPPUNIT_ASSERT_MESSAGE(problems.empty() ? "" : problems[0], problems.empty());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RecoveryHeldTest);
