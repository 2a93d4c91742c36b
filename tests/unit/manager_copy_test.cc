// Snapshots, clones and changed blocks through the agents (manager/
// copier.h, manager/changed_blocks.h), against FakeAgents. Each test names
// the sentence of manager/API.md ("Snapshots and clones", "Changed
// blocks") it proves.
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <cerrno>

#include "manager/changed_blocks.h"
#include "manager/copier.h"
#include "tests/unit/recovery_fixture.h"

namespace vastsky {

class ManagerCopyTest : public RecoveryFixture {
  CPPUNIT_TEST_SUITE(ManagerCopyTest);
  CPPUNIT_TEST(SnapshotOfAnAttachedVolumeFreezesIt);
  CPPUNIT_TEST(SnapshotLegsShareTheirOriginsPools);
  CPPUNIT_TEST(DetachedVolumeIsSnapshottedWithoutAHead);
  CPPUNIT_TEST(UnwrittenMirrorsGetFreshLegs);
  CPPUNIT_TEST(ARefusedSnapshotLeavesNothing);
  CPPUNIT_TEST(ALostAnswerLeavesTheCopyError);
  CPPUNIT_TEST(ALateThawDiscardsTheSnapshot);
  CPPUNIT_TEST(SnapshotAttachesReadOnlyOnAnyHead);
  CPPUNIT_TEST(DegradedMirrorIsRefused);
  CPPUNIT_TEST(SourceIsBusyWhileCopied);
  CPPUNIT_TEST(ChangedBlocksComeFromThePools);
  CPPUNIT_TEST(ChangedBlocksCountUnsharedMirrorsWhole);
  CPPUNIT_TEST(BlocksMergeIntoSixtyFourKib);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    SetUpPool(3);
    copier_.reset(new Copier(store_.get(), Locked(), &agents_, &agents_));
  }
  void tearDown() override {
    copier_.reset();
    RecoveryFixture::tearDown();
  }

