// Held space through the recovery loop and the attacher (manager/
// recovery.cc, attacher.cc) against fake agents (tests/unit/fake_agents.h):
// API.md, "Space is freed only when nobody can write it any more" — the
// head's rebuildMirror answer, its detach, its confirmed undo or its fence
// on that disk free a replaced leg; a head that does not answer, or a disk
// the fence did not reach, keeps it held.
#include <cppunit/extensions/HelperMacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "lib/clock.h"
#include "manager/attacher.h"
#include "manager/recovery.h"
#include "manager/store.h"
#include "tests/unit/fake_agents.h"

using namespace vastsky;

namespace {
const int64_t kDiskSectors = 100LL * 1024 * 2048;  // 100 GiB
const std::string kHeadUrl = "http://127.0.0.1:8882/RPC2";
const std::string kIqn = "iqn.2024-01.org.example:head";
}  // namespace

class RecoveryHeldTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(RecoveryHeldTest);
  CPPUNIT_TEST(RebuildAnswerFreesTheReplacedLeg);
  CPPUNIT_TEST(SilentHeadKeepsItHeld);
  CPPUNIT_TEST(FenceFreesOnlyWhereItRevoked);
  CPPUNIT_TEST(DetachAnswerFreesIt);
  CPPUNIT_TEST_SUITE_END();

  std::string dir_;
  std::unique_ptr<Store> store_;
  std::mutex mu_;
  FakeAgents agents_;
  FakeClock clock_;
  std::unique_ptr<Attacher> attacher_;
  std::unique_ptr<Recovery> recovery_;
  std::vector<int64_t> ssvrs_;
  int64_t head_ = 0;

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
  void setUp() override {
    char tmpl[] = "/tmp/vastsky-unit-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_.reset(new Store);
    CPPUNIT_ASSERT(store_->Open(dir_ + "/state.db", Store::Options()).ok());
    auto locked = [this](const std::function<Status()>& f) {
      std::lock_guard<std::mutex> lock(mu_);
      return f();
    };
    attacher_.reset(new Attacher(store_.get(), locked, &agents_, &agents_));
    ssvrs_.clear();
    for (int s = 0; s < 4; ++s) {
      int64_t id, pd;
      const std::string url = "http://127.0.0.1:" + std::to_string(9000 + s) + "/RPC2";
      CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.0." + std::to_string(s + 1)}, nullptr, &id, false, &url).ok());
      CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(id, "/dev/d0", kDiskSectors, &pd).ok());
      ssvrs_.push_back(id);
    }
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &head_, false, &kHeadUrl, &kIqn).ok());
    RecoveryOptions o;
    o.grace_s = 60;
    recovery_.reset(new Recovery(store_.get(), attacher_.get(), locked, o, &clock_));
  }

  void tearDown() override {
    recovery_.reset();
    attacher_.reset();
    store_.reset();
    (void)system(("rm -rf " + dir_).c_str());
  }

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
