// Issue 12, items 2 and 3, in the Store (manager/store_held.cc):
// "Space is freed only when nobody can write it any more": a leg replaced
// while its volume is attached stays held (not placeable, audited against
// the head's records) until its head confirms it dropped the leg, is fenced
// on that disk, detaches or is deleted; a manager restart keeps it held.
// "A leg that has ever been written is never built nosync again": once a
// mirror was handed to a head, none of its legs is given out ALLOCATED.
#include <cppunit/extensions/HelperMacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <set>
#include <string>

#include "agents/head/volume_spec.h"
#include "lib/state_file.h"
#include "manager/store.h"

using namespace vastsky;

namespace {
const int64_t kGibSectors = 1024 * 2048;
const std::string kHeadUrl = "http://127.0.0.1:8882/RPC2";
const std::string kIqn = "iqn.2024-01.org.example:head";

struct HeldTempDb {
  std::string dir, path;
  HeldTempDb() {
    char tmpl[] = "/tmp/vastsky-unit-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/state.db";
  }
  ~HeldTempDb() { (void)system(("rm -rf " + dir).c_str()); }
};

// What a head agent records after an attach (agents/head/assembly.cc).
VolumeSpec SpecOf(const VolumeLayout& layout) {
  VolumeSpec spec;
  spec.lvol_id = layout.volume.id;
  spec.name = layout.volume.name;
  for (const MirrorInfo& m : layout.mirrors) {
    MirrorSpec ms;
    ms.mirror_id = m.id;
    ms.offset_gib = m.offset_gib;
    ms.capacity_gib = m.capacity_gib;
    for (const ChunkInfo& c : m.chunks) {
      LegSpec leg;
      leg.chunk_id = c.id;
      leg.pdsk_id = c.pdsk_id;
      leg.length_mib = c.length_mib;
      leg.status = kInsync;
      leg.portals = {"127.0.0.1:3260"};
      ms.legs.push_back(leg);
    }
    spec.mirrors.push_back(ms);
  }
  return spec;
}
}  // namespace

class StoreHeldTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(StoreHeldTest);
  CPPUNIT_TEST(ServerFailureHoldsUntilRebuildConfirms);
  CPPUNIT_TEST(HeldSpaceIsNotPlaceableEvenAfterReopen);
  CPPUNIT_TEST(FenceFreesOnlyOnRevokedDisks);
  CPPUNIT_TEST(DetachAndDeleteFree);
  CPPUNIT_TEST(DetachedVolumeFreesAtOnce);
  CPPUNIT_TEST(BadBlocksOnNeverWrittenLegWhileAttaching);
  CPPUNIT_TEST(HeadRecordsAuditFindsFreedLeg);
  CPPUNIT_TEST(LostAttachAnswerNeverNosyncAgain);
  CPPUNIT_TEST(LostGrowAnswerNeverNosyncAgain);
  CPPUNIT_TEST(ReplacementInErrorIsSpare);
  CPPUNIT_TEST(AbortedAttachStaysUnwritten);
  CPPUNIT_TEST(AbortResizeFreesHeldOfNewMirrors);
  CPPUNIT_TEST_SUITE_END();

  HeldTempDb* tmp_ = nullptr;
  Store* store_ = nullptr;
  std::vector<int64_t> ssvrs_, pdsks_;

 public:
  void setUp() override {
    tmp_ = new HeldTempDb;
    Reopen();
    ssvrs_.clear();
    pdsks_.clear();
  }
  void tearDown() override {
    delete store_;
    delete tmp_;
  }

  void Reopen() {
    delete store_;
    store_ = new Store;
    Store::Options o;
    o.chunk_gib = 4;
    o.chunk_explicit = true;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, o).ok());
  }

  void Cluster(int servers, int64_t gib) {
    for (int s = 0; s < servers; ++s) {
      int64_t id, pd;
      const std::string url = "http://127.0.0.1:" + std::to_string(9000 + s) + "/RPC2";
      CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.0." + std::to_string(s + 1)}, nullptr, &id, false, &url).ok());
      CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(id, "/dev/d0", gib * kGibSectors, &pd).ok());
      ssvrs_.push_back(id);
      pdsks_.push_back(pd);
    }
  }

  int64_t Head() {
    int64_t id;
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &id, false, &kHeadUrl, &kIqn).ok());
    return id;
  }

  int64_t Volume(int64_t gib = 4) {
    int64_t id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v" + std::to_string(gib) + "-" + std::to_string(rand()), gib, 2, &id).ok());
    return id;
  }

  // Attached through the head's agent, BOUND.
  AttachPlan Attached(int64_t lvol, int64_t head) {
    AttachPlan plan;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{lvol, ""}, head, false, &plan).ok());
    CPPUNIT_ASSERT(store_->FinishAttach(plan, "/dev/vastsky/v").ok());
    return plan;
  }

  VolumeLayout Layout(int64_t id) {
    VolumeLayout layout;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{id, ""}, &layout).ok());
    return layout;
  }

  std::vector<HeldExtent> Held() {
    std::vector<HeldExtent> h;
    CPPUNIT_ASSERT(store_->ListHeld(&h).ok());
    return h;
  }

  std::set<int> Statuses(int64_t id) {
    std::set<int> out;
    for (const MirrorInfo& m : Layout(id).mirrors)
      for (const ChunkInfo& c : m.chunks) out.insert(c.status);
    return out;
  }

  std::vector<std::string> Problems(const std::vector<std::string>& record_dirs = {}) {
    std::vector<std::string> problems;
    CPPUNIT_ASSERT(Store::Audit(tmp_->path, &problems).ok());
    CPPUNIT_ASSERT(Store::AuditHeadRecords(tmp_->path, record_dirs, &problems).ok());
    return problems;
  }

  void Audit(const std::vector<std::string>& record_dirs = {}) {
    std::vector<std::string> problems = Problems(record_dirs);
    CPPUNIT_ASSERT_MESSAGE(problems.empty() ? "" : problems[0], problems.empty());
  }

  // The head's record of a volume, as its agent keeps it.
  std::string Record(const VolumeLayout& layout) {
    const std::string dir = tmp_->dir + "/volumes";
    (void)system(("mkdir -p " + dir).c_str());
    CPPUNIT_ASSERT(WriteStateFile(dir + "/" + std::to_string(layout.volume.id),
                                  EncodeVolumeRecord(SpecOf(layout), "u", "s"), 0600)
                       .ok());
    return dir;
  }

  // 1 GiB volumes of 2 legs created until the pool is full.
  int FillPool() {
    int n = 0;
    int64_t id;
    Status st;
    while ((st = store_->CreateLogicalVolume("fill" + std::to_string(n), 1, 2, &id)).ok()) ++n;
    CPPUNIT_ASSERT_EQUAL(ENOSPC, st.code());
    return n;
  }

  void ServerFailureHoldsUntilRebuildConfirms() {
    Cluster(3, 20);
    const int64_t h = Head(), v = Volume();
    const AttachPlan plan = Attached(v, h);
    const std::string records = Record(plan.layout);
    const ChunkInfo old = plan.layout.mirrors[0].chunks[0];
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetSsvr, old.ssvr_id).ok());
    // Replaced, but the head still has the old leg assembled: held for it.
    std::vector<HeldExtent> held = Held();
    CPPUNIT_ASSERT_EQUAL(size_t(1), held.size());
    CPPUNIT_ASSERT_EQUAL(old.id, held[0].chunk_id);
    CPPUNIT_ASSERT_EQUAL(h, held[0].hsvr_id);
    CPPUNIT_ASSERT_EQUAL(old.offset_mib, held[0].offset_mib);
    Audit({records});
    // The rebuild starts: the head reloads the mirror with the new leg in
    // the slot and answers; the old leg is gone from it.
    RebuildPlan rebuild;
    CPPUNIT_ASSERT(store_->StartRebuild(plan.layout.mirrors[0].id, 0, &rebuild).ok());
    std::set<int64_t> legs;
    for (const ChunkInfo& c : rebuild.layout.mirrors[0].chunks) legs.insert(c.id);
    CPPUNIT_ASSERT(!legs.count(old.id));
    // A confirmation for another mirror frees nothing.
    CPPUNIT_ASSERT(store_->ConfirmLegs(h, v, plan.layout.mirrors[0].id + 999, {}).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), Held().size());
    CPPUNIT_ASSERT(store_->ConfirmLegs(h, v, plan.layout.mirrors[0].id, legs).ok());
    CPPUNIT_ASSERT(Held().empty());
    Audit({Record(rebuild.layout)});
  }

  void HeldSpaceIsNotPlaceableEvenAfterReopen() {
    // Three 9 GiB disks; the 4 GiB volume's leg on one of them dies while
    // its server lives: its 4097 MiB stay held on a disk that takes work.
    Cluster(3, 9);
    const int64_t h = Head(), v = Volume();
    const AttachPlan plan = Attached(v, h);
    const ChunkInfo dead = plan.layout.mirrors[0].chunks[0];
    CPPUNIT_ASSERT(store_->ReplaceDeadLeg(dead.id, h).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), Held().size());
    Audit({Record(plan.layout)});
    Reopen();  // nothing in memory: all in the table
    CPPUNIT_ASSERT_EQUAL(size_t(1), Held().size());
    // 5119 MiB left per disk: four 1025 MiB legs each, six volumes; with the
    // held space free, the dead leg's disk would take eight (eight volumes).
    CPPUNIT_ASSERT_EQUAL(6, FillPool());
    Audit({Record(plan.layout)});
  }

  void FenceFreesOnlyOnRevokedDisks() {
    Cluster(4, 20);
    const int64_t h = Head(), v = Volume();
    const AttachPlan plan = Attached(v, h);
    const ChunkInfo a = plan.layout.mirrors[0].chunks[0];
    CPPUNIT_ASSERT(store_->NotifyBadBlocks(a.pdsk_id, {0}).ok());  // a written leg: a new leg beside it
    CPPUNIT_ASSERT(Held().empty());
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetPdsk, a.pdsk_id).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), Held().size());
    // Fenced everywhere but on that disk (its server did not answer): held.
    std::set<int64_t> fenced(pdsks_.begin(), pdsks_.end());
    fenced.erase(a.pdsk_id);
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetHsvr, h, &fenced).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), Held().size());
    Audit();
    // The storage agent's reconcile revokes the head there: freed.
    CPPUNIT_ASSERT(store_->ReleaseRevoked(h, {a.pdsk_id}).ok());
    CPPUNIT_ASSERT(Held().empty());
    Audit();
  }

  void DetachAndDeleteFree() {
    Cluster(5, 20);
    const int64_t h = Head(), v = Volume(), w = Volume();
    AttachPlan pv = Attached(v, h), pw = Attached(w, h);
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetPdsk, pv.layout.mirrors[0].chunks[0].pdsk_id).ok());
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetPdsk, pw.layout.mirrors[0].chunks[1].pdsk_id).ok());
    CPPUNIT_ASSERT(Held().size() >= 2);
    // The head answered the detach: it has nothing of v any more.
    DetachPlan detach;
    CPPUNIT_ASSERT(store_->BeginDetach(VolumeRef{v, ""}, &detach).ok());
    for (const HeldExtent& x : Held()) CPPUNIT_ASSERT(x.lvol_id == v || x.lvol_id == w);
    CPPUNIT_ASSERT(store_->FinishDetach(detach, "").ok());
    for (const HeldExtent& x : Held()) CPPUNIT_ASSERT_EQUAL(w, x.lvol_id);
    CPPUNIT_ASSERT(!Held().empty());
    // A disk holding space a head may still write is not deleted.
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->DeletePhysicalDisk(Held()[0].pdsk_id).code());
    // A failed head, never fenced on those disks, then deleted by the operator.
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetHsvr, h).ok());
    CPPUNIT_ASSERT(!Held().empty());
    CPPUNIT_ASSERT(store_->DeleteHeadServer(h).ok());
    CPPUNIT_ASSERT(Held().empty());
    Audit();
  }

  void DetachedVolumeFreesAtOnce() {
    Cluster(3, 20);
    const int64_t h = Head(), v = Volume();
    const AttachPlan plan = Attached(v, h);
    DetachPlan detach;
    CPPUNIT_ASSERT(store_->BeginDetach(VolumeRef{v, ""}, &detach).ok());
    CPPUNIT_ASSERT(store_->FinishDetach(detach, "").ok());
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetSsvr, plan.layout.mirrors[0].chunks[0].ssvr_id).ok());
    CPPUNIT_ASSERT(Held().empty());
    Audit();
  }

  void BadBlocksOnNeverWrittenLegWhileAttaching() {
    Cluster(3, 20);
    const int64_t h = Head(), v = Volume();
    AttachPlan plan;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, h, false, &plan).ok());
    const ChunkInfo leg = plan.layout.mirrors[0].chunks[0];
    // Never written, so it moves; but the head may be assembling it now.
    CPPUNIT_ASSERT(store_->NotifyBadBlocks(leg.pdsk_id, {leg.offset_mib / 1024}).ok());
    std::vector<HeldExtent> held = Held();
    CPPUNIT_ASSERT_EQUAL(size_t(1), held.size());
    CPPUNIT_ASSERT_EQUAL(leg.id, held[0].chunk_id);
    CPPUNIT_ASSERT(Statuses(v).count(kSpare));  // the head may have written the mirror
    Audit({Record(plan.layout)});
    // The attach failed and the head confirmed its undo: nothing there.
    CPPUNIT_ASSERT(store_->AbortAttach(plan, "EIO", /*head_clear=*/true).ok());
    CPPUNIT_ASSERT(Held().empty());
    Audit();
  }

  void HeadRecordsAuditFindsFreedLeg() {
    Cluster(3, 20);
    const int64_t h = Head(), v = Volume();
    const AttachPlan plan = Attached(v, h);
    const std::string records = Record(plan.layout);
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetSsvr, plan.layout.mirrors[0].chunks[0].ssvr_id).ok());
    Audit({records});
    // Had the space been freed while the head still has the leg (as before
    // this invariant), the audit says so.
    CPPUNIT_ASSERT(store_->ConfirmLegs(h, v, 0, {}).ok());
    Audit({records});  // doomed: still used until its agent deletes the thin device
    const ChunkInfo& gone = plan.layout.mirrors[0].chunks[0];
    CPPUNIT_ASSERT(store_->ForgetDoomed(gone.pdsk_id, {LegRef{gone.id, gone.thin_id}}).ok());
    std::vector<std::string> problems = Problems({records});
    CPPUNIT_ASSERT_EQUAL(size_t(1), problems.size());
    CPPUNIT_ASSERT(problems[0].find("is no longer counted there") != std::string::npos);
    // A record that is not a record is a problem too.
    CPPUNIT_ASSERT(WriteStateFile(records + "/77", "{", 0600).ok());
    CPPUNIT_ASSERT(Problems({records}).size() > problems.size());
  }

  void LostAttachAnswerNeverNosyncAgain() {
    Cluster(3, 20);
    const int64_t h = Head(), v = Volume(8);
    AttachPlan plan;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, h, false, &plan).ok());
    for (const MirrorInfo& m : plan.layout.mirrors)
      for (const ChunkInfo& c : m.chunks) CPPUNIT_ASSERT_EQUAL(int(kAllocated), c.status);  // first time: nosync
    // The answer is lost: the head may have built it and a VM written it.
    CPPUNIT_ASSERT(store_->MarkAttachmentError(v, h, "ETIMEDOUT").ok());
    CPPUNIT_ASSERT(Statuses(v) == std::set<int>{kInsync});
    DetachPlan detach;
    CPPUNIT_ASSERT(store_->BeginDetach(VolumeRef{v, ""}, &detach).ok());
    CPPUNIT_ASSERT(store_->FinishDetach(detach, "").ok());
    AttachPlan again;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, h, false, &again).ok());
    for (const MirrorInfo& m : again.layout.mirrors)
      for (const ChunkInfo& c : m.chunks) CPPUNIT_ASSERT_EQUAL(int(kInsync), c.status);
    // The same after a manager restart mid-attach.
    const int64_t w = Volume(4);
    AttachPlan other;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{w, ""}, h, false, &other).ok());
    Reopen();
    CPPUNIT_ASSERT(Statuses(w) == std::set<int>{kInsync});
    Audit();
  }

  void LostGrowAnswerNeverNosyncAgain() {
    Cluster(3, 20);
    const int64_t h = Head(), v = Volume();
    Attached(v, h);
    ResizePlan grow;
    CPPUNIT_ASSERT(store_->BeginResize(VolumeRef{v, ""}, 8, &grow).ok());
    CPPUNIT_ASSERT(grow.agent);
    CPPUNIT_ASSERT(store_->MarkAttachmentError(v, h, "growing it failed with no answer").ok());
    const VolumeLayout l = Layout(v);
    CPPUNIT_ASSERT_EQUAL(int64_t(8), l.volume.capacity_gib);  // nothing freed
    CPPUNIT_ASSERT(Statuses(v) == std::set<int>{kInsync});
    Audit();
  }

  void ReplacementInErrorIsSpare() {
    Cluster(4, 20);
    const int64_t h = Head(), v = Volume();
    AttachPlan plan;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, h, false, &plan).ok());
    CPPUNIT_ASSERT(store_->MarkAttachmentError(v, h, "ETIMEDOUT").ok());
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetPdsk, plan.layout.mirrors[0].chunks[0].pdsk_id).ok());
    CPPUNIT_ASSERT(Statuses(v) == (std::set<int>{kInsync, kSpare}));
    ClusterStatus c;
    CPPUNIT_ASSERT(store_->GetClusterStatus(&c).ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(1), c.rebuilds_queued);
    CPPUNIT_ASSERT_EQUAL(size_t(1), Held().size());  // ERROR: the head may have it
    Audit();
  }

  void AbortedAttachStaysUnwritten() {
    Cluster(4, 20);
    const int64_t h = Head(), v = Volume();
    AttachPlan plan;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, h, false, &plan).ok());
    CPPUNIT_ASSERT(store_->AbortAttach(plan, "ECONNREFUSED").ok());
    // Nothing was ever written: a replacement needs no copy, the next
    // attach builds it nosync.
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetPdsk, plan.layout.mirrors[0].chunks[0].pdsk_id).ok());
    CPPUNIT_ASSERT(Statuses(v) == std::set<int>{kAllocated});
    CPPUNIT_ASSERT(Held().empty());
    Audit();
  }

  void AbortResizeFreesHeldOfNewMirrors() {
    Cluster(4, 20);
    const int64_t h = Head(), v = Volume();
    Attached(v, h);
    ResizePlan grow;
    CPPUNIT_ASSERT(store_->BeginResize(VolumeRef{v, ""}, 8, &grow).ok());
    const VolumeLayout l = Layout(v);
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetPdsk, l.mirrors[1].chunks[0].pdsk_id).ok());
    CPPUNIT_ASSERT(!Held().empty());
    // The head answered a definite failure: it built none of the new mirrors.
    CPPUNIT_ASSERT(store_->AbortResize(grow, "EACCES: login refused").ok());
    for (const HeldExtent& x : Held()) CPPUNIT_ASSERT(x.mirror_id != l.mirrors[1].id);
    Audit();
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(StoreHeldTest);
