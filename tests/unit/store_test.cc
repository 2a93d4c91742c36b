// The Store's state machines and rules, on a real SQLite file: registration
// (EEXIST, coming back after OFFLINE), volume lifecycle and attachment,
// delete rules, failure handling, ENOSPC atomicity, restart.
#include <cppunit/extensions/HelperMacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "manager/store.h"
#include "tests/unit/store_fixture.h"
#include "tests/unit/temp_db.h"

using namespace vastsky;

namespace {
const int64_t kDiskSectors = 100LL * 1024 * 2048;  // 100 GiB
}  // namespace

class StoreTest : public StoreFixture {
  CPPUNIT_TEST_SUITE(StoreTest);
  CPPUNIT_TEST(RegistrationRules);
  CPPUNIT_TEST(VolumeLifecycle);
  CPPUNIT_TEST(AttachStateMachine);
  CPPUNIT_TEST(SnapshotRules);
  CPPUNIT_TEST(EnospcIsAtomic);
  CPPUNIT_TEST(RebuildNeverSyncsALegOnAFailedDisk);
  CPPUNIT_TEST(ServerFailureReplacesLegs);
  CPPUNIT_TEST(NoRoomLeavesMirrorDegraded);
  CPPUNIT_TEST(DeleteRules);
  CPPUNIT_TEST(StateSurvivesReopen);
  CPPUNIT_TEST(ShutdownAllAndReturn);
  CPPUNIT_TEST_SUITE_END();


 public:

  void Cluster(int servers, int disks, int64_t sectors = kDiskSectors) { StoreFixture::Cluster(servers, disks, sectors); }

  ClusterStatus StatusNow() {
    ClusterStatus c;
    CPPUNIT_ASSERT(store_->GetClusterStatus(&c).ok());
    return c;
  }

