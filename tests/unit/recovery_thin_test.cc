// Thin legs through the attacher and the recovery loop against fake agents
// (tests/unit/fake_agents.h): API.md, "Thin legs" — grants carry exactly
// the head's legs on the disk, a detach narrows where other legs stay,
// a freed leg a head may have created is deleted by its agent before its
// space is free, and the ACL reconcile narrows maps and deletes thin
// devices the database knows nowhere.
#include <cppunit/extensions/HelperMacros.h>

#include <cerrno>
#include <set>
#include <string>

#include "tests/unit/recovery_fixture.h"

using namespace vastsky;

class RecoveryThinTest : public RecoveryFixture {
  CPPUNIT_TEST_SUITE(RecoveryThinTest);
  CPPUNIT_TEST(GrantsCarryTheHeadsLegs);
  CPPUNIT_TEST(DetachNarrowsWhereOtherLegsStay);
  CPPUNIT_TEST(DeletedLegsAreFreedOnceTheAgentDeletesThem);
  CPPUNIT_TEST(NeverHandedLegsAreFreedAtOnce);
  CPPUNIT_TEST(ReconcileNarrowsMapsAndDeletesUnknownLegs);
  CPPUNIT_TEST_SUITE_END();

  int64_t Volume(const std::string& name) {
    int64_t v;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume(name, 4, 2, &v).ok());
    return v;
  }
  // pdsk -> the chunks (or thin ids) of the volume's legs there.
  std::map<int64_t, std::set<int64_t>> Legs(int64_t v, bool thin = false) {
    std::map<int64_t, std::set<int64_t>> out;
    for (const MirrorInfo& m : Layout(v).mirrors)
      for (const ChunkInfo& c : m.chunks) out[c.pdsk_id].insert(thin ? c.thin_id : c.id);
    return out;
  }
  int64_t Used() {
    ClusterStatus c;
    CPPUNIT_ASSERT(store_->GetClusterStatus(&c).ok());
    return c.used_gib;  // each leg is 4 GiB: GiB show it
  }
  size_t Doomed() {
    std::vector<DoomedDisk> d;
    CPPUNIT_ASSERT(store_->DoomedLegs(&d).ok());
    size_t n = 0;
    for (const DoomedDisk& x : d) n += x.legs.size();
    return n;
  }
  int CallsOf(const std::string& method) {
    int n = 0;
    for (const std::string& c : agents_.Calls()) n += c.rfind(method + " ", 0) == 0;
    return n;
  }
  void Audit() {
    std::vector<std::string> problems;
    CPPUNIT_ASSERT(Store::Audit(dir_ + "/state.db", &problems).ok());
    CPPUNIT_ASSERT_MESSAGE(problems.empty() ? "" : problems[0], problems.empty());
  }

 public:
  void setUp() override { SetUpPool(2); }  // redundancy 2: every volume has a leg on each disk

  // PROTOCOL.md allowInitiator: "the initiator's mapped LUNs on this disk
  // are exactly these legs"; each thin device created.
  void GrantsCarryTheHeadsLegs() {
    const int64_t v = Volume("v");
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{v, ""}, head_).ok());
    const auto legs = Legs(v), thins = Legs(v, true);
    CPPUNIT_ASSERT_EQUAL(size_t(2), legs.size());
    for (const auto& d : legs) {
      CPPUNIT_ASSERT(agents_.Mapped(d.first, kIqn) == d.second);
      CPPUNIT_ASSERT(agents_.ThinIds(d.first) == thins.at(d.first));
    }
  }

  // API.md: "revoke when the head needs no leg on the disk; else narrow".
  void DetachNarrowsWhereOtherLegsStay() {
    const int64_t a = Volume("a"), b = Volume("b");
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{a, ""}, head_).ok());
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{b, ""}, head_).ok());
    for (const auto& d : Legs(a)) CPPUNIT_ASSERT_EQUAL(size_t(2), agents_.Mapped(d.first, kIqn).size());
    CPPUNIT_ASSERT(attacher_->Detach(VolumeRef{a, ""}).ok());
    CPPUNIT_ASSERT_EQUAL(0, CallsOf("revokeInitiator"));
    for (const auto& d : Legs(b)) {
      CPPUNIT_ASSERT(agents_.Mapped(d.first, kIqn) == d.second);
      CPPUNIT_ASSERT(agents_.Acls()[d.first].count(kIqn));
    }
    CPPUNIT_ASSERT(attacher_->Detach(VolumeRef{b, ""}).ok());
    CPPUNIT_ASSERT_EQUAL(2, CallsOf("revokeInitiator"));
    CPPUNIT_ASSERT(agents_.Acls().empty());
  }

  // API.md: "a freed leg ... goes to doomed_leg, not free space; the watch
  // loop sends deleteLegs and frees the extents once the agent confirms".
  void DeletedLegsAreFreedOnceTheAgentDeletesThem() {
    const int64_t base = Used();
    const int64_t v = Volume("v");
    const int64_t with = Used();
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{v, ""}, head_).ok());
    CPPUNIT_ASSERT(attacher_->Detach(VolumeRef{v, ""}).ok());
    const auto thins = Legs(v, true);
    CPPUNIT_ASSERT(store_->DeleteLogicalVolume(VolumeRef{v, ""}).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(2), Doomed());
    CPPUNIT_ASSERT(with > base);
    CPPUNIT_ASSERT_EQUAL(with, Used());  // still reserved
    Audit();
    // The agent does not answer: they stay doomed, asked again next pass.
    agents_.Fail(SsvrUrl(0), ECONNREFUSED);
    recovery_->RunOnce();
    CPPUNIT_ASSERT_EQUAL(size_t(1), Doomed());
    CPPUNIT_ASSERT(agents_.ThinIds(pdsks_[0]) == thins.at(pdsks_[0]));
    CPPUNIT_ASSERT(agents_.ThinIds(pdsks_[1]).empty());
    agents_.Fail(SsvrUrl(0), 0);
    recovery_->RunOnce();
    CPPUNIT_ASSERT_EQUAL(size_t(0), Doomed());
    CPPUNIT_ASSERT(agents_.ThinIds(pdsks_[0]).empty());
    CPPUNIT_ASSERT_EQUAL(base, Used());
    Audit();
  }

  void NeverHandedLegsAreFreedAtOnce() {
    const int64_t base = Used();
    const int64_t v = Volume("v");
    CPPUNIT_ASSERT(store_->DeleteLogicalVolume(VolumeRef{v, ""}).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(0), Doomed());
    CPPUNIT_ASSERT_EQUAL(base, Used());
    recovery_->RunOnce();
    CPPUNIT_ASSERT_EQUAL(0, CallsOf("deleteLegs"));
  }

  // API.md, ACL reconcile: "maps beyond the grant are narrowed; legs the
  // DB does not know with thin_id < next_thin_id are deleted; thin ids >=
  // next_thin_id raise an error event and are left alone".
  void ReconcileNarrowsMapsAndDeletesUnknownLegs() {
    const int64_t gone = Volume("gone");  // thin id 1 on both disks, never handed out
    CPPUNIT_ASSERT(store_->DeleteLogicalVolume(VolumeRef{gone, ""}).ok());
    const int64_t v = Volume("v");
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{v, ""}, head_).ok());
    const int64_t pdsk = pdsks_[0];
    const std::set<int64_t> mine = Legs(v).at(pdsk);
    agents_.AddThin(SsvrUrl(0), pdsk, LegGrant{777, 1, 4097, false});     // a leftover of `gone`
    agents_.AddThin(SsvrUrl(0), pdsk, LegGrant{888, 5000, 4097, false});  // never given out
    agents_.Map(SsvrUrl(0), pdsk, kIqn, 777);
    recovery_->Registered(kTargetSsvr, ssvrs_[0]);
    recovery_->RunOnce();
    CPPUNIT_ASSERT(agents_.Mapped(pdsk, kIqn) == mine);
    std::set<int64_t> left = Legs(v, true).at(pdsk);
    left.insert(5000);
    CPPUNIT_ASSERT(agents_.ThinIds(pdsk) == left);
    std::vector<EventInfo> events;
    CPPUNIT_ASSERT(store_->ListEvents(0, 1000, &events).ok());
    bool told = false;
    for (const EventInfo& e : events)
      told |= e.level == "error" && e.message.find("old backup") != std::string::npos &&
              e.message.find("5000") != std::string::npos;
    CPPUNIT_ASSERT(told);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RecoveryThinTest);
