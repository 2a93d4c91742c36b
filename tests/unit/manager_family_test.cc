// A volume's family and the space each member holds (manager/
// volume_family.h), against FakeAgents. Each test names the sentence of
// manager/API.md ("Families and space") it proves.
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <cerrno>

#include "manager/copier.h"
#include "manager/volume_family.h"
#include "tests/unit/recovery_fixture.h"

namespace vastsky {

class ManagerFamilyTest : public RecoveryFixture {
  CPPUNIT_TEST_SUITE(ManagerFamilyTest);
  CPPUNIT_TEST(RootFirstThenDepthFirst);
  CPPUNIT_TEST(SpaceSumsEveryCopyOfEveryLeg);
  CPPUNIT_TEST(UnansweredDisksAreCountedNotFatal);
  CPPUNIT_TEST(DeletedOriginCutsTheFamily);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    SetUpPool(3);
    copier_.reset(new Copier(store_.get(), Locked(), &agents_, &agents_));
    // origin v (attached: its mirrors are written, so copies share its
    // thins), snapshots s1 and s2 of it, clone c of s1.
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v", 8, 2, &v_).ok());
    Status st = attacher_->Attach(VolumeRef{v_, ""}, head_);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    s1_ = Copy(v_, "s1", true);
    s2_ = Copy(v_, "s2", true);
    c_ = Copy(s1_, "c", false);
  }
  void tearDown() override {
    copier_.reset();
    RecoveryFixture::tearDown();
  }

 private:
  int64_t Copy(int64_t source, const std::string& name, bool snapshot) {
    int64_t id = 0;
    Status st = copier_->Copy(VolumeRef{source, ""}, name, snapshot, &id);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    return id;
  }
  std::vector<FamilyMember> Family(int64_t v) {
    std::vector<FamilyMember> out;
    Status st = GetVolumeFamily(store_.get(), Locked(), &agents_, VolumeRef{v, ""}, &out);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    return out;
  }
  std::vector<int64_t> Ids(const std::vector<FamilyMember>& family) {
    std::vector<int64_t> out;
    for (const FamilyMember& m : family) out.push_back(m.lvol_id);
    return out;
  }
  const FamilyMember& Member(const std::vector<FamilyMember>& family, int64_t id) {
    for (const FamilyMember& m : family)
      if (m.lvol_id == id) return m;
    CPPUNIT_FAIL("no member " + std::to_string(id));
    return family[0];
  }
  // Every leg of each volume in figures maps figures.first MiB and holds
  // figures.second alone; every disk also lists a thin of no member.
  void SetUsage(const std::map<int64_t, std::pair<int64_t, int64_t>>& figures) {
    std::map<int64_t, std::vector<ThinSpace>> disks;
    for (int64_t pd : pdsks_) disks[pd].push_back({999999, 5000, 5000});
    for (const auto& f : figures)
      for (const MirrorInfo& m : Layout(f.first).mirrors)
        for (const ChunkInfo& c : m.chunks) disks[c.pdsk_id].push_back({c.thin_id, f.second.first, f.second.second});
    for (size_t i = 0; i < pdsks_.size(); ++i) agents_.SetLegUsage(SsvrUrl(int(i)), pdsks_[i], disks[pdsks_[i]]);
  }
  int64_t Legs(int64_t v) {
    int64_t n = 0;
    for (const MirrorInfo& m : Layout(v).mirrors) n += static_cast<int64_t>(m.chunks.size());
    return n;
  }
  int64_t LegsOn(int64_t v, int64_t pdsk) {
    int64_t n = 0;
    for (const MirrorInfo& m : Layout(v).mirrors)
      for (const ChunkInfo& c : m.chunks) n += c.pdsk_id == pdsk;
    return n;
  }
  size_t UsageCalls(const std::string& url) {
    const std::vector<std::string> calls = agents_.Calls();
    return std::count(calls.begin(), calls.end(), "legUsage " + url);
  }