 private:
  int64_t Volume(const std::string& name, int64_t gib = 8) {
    int64_t id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume(name, gib, 2, &id).ok());
    return id;
  }
  int64_t Attached(const std::string& name, int64_t hsvr = 0) {
    const int64_t v = Volume(name);
    Status st = attacher_->Attach(VolumeRef{v, ""}, hsvr ? hsvr : head_);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    return v;
  }
  VolumeInfo Info(int64_t v) {
    std::vector<VolumeInfo> vols;
    CPPUNIT_ASSERT(store_->ListLogicalVolumes(nullptr, &vols).ok());
    for (const VolumeInfo& i : vols)
      if (i.id == v) return i;
    return VolumeInfo();
  }
  size_t Count(const std::string& method) {
    const std::vector<std::string> calls = agents_.Calls();
    return std::count_if(calls.begin(), calls.end(),
                         [&](const std::string& c) { return c.compare(0, method.size() + 1, method + " ") == 0; });
  }
  void Audit() {
    std::vector<std::string> problems;
    CPPUNIT_ASSERT(Store::Audit(dir_ + "/state.db", &problems).ok());
    std::string all;
    for (const std::string& p : problems) all += p + "\n";
    CPPUNIT_ASSERT_MESSAGE(all, problems.empty());
  }

  // "If the origin is attached, its head freezes it while each leg's storage
  // agent takes a thin snapshot of that leg, then thaws it."
  void SnapshotOfAnAttachedVolumeFreezesIt() {
    const int64_t v = Attached("v");
    int64_t s;
    Status st = copier_->Copy(VolumeRef{v, ""}, "v-snap", true, &s);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    const std::vector<std::string> calls = agents_.Calls();
    auto at = [&](const std::string& m) {
      return std::find_if(calls.begin(), calls.end(), [&](const std::string& c) { return c.find(m) == 0; }) - calls.begin();
    };
    CPPUNIT_ASSERT(at("freezeVolume") < at("snapshotLegs"));
    CPPUNIT_ASSERT(at("snapshotLegs") < at("thawVolume"));
    CPPUNIT_ASSERT_EQUAL(size_t(3), Count("snapshotLegs"));  // one per disk
    CPPUNIT_ASSERT(!agents_.Frozen(kHeadUrl, v));
    const VolumeInfo snap = Info(s);
    CPPUNIT_ASSERT_EQUAL(1, snap.kind);
    CPPUNIT_ASSERT_EQUAL(v, snap.origin_id);
    CPPUNIT_ASSERT_EQUAL(int(kVolumeReady), snap.state);
    CPPUNIT_ASSERT_EQUAL(int64_t(0), snap.hsvr_id);  // not attached anywhere by itself
    CPPUNIT_ASSERT_EQUAL(s, Info(v).associated_from[0].lvol_id);
    Audit();
  }

  // "A snapshot's legs are dm-thin snapshots of its origin's legs, in the
  // same pools".
  void SnapshotLegsShareTheirOriginsPools() {
    const int64_t v = Attached("v");
    int64_t s;
    CPPUNIT_ASSERT(copier_->Copy(VolumeRef{v, ""}, "v-snap", true, &s).ok());
    const VolumeLayout origin = Layout(v), snap = Layout(s);
    CPPUNIT_ASSERT_EQUAL(origin.mirrors.size(), snap.mirrors.size());
    for (size_t i = 0; i < origin.mirrors.size(); ++i) {
      const MirrorInfo &o = origin.mirrors[i], &m = snap.mirrors[i];
      CPPUNIT_ASSERT_EQUAL(o.offset_gib, m.offset_gib);
      CPPUNIT_ASSERT_EQUAL(o.chunks.size(), m.chunks.size());
      for (size_t j = 0; j < m.chunks.size(); ++j) {
        CPPUNIT_ASSERT_EQUAL(o.chunks[j].pdsk_id, m.chunks[j].pdsk_id);
        CPPUNIT_ASSERT(o.chunks[j].thin_id != m.chunks[j].thin_id);
        CPPUNIT_ASSERT_EQUAL(o.chunks[j].thin_id, agents_.SnapshotOrigin(m.chunks[j].pdsk_id, m.chunks[j].thin_id));
        CPPUNIT_ASSERT_EQUAL(int(kInsync), m.chunks[j].status);
      }
    }
  }

  // "A detached origin is snapshotted without a head."
  void DetachedVolumeIsSnapshottedWithoutAHead() {
    const int64_t v = Attached("v");
    CPPUNIT_ASSERT(attacher_->Detach(VolumeRef{v, ""}).ok());
    int64_t c;
    CPPUNIT_ASSERT(copier_->Copy(VolumeRef{v, ""}, "v-clone", false, &c).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(0), Count("freezeVolume"));
    CPPUNIT_ASSERT_EQUAL(size_t(3), Count("snapshotLegs"));
    const VolumeInfo clone = Info(c);
    CPPUNIT_ASSERT_EQUAL(0, clone.kind);
    CPPUNIT_ASSERT_EQUAL(v, clone.source_id);
    CPPUNIT_ASSERT_EQUAL(std::string("clone"), clone.associated_to[0].type);
    Audit();
  }

  // "A mirror never handed to a head holds only zeros: its copy gets fresh legs."
  void UnwrittenMirrorsGetFreshLegs() {
    const int64_t v = Volume("v");
    int64_t s;
    CPPUNIT_ASSERT(copier_->Copy(VolumeRef{v, ""}, "v-snap", true, &s).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(0), Count("snapshotLegs"));
    for (const MirrorInfo& m : Layout(s).mirrors) {
      CPPUNIT_ASSERT(!m.written);
      for (const ChunkInfo& c : m.chunks) CPPUNIT_ASSERT_EQUAL(int(kAllocated), c.status);
    }
    Audit();
  }

  // "If a storage agent refuses, the snapshot is removed: its legs are
  // deleted once their agents confirm." (One never reached refuses.)
  void ARefusedSnapshotLeavesNothing() {
    const int64_t v = Attached("v");
    ClusterStatus before;
    CPPUNIT_ASSERT(store_->GetClusterStatus(&before).ok());
    agents_.Fail(SsvrUrl(1), ECONNREFUSED);
    int64_t s = 0;
    Status st = copier_->Copy(VolumeRef{v, ""}, "v-snap", true, &s);
    CPPUNIT_ASSERT_EQUAL(ECONNREFUSED, st.code());
    CPPUNIT_ASSERT(st.message().find("snapshotLegs") != std::string::npos);
    CPPUNIT_ASSERT(!agents_.Frozen(kHeadUrl, v));  // thawed all the same
    std::vector<VolumeInfo> vols;
    CPPUNIT_ASSERT(store_->ListLogicalVolumes(nullptr, &vols).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), vols.size());
    std::vector<DoomedDisk> doomed;
    CPPUNIT_ASSERT(store_->DoomedLegs(&doomed).ok());
    CPPUNIT_ASSERT(!doomed.empty());  // what the other agents made waits for their delete
    agents_.Fail(SsvrUrl(1), 0);
    for (const DoomedDisk& d : doomed) CPPUNIT_ASSERT(store_->ForgetDoomed(d.pdsk_id, d.legs).ok());
    ClusterStatus after;
    CPPUNIT_ASSERT(store_->GetClusterStatus(&after).ok());
    CPPUNIT_ASSERT_EQUAL(before.used_gib, after.used_gib);
    CPPUNIT_ASSERT(copier_->Copy(VolumeRef{v, ""}, "v-snap", true, &s).ok());  // the source is free again
    Audit();
  }

  // "An answer lost from a storage agent leaves the snapshot ERROR: only a
  // delete clears it."
  void ALostAnswerLeavesTheCopyError() {
    const int64_t v = Attached("v");
    agents_.Fail(SsvrUrl(2), ETIMEDOUT);
    int64_t s = 0;
    CPPUNIT_ASSERT_EQUAL(ETIMEDOUT, copier_->Copy(VolumeRef{v, ""}, "v-snap", true, &s).code());
    agents_.Fail(SsvrUrl(2), 0);
    std::vector<VolumeInfo> vols;
    CPPUNIT_ASSERT(store_->ListLogicalVolumes(nullptr, &vols).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(2), vols.size());
    CPPUNIT_ASSERT_EQUAL(int(kVolumeError), vols[1].state);
    CPPUNIT_ASSERT_EQUAL(EBUSY, attacher_->Attach(VolumeRef{vols[1].id, ""}, head_).code());
    CPPUNIT_ASSERT(store_->DeleteLogicalVolume(VolumeRef{vols[1].id, ""}).ok());
    Audit();
  }

  // "A thaw that finds the head had thawed it already (ETIME) discards the
  // snapshot: it may be torn."
  void ALateThawDiscardsTheSnapshot() {
    const int64_t v = Attached("v");
    agents_.SetThaw(ETIME);
    int64_t s = 0;
    CPPUNIT_ASSERT_EQUAL(ETIME, copier_->Copy(VolumeRef{v, ""}, "v-snap", true, &s).code());
    std::vector<VolumeInfo> vols;
    CPPUNIT_ASSERT(store_->ListLogicalVolumes(nullptr, &vols).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), vols.size());
    Audit();
  }

  // "A snapshot is attachable read-only on any head, not only its origin's."
  void SnapshotAttachesReadOnlyOnAnyHead() {
    const int64_t v = Attached("v");
    int64_t other, s;
    const std::string url = "http://127.0.0.1:8883/RPC2", iqn = "iqn.2024-01.org.example:other";
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.2"}, &other, false, &url, &iqn).ok());
    CPPUNIT_ASSERT(copier_->Copy(VolumeRef{v, ""}, "v-snap", true, &s).ok());
    Status st = attacher_->Attach(VolumeRef{s, ""}, other);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT(agents_.VolumesOn(url).count(s));
    CPPUNIT_ASSERT_EQUAL(other, Info(s).hsvr_id);
    CPPUNIT_ASSERT_EQUAL(head_, Info(v).hsvr_id);
    CPPUNIT_ASSERT(attacher_->Detach(VolumeRef{s, ""}).ok());
    Audit();
  }

  // "EBUSY ... a written mirror without enough legs in sync: retry once it
  // is rebuilt."
  void DegradedMirrorIsRefused() {
    const int64_t v = Attached("v");
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetPdsk, pdsks_[0]).ok());
    int64_t s;
    Status st = copier_->Copy(VolumeRef{v, ""}, "v-snap", true, &s);
    CPPUNIT_ASSERT_EQUAL(EBUSY, st.code());
    CPPUNIT_ASSERT(st.message().find("rebuilt") != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(size_t(0), Count("freezeVolume"));
    Audit();
  }

  // "Until it is made, its source is not attached, detached, grown, deleted
  // or copied again (EBUSY)."
  void SourceIsBusyWhileCopied() {
    const int64_t v = Attached("v");
    CopyPlan plan;
    CPPUNIT_ASSERT(store_->BeginCopy(VolumeRef{v, ""}, "v-snap", true, &plan).ok());
    CPPUNIT_ASSERT_EQUAL(EBUSY, attacher_->Detach(VolumeRef{v, ""}).code());
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->DeleteLogicalVolume(VolumeRef{v, ""}).code());
    CPPUNIT_ASSERT_EQUAL(EBUSY, attacher_->Grow(VolumeRef{v, ""}, 12).code());
    int64_t s;
    CPPUNIT_ASSERT_EQUAL(EBUSY, copier_->Copy(VolumeRef{v, ""}, "v-snap2", true, &s).code());
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->DeleteLogicalVolume(VolumeRef{plan.copy.volume.id, ""}).code());
    CPPUNIT_ASSERT(store_->AbortCopy(plan, "test", false).ok());
    CPPUNIT_ASSERT(attacher_->Detach(VolumeRef{v, ""}).ok());
  }

  // "computed from the pools' metadata (legDelta), never by reading the data"
  void ChangedBlocksComeFromThePools() {
    const int64_t v = Attached("v");
    int64_t s1, s2;
    CPPUNIT_ASSERT(copier_->Copy(VolumeRef{v, ""}, "s1", true, &s1).ok());
    CPPUNIT_ASSERT(copier_->Copy(VolumeRef{v, ""}, "s2", true, &s2).ok());
    const VolumeLayout a = Layout(s2), b = Layout(s1);
    // Mirror 0: blocks 3..4 of 64 KiB; mirror 1: one 128 KiB block at 1.
    agents_.SetLegDelta(a.mirrors[0].chunks[0].pdsk_id, a.mirrors[0].chunks[0].thin_id, b.mirrors[0].chunks[0].thin_id,
                        LegBlocks{64, {3, 2}});
    agents_.SetLegDelta(a.mirrors[1].chunks[0].pdsk_id, a.mirrors[1].chunks[0].thin_id, b.mirrors[1].chunks[0].thin_id,
                        LegBlocks{128, {1, 1}});
    LegBlocks out;
    Status st = ListChangedBlocks(store_.get(), Locked(), &agents_, VolumeRef{s2, ""}, VolumeRef{s1, ""}, &out);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    const int64_t m1 = a.mirrors[1].offset_gib * 1024 * 1024 / 64;
    CPPUNIT_ASSERT_EQUAL(int64_t(64), out.block_kib);
    CPPUNIT_ASSERT((out.ranges == std::vector<int64_t>{3, 2, m1 + 2, 2}));
    CPPUNIT_ASSERT_EQUAL(size_t(0), Count("legMap"));
    CPPUNIT_ASSERT_EQUAL(EINVAL, ListChangedBlocks(store_.get(), Locked(), &agents_, VolumeRef{s1, ""},
                                                   VolumeRef{v, ""}, &out).code());  // base is no snapshot
  }

  // "where no leg of each shares a pool, the whole mirror counts as changed"
  void ChangedBlocksCountUnsharedMirrorsWhole() {
    const int64_t v = Attached("v");
    int64_t s;
    CPPUNIT_ASSERT(copier_->Copy(VolumeRef{v, ""}, "s", true, &s).ok());
    const VolumeLayout a = Layout(v), b = Layout(s);
    // Mirror 0 agrees on nothing: no delta set, so every pair fails.
    for (const ChunkInfo& c : a.mirrors[1].chunks)
      for (const ChunkInfo& d : b.mirrors[1].chunks) agents_.SetLegDelta(c.pdsk_id, c.thin_id, d.thin_id, LegBlocks{64, {}});
    LegBlocks out;
    CPPUNIT_ASSERT_EQUAL(ENOENT, ListChangedBlocks(store_.get(), Locked(), &agents_, VolumeRef{v, ""},
                                                   VolumeRef{s, ""}, &out).code());
    // The volume grows: its new mirror has no counterpart, all of it counts.
    for (const ChunkInfo& c : a.mirrors[0].chunks)
      for (const ChunkInfo& d : b.mirrors[0].chunks) agents_.SetLegDelta(c.pdsk_id, c.thin_id, d.thin_id, LegBlocks{64, {}});
    CPPUNIT_ASSERT(attacher_->Grow(VolumeRef{v, ""}, 12).ok());
    CPPUNIT_ASSERT(ListChangedBlocks(store_.get(), Locked(), &agents_, VolumeRef{v, ""}, VolumeRef{s, ""}, &out).ok());
    CPPUNIT_ASSERT((out.ranges == std::vector<int64_t>{8 * 16384, 4 * 16384}));
  }

  void BlocksMergeIntoSixtyFourKib() {
    std::vector<int64_t> kib;
    AddDelta(LegBlocks{1024, {0, 1}}, 0, &kib);        // [0, 1024)
    AddDelta(LegBlocks{64, {16, 1, 40, 2}}, 0, &kib);  // [1024, 1088), [2560, 2688)
    kib.insert(kib.end(), {2700, 2701});               // a KiB inside block 42
    LegBlocks out;
    MergeToBlocks(kib, &out);
    CPPUNIT_ASSERT((out.ranges == std::vector<int64_t>{0, 17, 40, 3}));
  }

  std::unique_ptr<Copier> copier_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(ManagerCopyTest);

}  // namespace vastsky
