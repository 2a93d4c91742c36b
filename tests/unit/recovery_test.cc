// The recovery loop's failure handling (manager/recovery.h) against fake
// agents (tests/unit/fake_agents.h) and a clock the test moves: nothing the
// manager's absence or isolation makes look dead is declared failed, and a
// head is fenced on every disk, with no grant slipping behind the fence,
// before its volumes are released.
#include <cppunit/extensions/HelperMacros.h>
#include <unistd.h>

#include <cerrno>
#include <future>
#include <set>
#include <string>
#include <thread>

#include "tests/unit/recovery_fixture.h"

using namespace vastsky;

class RecoveryTest : public RecoveryFixture {
  CPPUNIT_TEST_SUITE(RecoveryTest);
  CPPUNIT_TEST(RestartedManagerGivesEveryServerAGracePeriod);
  CPPUNIT_TEST(StormOfSilenceDeclaresNothing);
  CPPUNIT_TEST(SilentStorageServerIsDeclaredFailed);
  CPPUNIT_TEST(SilentHeadIsFencedOnEveryDiskBeforeRelease);
  CPPUNIT_TEST(FenceWaitsForGrantsInFlightAndRefusesNewOnes);
  CPPUNIT_TEST(HungStorageAgentIsAskedOncePerFence);
  CPPUNIT_TEST(LegTakenBackWithinTheGracePeriodIsKept);
  CPPUNIT_TEST(LegDeadThroughTheGracePeriodIsReplacedOnce);
  CPPUNIT_TEST(FencedHeadLetsGoOfWhatWasReleasedWhenItReturns);
  CPPUNIT_TEST_SUITE_END();

  int volumes_ = 0;

  void HearAll() {
    for (int64_t s : ssvrs_) recovery_->Heard(kTargetSsvr, s);
    recovery_->Heard(kTargetHsvr, head_);
  }

  int Priority(int kind, int64_t id) {
    if (kind == kTargetSsvr) {
      std::vector<StorageServerInfo> out;
      CPPUNIT_ASSERT(store_->ListStorageServers(id, &out).ok());
      return out.at(0).priority;
    }
    std::vector<HeadServerInfo> out;
    CPPUNIT_ASSERT(store_->ListHeadServers(id, &out).ok());
    return out.at(0).priority;
  }