  // "getVolumeFamily lists the root first, then the others depth-first, the
  // snapshots and clones of each member by increasing id. `kind` is
  // `snapshot` for a snapshot, `clone` for a volume whose source still
  // exists, else `volume`; `source_lvolid` is a snapshot's origin or a
  // clone's source, 0 for the root".
  void RootFirstThenDepthFirst() {
    int64_t other;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("other", 8, 2, &other).ok());
    SetUsage({});
    for (int64_t from : {v_, s1_, s2_, c_}) {
      const std::vector<FamilyMember> f = Family(from);
      CPPUNIT_ASSERT((Ids(f) == std::vector<int64_t>{v_, s1_, c_, s2_}));
      CPPUNIT_ASSERT_EQUAL(std::string("volume"), f[0].kind);
      CPPUNIT_ASSERT_EQUAL(std::string("snapshot"), f[1].kind);
      CPPUNIT_ASSERT_EQUAL(std::string("clone"), f[2].kind);
      CPPUNIT_ASSERT_EQUAL(std::string("snapshot"), f[3].kind);
      CPPUNIT_ASSERT((std::vector<int64_t>{0, v_, s1_, v_} ==
                      std::vector<int64_t>{f[0].source_id, f[1].source_id, f[2].source_id, f[3].source_id}));
      CPPUNIT_ASSERT_EQUAL(std::string("c"), f[2].name);
      CPPUNIT_ASSERT_EQUAL(int64_t(8), f[2].capacity_gib);
    }
    CPPUNIT_ASSERT((Ids(Family(other)) == std::vector<int64_t>{other}));
    std::vector<FamilyMember> none;
    CPPUNIT_ASSERT_EQUAL(ENOENT, GetVolumeFamily(store_.get(), Locked(), &agents_, VolumeRef{0, "nosuch"}, &none).code());
  }

  // "asked once per disk holding a leg of any member ... the sums over its
  // legs of the pool space each leg maps and of the part no other thin
  // shares ... Both count every copy of every leg, so a mirror's data counts
  // `redundancy` times ... A leg its disk's answer does not list (not made
  // yet) holds nothing."
  void SpaceSumsEveryCopyOfEveryLeg() {
    SetUsage({{v_, {100, 40}}, {s1_, {90, 0}}, {c_, {30, 7}}});  // s2: not listed
    const std::vector<FamilyMember> f = Family(c_);
    for (int i = 0; i < 3; ++i) CPPUNIT_ASSERT_EQUAL(size_t(1), UsageCalls(SsvrUrl(i)));
    CPPUNIT_ASSERT(Legs(v_) >= 2 * static_cast<int64_t>(Layout(v_).mirrors.size()));  // redundancy 2
    CPPUNIT_ASSERT_EQUAL(100 * Legs(v_), Member(f, v_).mapped_mib);
    CPPUNIT_ASSERT_EQUAL(40 * Legs(v_), Member(f, v_).exclusive_mib);
    CPPUNIT_ASSERT_EQUAL(90 * Legs(s1_), Member(f, s1_).mapped_mib);
    CPPUNIT_ASSERT_EQUAL(int64_t(0), Member(f, s1_).exclusive_mib);
    CPPUNIT_ASSERT_EQUAL(7 * Legs(c_), Member(f, c_).exclusive_mib);
    CPPUNIT_ASSERT_EQUAL(int64_t(0), Member(f, s2_).mapped_mib);
    for (const FamilyMember& m : f) CPPUNIT_ASSERT_EQUAL(int64_t(0), m.legs_unreported);
  }

  // "A leg whose disk cannot be asked (failed, offline or halted ...), or
  // whose agent does not answer (any fault ...), is counted in
  // `legs_unreported` instead ...; the call still succeeds."
  void UnansweredDisksAreCountedNotFatal() {
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetPdsk, pdsks_[1]).ok());  // its legs' replacements: on pdsks_[2]
    SetUsage({{v_, {100, 40}}, {s1_, {90, 0}}, {s2_, {90, 0}}, {c_, {30, 7}}});
    agents_.Fail(SsvrUrl(0), ETIMEDOUT);
    const std::vector<FamilyMember> f = Family(v_);
    CPPUNIT_ASSERT_EQUAL(size_t(0), UsageCalls(SsvrUrl(1)));  // failed disk: not asked
    for (const FamilyMember& m : f) {
      const int64_t unreported = LegsOn(m.lvol_id, pdsks_[0]) + LegsOn(m.lvol_id, pdsks_[1]);
      CPPUNIT_ASSERT_EQUAL(unreported, m.legs_unreported);
      const int64_t mapped = m.lvol_id == v_ ? 100 : m.lvol_id == c_ ? 30 : 90;
      CPPUNIT_ASSERT_EQUAL(mapped * LegsOn(m.lvol_id, pdsks_[2]), m.mapped_mib);
    }
    int64_t total = 0;
    for (const FamilyMember& m : f) total += m.legs_unreported;
    CPPUNIT_ASSERT(total > 0);
  }

  // "A deleted volume cuts its family there: its snapshots and clones
  // become roots of families of their own."
  void DeletedOriginCutsTheFamily() {
    const int64_t c2 = Copy(v_, "c2", false);
    CPPUNIT_ASSERT(attacher_->Detach(VolumeRef{v_, ""}).ok());
    CPPUNIT_ASSERT(store_->DeleteLogicalVolume(VolumeRef{v_, ""}).ok());
    SetUsage({});
    const std::vector<FamilyMember> f = Family(c_);
    CPPUNIT_ASSERT((Ids(f) == std::vector<int64_t>{s1_, c_}));
    CPPUNIT_ASSERT_EQUAL(std::string("snapshot"), f[0].kind);
    CPPUNIT_ASSERT_EQUAL(int64_t(0), f[0].source_id);
    CPPUNIT_ASSERT((Ids(Family(s2_)) == std::vector<int64_t>{s2_}));
    const std::vector<FamilyMember> lone = Family(c2);
    CPPUNIT_ASSERT((Ids(lone) == std::vector<int64_t>{c2}));
    CPPUNIT_ASSERT_EQUAL(std::string("volume"), lone[0].kind);
  }

  std::unique_ptr<Copier> copier_;
  int64_t v_ = 0, s1_ = 0, s2_ = 0, c_ = 0;
};

CPPUNIT_TEST_SUITE_REGISTRATION(ManagerFamilyTest);

}  // namespace vastsky