  void RegistrationRules() {
    int64_t a, b;
    CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.0.1", "::1"}, nullptr, &a).ok());
    CPPUNIT_ASSERT_EQUAL(EEXIST, store_->RegisterStorageServer({"127.1.0.1"}, nullptr, &b).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->RegisterStorageServer({"not-an-ip"}, nullptr, &b).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->RegisterStorageServer({}, nullptr, &b).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->RegisterStorageServer({"127.1.0.2", "127.1.0.2"}, nullptr, &b).code());
    // An hsvr may share an IP with an ssvr (one box, two roles).
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.1.0.1"}, &b).ok());
    int64_t d;
    CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(a, "/dev/sda", kDiskSectors, &d).ok());
    CPPUNIT_ASSERT_EQUAL(EEXIST, store_->RegisterPhysicalDisk(a, "/dev/sda", kDiskSectors, &d).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->RegisterPhysicalDisk(999, "/dev/sdb", kDiskSectors, &d).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->RegisterPhysicalDisk(a, "/dev/../etc/passwd", kDiskSectors, &d).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->RegisterPhysicalDisk(a, "relative", kDiskSectors, &d).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->RegisterPhysicalDisk(a, "/dev/tiny", 2048, &d).code());
    // OFFLINE, then back with the same id.
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetSsvr, a).ok());
    int64_t again;
    CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.0.1"}, nullptr, &again).ok());
    CPPUNIT_ASSERT_EQUAL(a, again);
    int64_t disk_again;
    CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(a, "/dev/sda", 2 * kDiskSectors, &disk_again).ok());
    CPPUNIT_ASSERT_EQUAL(d, disk_again);
    std::vector<PhysicalDiskInfo> disks;
    CPPUNIT_ASSERT(store_->ListPhysicalDisks(a, &disks).ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(200), disks[0].capacity_gib);  // it grew
    CPPUNIT_ASSERT_EQUAL(int(kHigh), disks[0].priority);
    Audit();
  }

  void VolumeLifecycle() {
    Cluster(3, 2);
    int64_t id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("vol", 10, 2, &id).ok());
    CPPUNIT_ASSERT_EQUAL(EEXIST, store_->CreateLogicalVolume("vol", 1, 2, &id).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->CreateLogicalVolume("bad name", 1, 2, &id).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->CreateLogicalVolume("v", 0, 2, &id).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->CreateLogicalVolume("v", 1, 1, &id).code());
    VolumeLayout layout;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{0, "vol"}, &layout).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(3), layout.mirrors.size());  // 4 + 4 + 2 GiB
    CPPUNIT_ASSERT_EQUAL(int64_t(2), layout.mirrors[2].capacity_gib);
    CPPUNIT_ASSERT_EQUAL(int64_t(8), layout.mirrors[2].offset_gib);
    for (const MirrorInfo& m : layout.mirrors) {
      CPPUNIT_ASSERT_EQUAL(size_t(2), m.chunks.size());
      CPPUNIT_ASSERT(m.chunks[0].ssvr_id != m.chunks[1].ssvr_id);
    }
    CPPUNIT_ASSERT_EQUAL(int64_t(20), StatusNow().used_gib);
    CPPUNIT_ASSERT(store_->DeleteLogicalVolume(VolumeRef{id, ""}).ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(0), StatusNow().used_gib);
    CPPUNIT_ASSERT_EQUAL(ENOENT, store_->DeleteLogicalVolume(VolumeRef{id, ""}).code());
    Audit();
  }

  void AttachStateMachine() {
    Cluster(3, 1);
    int64_t vol, head, other;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("vol", 4, 2, &vol).ok());
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &head).ok());
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.2"}, &other).ok());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->AttachLogicalVolume(VolumeRef{vol, ""}, 77).code());
    CPPUNIT_ASSERT(store_->AttachLogicalVolume(VolumeRef{vol, ""}, head).ok());
    // One volume, one head: a second attach anywhere is refused.
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->AttachLogicalVolume(VolumeRef{vol, ""}, other).code());
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->AttachLogicalVolume(VolumeRef{vol, ""}, head).code());
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->DeleteLogicalVolume(VolumeRef{vol, ""}).code());
    std::vector<VolumeInfo> v;
    CPPUNIT_ASSERT(store_->ListLogicalVolumes(nullptr, &v).ok());
    CPPUNIT_ASSERT_EQUAL(head, v[0].hsvr_id);
    CPPUNIT_ASSERT_EQUAL(int(kBound), v[0].bind_status);
    VolumeLayout layout;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{vol, ""}, &layout).ok());
    CPPUNIT_ASSERT_EQUAL(int(kInsync), layout.mirrors[0].chunks[0].status);
    CPPUNIT_ASSERT(store_->DetachLogicalVolume(VolumeRef{vol, ""}).ok());
    CPPUNIT_ASSERT(store_->DetachLogicalVolume(VolumeRef{vol, ""}).ok());  // not attached: 0
    CPPUNIT_ASSERT(store_->AttachLogicalVolume(VolumeRef{vol, ""}, other).ok());
    // A failed head loses its attachments (fencing comes with the agents).
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetHsvr, other).ok());
    v.clear();
    CPPUNIT_ASSERT(store_->ListLogicalVolumes(nullptr, &v).ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(0), v[0].hsvr_id);
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->AttachLogicalVolume(VolumeRef{vol, ""}, other).code());
  }

  Status Copy(const VolumeRef& source, const std::string& name, bool snapshot, int64_t* id) {
    CopyPlan plan;
    VS_RETURN_IF_ERROR(store_->BeginCopy(source, name, snapshot, &plan));
    CPPUNIT_ASSERT(plan.disks.empty());  // 3.0's state-only servers: nothing for agents to make
    VS_RETURN_IF_ERROR(store_->FinishCopy(plan, 0));
    *id = plan.copy.volume.id;
    return Status::OK();
  }

  // manager/API.md, "Snapshots and clones": "A snapshot is a volume of its
  // own", "Deleting a volume that has snapshots or clones is allowed".
  void SnapshotRules() {
    Cluster(3, 1);
    int64_t vol, snap, clone, head, id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("vol", 10, 2, &vol).ok());
    CPPUNIT_ASSERT(Copy(VolumeRef{0, "vol"}, "snap", true, &snap).ok());
    CPPUNIT_ASSERT_EQUAL(EINVAL, Copy(VolumeRef{snap, ""}, "snap2", true, &id).code());
    CPPUNIT_ASSERT_EQUAL(ENOENT, Copy(VolumeRef{0, "nope"}, "snap3", true, &id).code());
    CPPUNIT_ASSERT_EQUAL(EEXIST, Copy(VolumeRef{vol, ""}, "snap", true, &id).code());
    CPPUNIT_ASSERT(Copy(VolumeRef{snap, ""}, "clone", false, &clone).ok());  // a clone of a snapshot
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &head).ok());
    CPPUNIT_ASSERT(store_->AttachLogicalVolume(VolumeRef{snap, ""}, head).ok());
    std::vector<VolumeInfo> v;
    CPPUNIT_ASSERT(store_->ListLogicalVolumes(nullptr, &v).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(3), v.size());
    CPPUNIT_ASSERT_EQUAL(int64_t(0), v[0].hsvr_id);  // the origin stays as it was
    CPPUNIT_ASSERT_EQUAL(head, v[1].hsvr_id);
    CPPUNIT_ASSERT_EQUAL(snap, v[0].associated_from[0].lvol_id);
    CPPUNIT_ASSERT_EQUAL(std::string("snapshot"), v[0].associated_from[0].type);
    CPPUNIT_ASSERT_EQUAL(vol, v[1].associated_to[0].lvol_id);
    CPPUNIT_ASSERT_EQUAL(clone, v[1].associated_from[0].lvol_id);
    CPPUNIT_ASSERT_EQUAL(std::string("clone"), v[2].associated_to[0].type);
    CPPUNIT_ASSERT_EQUAL(1, v[1].kind);
    CPPUNIT_ASSERT_EQUAL(0, v[2].kind);
    CPPUNIT_ASSERT_EQUAL(v[0].capacity_gib, v[1].capacity_gib);
    // The origin goes first; the snapshot and its clone live on.
    CPPUNIT_ASSERT(store_->DeleteLogicalVolume(VolumeRef{vol, ""}).ok());
    v.clear();
    CPPUNIT_ASSERT(store_->ListLogicalVolumes(nullptr, &v).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(2), v.size());
    CPPUNIT_ASSERT(v[0].associated_to.empty());
    CPPUNIT_ASSERT_EQUAL(int64_t(0), v[0].origin_id);
    VolumeLayout layout;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{snap, ""}, &layout).ok());
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->DeleteLogicalVolume(VolumeRef{snap, ""}).code());  // attached
    CPPUNIT_ASSERT(store_->DetachLogicalVolume(VolumeRef{snap, ""}).ok());
    CPPUNIT_ASSERT(store_->DeleteLogicalVolume(VolumeRef{snap, ""}).ok());
    CPPUNIT_ASSERT(store_->DeleteLogicalVolume(VolumeRef{clone, ""}).ok());
    Audit();
  }

  // A rebuild's new leg whose disk fails before it is synced, with no room
  // for another: it stays SPARE on that disk with its rebuild queued (the
  // head's dead-leg report re-places it), even if FinishRebuild names it.
  void RebuildNeverSyncsALegOnAFailedDisk() {
    Cluster(3, 1, int64_t(64) << 21);
    int64_t lvol, head;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v", 1, 2, &lvol).ok());
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &head).ok());
    CPPUNIT_ASSERT(store_->AttachLogicalVolume(VolumeRef{lvol, ""}, head).ok());
    VolumeLayout layout;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{lvol, ""}, &layout).ok());
    const int64_t mirror = layout.mirrors.at(0).id, kept_pdsk = layout.mirrors[0].chunks.at(0).pdsk_id;
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetPdsk, layout.mirrors[0].chunks.at(1).pdsk_id).ok());
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{lvol, ""}, &layout).ok());
    ChunkInfo fresh;
    for (const ChunkInfo& c : layout.mirrors[0].chunks)
      if (c.status == kSpare && c.pdsk_id != kept_pdsk) fresh = c;
    CPPUNIT_ASSERT(fresh.id != 0);
    // Its disk fails too; the third disk is the kept leg's server's only
    // other choice... there is none: it stays, SPARE, on the failed disk.
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetPdsk, fresh.pdsk_id).ok());
    RebuildPlan plan;
    CPPUNIT_ASSERT(store_->StartRebuild(mirror, kept_pdsk, &plan).ok());
    CPPUNIT_ASSERT(store_->FinishRebuild(mirror, {fresh.id}).ok());
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{lvol, ""}, &layout).ok());
    for (const ChunkInfo& c : layout.mirrors[0].chunks)
      if (c.id == fresh.id) CPPUNIT_ASSERT_EQUAL(int{kSpare}, c.status);
    Audit();
  }

  void EnospcIsAtomic() {
    Cluster(3, 1);  // 3 x 100 GiB
    int64_t id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("a", 60, 2, &id).ok());
    ClusterStatus before = StatusNow();
    // 2 x 150 GiB fits in the raw total but not under the placement rules.
    CPPUNIT_ASSERT_EQUAL(ENOSPC, store_->CreateLogicalVolume("b", 150, 2, &id).code());
    ClusterStatus after = StatusNow();
    CPPUNIT_ASSERT_EQUAL(before.used_gib, after.used_gib);
    CPPUNIT_ASSERT_EQUAL(before.available_gib, after.available_gib);
    CPPUNIT_ASSERT_EQUAL(before.mirrors, after.mirrors);
    CPPUNIT_ASSERT_EQUAL(int64_t(1), after.lvols);
    Audit();
    // Nothing leaked: what is left still takes a volume of 2 x 80 GiB.
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("c", 80, 2, &id).ok());
    Audit();
  }

  void ServerFailureReplacesLegs() {
    Cluster(4, 2);
    int64_t vol, head;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("vol", 20, 3, &vol).ok());
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &head).ok());
    CPPUNIT_ASSERT(store_->AttachLogicalVolume(VolumeRef{vol, ""}, head).ok());
    VolumeLayout before;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{vol, ""}, &before).ok());
    int64_t hit = 0;
    for (const MirrorInfo& m : before.mirrors)
      for (const ChunkInfo& c : m.chunks) hit += c.ssvr_id == ssvrs_[0];
    CPPUNIT_ASSERT(hit > 0);
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetSsvr, ssvrs_[0]).ok());
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetSsvr, ssvrs_[0]).ok());  // repeat: no-op
    VolumeLayout layout;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{vol, ""}, &layout).ok());
    for (const MirrorInfo& m : layout.mirrors) {
      std::set<int64_t> servers;
      for (const ChunkInfo& c : m.chunks) {
        CPPUNIT_ASSERT(c.ssvr_id != ssvrs_[0]);
        servers.insert(c.ssvr_id);
      }
      CPPUNIT_ASSERT_EQUAL(size_t(3), servers.size());
    }
    ClusterStatus c = StatusNow();
    CPPUNIT_ASSERT_EQUAL(hit, c.rebuilds_queued);  // one rebuild per lost leg
    Audit();
  }

  void NoRoomLeavesMirrorDegraded() {
    Cluster(3, 1);
    int64_t vol;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("vol", 8, 3, &vol).ok());
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetPdsk, pdsks_[1]).ok());
    std::vector<VolumeInfo> v;
    CPPUNIT_ASSERT(store_->ListLogicalVolumes(nullptr, &v).ok());
    CPPUNIT_ASSERT(v[0].fault);
    ClusterStatus c = StatusNow();
    CPPUNIT_ASSERT_EQUAL(int64_t(2), c.mirrors_degraded);
    std::vector<EventInfo> events;
    CPPUNIT_ASSERT(store_->ListEvents(0, 1000, &events).ok());
    int degraded = 0;
    for (const EventInfo& e : events) degraded += e.type == "degraded";
    CPPUNIT_ASSERT_EQUAL(2, degraded);
    // A new disk on a fourth server: nothing moves by itself yet (issue 4
    // retries), but the mirror stays recorded as degraded.
    Audit();
  }

  void DeleteRules() {
    Cluster(3, 1);
    int64_t vol, head;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("vol", 4, 2, &vol).ok());
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->DeletePhysicalDisk(pdsks_[0]).code());
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->DeleteStorageServer(ssvrs_[0]).code());
    CPPUNIT_ASSERT_EQUAL(ENOENT, store_->DeleteStorageServer(999).code());
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetSsvr, ssvrs_[0]).ok());
    // Its legs were replaced, so the server holds nothing and can go.
    CPPUNIT_ASSERT(store_->DeleteStorageServer(ssvrs_[0]).ok());
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &head).ok());
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->DeleteHeadServer(head).code());
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetHsvr, head).ok());
    CPPUNIT_ASSERT(store_->DeleteHeadServer(head).ok());
    Audit();
  }

  void StateSurvivesReopen() {
    Cluster(3, 2);
    int64_t vol;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("vol", 30, 2, &vol).ok());
    ClusterStatus before = StatusNow();
    delete store_;
    store_ = new Store;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, Store::Options()).ok());
    ClusterStatus after = StatusNow();
    CPPUNIT_ASSERT_EQUAL(before.used_gib, after.used_gib);
    CPPUNIT_ASSERT_EQUAL(before.available_gib, after.available_gib);
    // The rebuilt allocator continues without overlap.
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("vol2", 30, 2, &vol).ok());
    Audit();
  }

  void ShutdownAllAndReturn() {
    Cluster(2, 1);
    int64_t vol, head, id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("vol", 4, 2, &vol).ok());
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &head).ok());
    CPPUNIT_ASSERT(store_->AttachLogicalVolume(VolumeRef{vol, ""}, head).ok());
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->ShutdownAll().code());
    CPPUNIT_ASSERT(store_->DetachLogicalVolume(VolumeRef{vol, ""}).ok());
    CPPUNIT_ASSERT(store_->ShutdownAll().ok());
    CPPUNIT_ASSERT_EQUAL(ENOSPC, store_->CreateLogicalVolume("x", 1, 2, &id).code());
    for (size_t i = 0; i < ssvrs_.size(); ++i) {
      CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.0." + std::to_string(i + 1)}, nullptr, &id).ok());
      CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(id, "/dev/d0", kDiskSectors, &id).ok());
    }
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("x", 1, 2, &id).ok());
    Audit();
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(StoreTest);