  int64_t AttachedVolume() {
    int64_t v;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v" + std::to_string(++volumes_), 6, 2, &v).ok());
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{v, ""}, head_).ok());
    return v;
  }

  std::set<int64_t> Legs(int64_t lvol) {
    VolumeLayout layout;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{lvol, ""}, &layout).ok());
    std::set<int64_t> out;
    for (const MirrorInfo& m : layout.mirrors)
      for (const ChunkInfo& c : m.chunks) out.insert(c.id);
    return out;
  }

  // Every server heard and the head reporting dead_legs, every 5 s for ms.
  void Beat(int64_t ms, const std::vector<int64_t>& dead_legs) {
    for (int64_t t = 0; t < ms; t += 5000) {
      HearAll();
      recovery_->NoteDeadLegs(head_, dead_legs);
      clock_.Advance(5000);
      recovery_->RunOnce();
    }
  }

  int64_t HeadOf(int64_t lvol) {
    VolumeRef ref{lvol, ""};
    std::vector<VolumeInfo> vols;
    CPPUNIT_ASSERT(store_->ListLogicalVolumes(&ref, &vols).ok());
    return vols.at(0).hsvr_id;
  }

 public:
  void setUp() override { SetUpPool(6); }

  // API.md: "silence is measured on the monotonic clock, from the later of
  // the manager's start and the last heartbeat it received".
  void RestartedManagerGivesEveryServerAGracePeriod() {
    const int64_t v = AttachedVolume();
    clock_.Advance(3600 * 1000);  // the manager was away for an hour
    NewRecovery();
    clock_.Advance(kGraceS * 1000 - 1000);
    recovery_->RunOnce();
    HearAll();
    clock_.Advance(kGraceS * 1000 - 1000);
    recovery_->RunOnce();
    for (int64_t s : ssvrs_) CPPUNIT_ASSERT_EQUAL(int(kHigh), Priority(kTargetSsvr, s));
    CPPUNIT_ASSERT_EQUAL(int(kHigh), Priority(kTargetHsvr, head_));
    CPPUNIT_ASSERT_EQUAL(head_, HeadOf(v));
    CPPUNIT_ASSERT(!agents_.Acls().empty());
  }

  // API.md: "when more than a third of the servers fall silent within one
  // grace period ... It declares nothing failed".
  void StormOfSilenceDeclaresNothing() {
    const int64_t v = AttachedVolume();
    HearAll();
    clock_.Advance(kGraceS * 1000 + 1);
    recovery_->Heard(kTargetSsvr, ssvrs_[0]);
    recovery_->Heard(kTargetSsvr, ssvrs_[1]);
    recovery_->Heard(kTargetSsvr, ssvrs_[2]);  // 3 of 6 storage servers and the head silent
    recovery_->RunOnce();
    CPPUNIT_ASSERT(recovery_->isolated());
    CPPUNIT_ASSERT_EQUAL(4, recovery_->silent_servers());
    for (int64_t s : ssvrs_) CPPUNIT_ASSERT_EQUAL(int(kHigh), Priority(kTargetSsvr, s));
    CPPUNIT_ASSERT_EQUAL(int(kHigh), Priority(kTargetHsvr, head_));
    CPPUNIT_ASSERT_EQUAL(head_, HeadOf(v));
    std::vector<EventInfo> events;
    CPPUNIT_ASSERT(store_->ListEvents(0, 1000, &events).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("isolation"), events.back().type);
    CPPUNIT_ASSERT_EQUAL(std::string("error"), events.back().level);
  }

  void SilentStorageServerIsDeclaredFailed() {
    HearAll();
    clock_.Advance(kGraceS * 1000 + 1);
    for (size_t i = 1; i < ssvrs_.size(); ++i) recovery_->Heard(kTargetSsvr, ssvrs_[i]);
    recovery_->Heard(kTargetHsvr, head_);
    recovery_->RunOnce();
    CPPUNIT_ASSERT(!recovery_->isolated());
    CPPUNIT_ASSERT_EQUAL(int(kOffline), Priority(kTargetSsvr, ssvrs_[0]));
    CPPUNIT_ASSERT_EQUAL(int(kHigh), Priority(kTargetSsvr, ssvrs_[1]));
  }

  // API.md: "A head is fenced first: ... its initiator is revoked on every
  // disk of every live storage server, and only then are its volumes
  // released."
  void SilentHeadIsFencedOnEveryDiskBeforeRelease() {
    const int64_t v = AttachedVolume();
    agents_.Allow(SsvrUrl(5), pdsks_[5], kIqn);  // a disk it was never granted: revoked too
    HearAll();
    clock_.Advance(kGraceS * 1000 + 1);
    for (int64_t s : ssvrs_) recovery_->Heard(kTargetSsvr, s);
    recovery_->RunOnce();
    CPPUNIT_ASSERT(agents_.Acls().empty());
    int revokes = 0;
    for (const std::string& c : agents_.Calls()) revokes += c.rfind("revokeInitiator", 0) == 0;
    CPPUNIT_ASSERT_EQUAL(int(pdsks_.size()), revokes);
    CPPUNIT_ASSERT_EQUAL(int(kOffline), Priority(kTargetHsvr, head_));
    CPPUNIT_ASSERT_EQUAL(int64_t(0), HeadOf(v));
  }

  // API.md: "from that moment no access is granted to it, the grants
  // already in flight are waited for".
  void FenceWaitsForGrantsInFlightAndRefusesNewOnes() {
    int64_t v;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("late", 6, 2, &v).ok());
    agents_.HoldGrants(true);
    auto attach = std::async(std::launch::async, [&] { return attacher_->Attach(VolumeRef{v, ""}, head_); });
    while (agents_.grants_waiting() == 0) usleep(1000);
    auto fence = std::async(std::launch::async, [&] { return recovery_->FenceHead(head_); });
    CPPUNIT_ASSERT(fence.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
    agents_.HoldGrants(false);
    CPPUNIT_ASSERT(fence.get().ok());
    const Status st = attach.get();
    CPPUNIT_ASSERT_EQUAL(EPERM, st.code());
    CPPUNIT_ASSERT(agents_.Acls().empty());  // the grant that was in flight is revoked
    CPPUNIT_ASSERT_EQUAL(int64_t(0), HeadOf(v));
    // Registered again: it may be granted access again.
    recovery_->Registered(kTargetHsvr, head_);
    int64_t again;
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &again, true, &kHeadUrl, &kIqn).ok());
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{v, ""}, head_).ok());
  }

  // API.md: "a server that does not answer is not asked again in that
  // pass", and the others are fenced all the same.
  void HungStorageAgentIsAskedOncePerFence() {
    int64_t second;  // two disks on the hung server: still one call
    CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(ssvrs_[0], "/dev/d1", kDiskSectors, &second).ok());
    const int64_t v = AttachedVolume();
    agents_.Fail(SsvrUrl(0), ETIMEDOUT);
    const Status st = recovery_->FenceHead(head_);
    CPPUNIT_ASSERT_EQUAL(EAGAIN, st.code());
    int asked = 0;
    for (const std::string& c : agents_.Calls()) asked += c == "revokeInitiator " + SsvrUrl(0);
    CPPUNIT_ASSERT_EQUAL(1, asked);
    for (const auto& disk : agents_.Acls())  // only the hung server's are left
      CPPUNIT_ASSERT(disk.first == pdsks_[0] || disk.first == second);
    CPPUNIT_ASSERT_EQUAL(head_, HeadOf(v));  // not released: the fence is not confirmed
  }

  // API.md: a leg reported dead is replaced when it stays dead for the
  // grace period; one the head took back (a link down for less) is not,
  // however late in the grace period it came back.
  void LegTakenBackWithinTheGracePeriodIsKept() {
    const int64_t v = AttachedVolume();
    const std::set<int64_t> before = Legs(v);
    const int64_t leg = *before.begin();
    Beat(kGraceS * 1000 - 5000, {leg});
    Beat(3 * kGraceS * 1000, {});
    CPPUNIT_ASSERT(Legs(v) == before);
  }

  void LegDeadThroughTheGracePeriodIsReplacedOnce() {
    const int64_t v = AttachedVolume();
    const std::set<int64_t> before = Legs(v);
    const int64_t leg = *before.begin();
    // The head keeps listing it until the rebuild reload drops it.
    Beat(3 * kGraceS * 1000, {leg});
    const std::set<int64_t> after = Legs(v);
    CPPUNIT_ASSERT(!after.count(leg));
    CPPUNIT_ASSERT_EQUAL(before.size(), after.size());
    std::vector<EventInfo> events;
    CPPUNIT_ASSERT(store_->ListEvents(0, 1000, &events).ok());
    int replaced = 0;
    for (const EventInfo& e : events) replaced += e.type == "failure" && e.target_id == leg;
    CPPUNIT_ASSERT_EQUAL(1, replaced);
  }

  // The database is the truth: a head fenced while cut off, back again,
  // lets go of the volumes released meanwhile.
  void FencedHeadLetsGoOfWhatWasReleasedWhenItReturns() {
    const int64_t v = AttachedVolume();
    CPPUNIT_ASSERT(recovery_->FenceHead(head_).ok());
    CPPUNIT_ASSERT(agents_.VolumesOn(kHeadUrl).count(v));
    int64_t again;
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &again, true, &kHeadUrl, &kIqn).ok());
    recovery_->Registered(kTargetHsvr, head_);
    recovery_->RunOnce();
    CPPUNIT_ASSERT(agents_.VolumesOn(kHeadUrl).empty());
    // One it still holds stays: a second volume attached after its return.
    const int64_t w = AttachedVolume();
    recovery_->Registered(kTargetHsvr, head_);
    recovery_->RunOnce();
    CPPUNIT_ASSERT(agents_.VolumesOn(kHeadUrl) == std::set<int64_t>{w});
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RecoveryTest);
