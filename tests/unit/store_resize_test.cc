// Growing a volume in the Store (manager/store_resize.cc): new mirrors
// placed as a create places them, after a short last mirror too; the rules
// (shrink, snapshots, transitions); ENOSPC changing nothing; the intent and
// outcome transactions around a head agent; a restart mid-grow. The audit
// must pass after every outcome.
#include <cppunit/extensions/HelperMacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <set>
#include <string>

#include "manager/store.h"

using namespace vastsky;

namespace {
const int64_t kGib = 1024 * 2048;  // sectors
const std::string kHeadUrl = "http://127.0.0.1:8882/RPC2";
const std::string kIqn = "iqn.2024-01.org.example:head";

struct ResizeTempDb {
  std::string dir, path;
  ResizeTempDb() {
    char tmpl[] = "/tmp/vastsky-unit-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/state.db";
  }
  ~ResizeTempDb() { (void)system(("rm -rf " + dir).c_str()); }
};
}  // namespace

class StoreResizeTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(StoreResizeTest);
  CPPUNIT_TEST(GrowDetachedAfterShortMirror);
  CPPUNIT_TEST(RulesAndNoop);
  CPPUNIT_TEST(EnospcChangesNothing);
  CPPUNIT_TEST(PlacementRulesHold);
  CPPUNIT_TEST(ThroughAgentFinishAndAbort);
  CPPUNIT_TEST(HeadWithoutAgentRecordsInsync);
  CPPUNIT_TEST(RestartMidGrowIsErrorAndGrown);
  CPPUNIT_TEST_SUITE_END();

  ResizeTempDb* tmp_ = nullptr;
  Store* store_ = nullptr;

 public:
  void setUp() override {
    tmp_ = new ResizeTempDb;
    store_ = new Store;
    Store::Options o;
    o.chunk_gib = 4;
    o.chunk_explicit = true;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, o).ok());
  }
  void tearDown() override {
    delete store_;
    delete tmp_;
  }

  // servers x one disk of `gib` GiB; domains[i] (if given) for server i.
  void Cluster(int servers, int64_t gib, const std::vector<std::string>& domains = {}) {
    for (int s = 0; s < servers; ++s) {
      int64_t id, pd;
      const std::string url = "http://127.0.0.1:" + std::to_string(9000 + s) + "/RPC2";
      const std::string* domain = s < static_cast<int>(domains.size()) ? &domains[s] : nullptr;
      CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.0." + std::to_string(s + 1)}, domain, &id, false, &url).ok());
      CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(id, "/dev/d0", gib * kGib, &pd).ok());
    }
  }

  int64_t Head(const std::string& url) {
    int64_t id;
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &id, false, &url, &kIqn).ok());
    return id;
  }

  void Audit() {
    std::vector<std::string> problems;
    CPPUNIT_ASSERT(Store::Audit(tmp_->path, &problems).ok());
    CPPUNIT_ASSERT_MESSAGE(problems.empty() ? "" : problems[0], problems.empty());
  }

  VolumeLayout Layout(int64_t id) {
    VolumeLayout layout;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{id, ""}, &layout).ok());
    return layout;
  }

  int64_t Used() {
    ClusterStatus c;
    CPPUNIT_ASSERT(store_->GetClusterStatus(&c).ok());
    return c.used_gib;
  }

  // A 4 GiB volume being attached to a head with an agent; returns its id.
  int64_t AttachingVolume(int64_t* head, AttachPlan* attach) {
    Cluster(3, 100);
    *head = Head(kHeadUrl);
    int64_t id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v", 4, 2, &id).ok());
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{id, ""}, *head, false, attach).ok());
    return id;
  }

  // A finished grow: the new size, no transition, every leg in sync.
  VolumeLayout AssertGrownInsync(int64_t id, int64_t gib) {
    const VolumeLayout l = Layout(id);
    CPPUNIT_ASSERT_EQUAL(gib, l.volume.capacity_gib);
    CPPUNIT_ASSERT_EQUAL(int(kNoEvent), l.volume.bind_event);
    for (const MirrorInfo& m : l.mirrors)
      for (const ChunkInfo& c : m.chunks) CPPUNIT_ASSERT_EQUAL(int(kInsync), c.status);
    return l;
  }

  Status Resize(int64_t id, int64_t gib, ResizePlan* plan = nullptr) {
    ResizePlan local;
    return store_->BeginResize(VolumeRef{id, ""}, gib, plan ? plan : &local);
  }

  void GrowDetachedAfterShortMirror() {
    Cluster(3, 100);
    int64_t id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v", 6, 2, &id).ok());  // 4 + 2
    ResizePlan plan;
    CPPUNIT_ASSERT(Resize(id, 15, &plan).ok());
    CPPUNIT_ASSERT(!plan.agent);
    const VolumeLayout l = Layout(id);
    CPPUNIT_ASSERT_EQUAL(int64_t(15), l.volume.capacity_gib);
    // 4, 2 (the old short one stays in the middle), then 4, 4, 1.
    const int64_t offsets[] = {0, 4, 6, 10, 14}, sizes[] = {4, 2, 4, 4, 1};
    CPPUNIT_ASSERT_EQUAL(size_t(5), l.mirrors.size());
    for (size_t i = 0; i < 5; ++i) {
      CPPUNIT_ASSERT_EQUAL(offsets[i], l.mirrors[i].offset_gib);
      CPPUNIT_ASSERT_EQUAL(sizes[i], l.mirrors[i].capacity_gib);
      CPPUNIT_ASSERT_EQUAL(size_t(2), l.mirrors[i].chunks.size());
      for (const ChunkInfo& c : l.mirrors[i].chunks) {
        CPPUNIT_ASSERT_EQUAL(int(kAllocated), c.status);
        CPPUNIT_ASSERT_EQUAL(sizes[i] * 1024, c.length_mib);
      }
    }
    Audit();
    // Reopened, the allocator agrees with the database.
    delete store_;
    store_ = new Store;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, Store::Options()).ok());
    CPPUNIT_ASSERT(Resize(id, 16).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(6), Layout(id).mirrors.size());
    Audit();
  }

  void RulesAndNoop() {
    Cluster(3, 100);
    int64_t id, snap;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v", 8, 2, &id).ok());
    CPPUNIT_ASSERT(Resize(id, 8).ok());  // same size: nothing
    CPPUNIT_ASSERT_EQUAL(size_t(2), Layout(id).mirrors.size());
    Status st = Resize(id, 7);
    CPPUNIT_ASSERT_EQUAL(EINVAL, st.code());
    CPPUNIT_ASSERT(st.message().find("shrinking is not supported") != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(EINVAL, Resize(id, 0).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, Resize(id, kMaxVolumeGib + 1).code());
    CPPUNIT_ASSERT_EQUAL(ENOENT, Resize(id + 100000, 9).code());
    // A snapshot keeps its size; its origin may grow (manager/API.md).
    CopyPlan copy;
    CPPUNIT_ASSERT(store_->BeginCopy(VolumeRef{id, ""}, "s", true, &copy).ok());
    CPPUNIT_ASSERT_EQUAL(EBUSY, Resize(id, 9).code());  // while it is being taken
    CPPUNIT_ASSERT(store_->FinishCopy(copy, 0).ok());
    snap = copy.copy.volume.id;
    CPPUNIT_ASSERT_EQUAL(EINVAL, Resize(snap, 20).code());
    CPPUNIT_ASSERT(store_->DeleteLogicalVolume(VolumeRef{snap, ""}).ok());
    // By name, too.
    ResizePlan plan;
    CPPUNIT_ASSERT(store_->BeginResize(VolumeRef{0, "v"}, 9, &plan).ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(9), Layout(id).volume.capacity_gib);
    Audit();
  }

  void EnospcChangesNothing() {
    Cluster(2, 10);  // 2 x 10 GiB, redundancy 2: at most ~9 GiB per volume
    int64_t id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v", 5, 2, &id).ok());
    const int64_t used = Used();
    const size_t mirrors = Layout(id).mirrors.size();
    std::vector<EventInfo> before;
    CPPUNIT_ASSERT(store_->ListEvents(0, 10000, &before).ok());
    CPPUNIT_ASSERT_EQUAL(ENOSPC, Resize(id, 12).code());
    CPPUNIT_ASSERT_EQUAL(used, Used());
    CPPUNIT_ASSERT_EQUAL(mirrors, Layout(id).mirrors.size());
    CPPUNIT_ASSERT_EQUAL(int64_t(5), Layout(id).volume.capacity_gib);
    std::vector<EventInfo> after;
    CPPUNIT_ASSERT(store_->ListEvents(0, 10000, &after).ok());
    CPPUNIT_ASSERT_EQUAL(before.size(), after.size());
    Audit();
    // The room that is there is still usable: the allocator was put back.
    CPPUNIT_ASSERT(Resize(id, 9).ok());
    Audit();
  }

  void PlacementRulesHold() {
    // Six servers in three domains: every new mirror's 3 legs in 3 domains.
    Cluster(6, 100, {"a", "a", "b", "b", "c", "c"});
    int64_t id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v", 3, 3, &id).ok());
    CPPUNIT_ASSERT(Resize(id, 40).ok());
    std::vector<StorageServerInfo> servers;
    CPPUNIT_ASSERT(store_->ListStorageServers(0, &servers).ok());
    std::map<int64_t, std::string> domain;
    for (const StorageServerInfo& s : servers) domain[s.id] = s.domain;
    for (const MirrorInfo& m : Layout(id).mirrors) {
      CPPUNIT_ASSERT_EQUAL(size_t(3), m.chunks.size());
      std::set<std::string> domains;
      for (const ChunkInfo& c : m.chunks) domains.insert(domain[c.ssvr_id]);
      CPPUNIT_ASSERT_EQUAL(size_t(3), domains.size());
    }
    Audit();
  }

  void ThroughAgentFinishAndAbort() {
    int64_t h;
    AttachPlan attach;
    const int64_t id = AttachingVolume(&h, &attach);
    // In transition: no grow.
    CPPUNIT_ASSERT_EQUAL(EBUSY, Resize(id, 8).code());
    CPPUNIT_ASSERT(store_->FinishAttach(attach, "/dev/vastsky/v").ok());

    const int64_t used = Used();
    ResizePlan plan;
    CPPUNIT_ASSERT(Resize(id, 10, &plan).ok());
    CPPUNIT_ASSERT(plan.agent);
    CPPUNIT_ASSERT_EQUAL(int64_t(4), plan.old_capacity_gib);
    CPPUNIT_ASSERT_EQUAL(size_t(2), plan.new_mirrors.size());
    CPPUNIT_ASSERT_EQUAL(size_t(3), plan.layout.mirrors.size());  // the whole volume
    std::vector<VolumeInfo> v;
    VolumeRef ref{id, ""};
    CPPUNIT_ASSERT(store_->ListLogicalVolumes(&ref, &v).ok());
    CPPUNIT_ASSERT_EQUAL(int(kResizing), v[0].bind_event);
    CPPUNIT_ASSERT_EQUAL(int(kBound), v[0].bind_status);
    CPPUNIT_ASSERT_EQUAL(EBUSY, Resize(id, 12).code());  // one at a time
    DetachPlan detach;
    CPPUNIT_ASSERT_EQUAL(EAGAIN, store_->BeginDetach(ref, &detach).code());
    Audit();  // grown already in the database

    // The head failed: back to 4 GiB, nothing else. The new legs were
    // handed to the head (it may have created their thin devices): doomed,
    // their space returned once their agents delete them.
    CPPUNIT_ASSERT(store_->AbortResize(plan, "EACCES: login refused").ok());
    CPPUNIT_ASSERT(Used() > used);
    std::vector<DoomedDisk> doomed;
    CPPUNIT_ASSERT(store_->DoomedLegs(&doomed).ok());
    size_t legs = 0;
    for (const DoomedDisk& d : doomed) {
      legs += d.legs.size();
      CPPUNIT_ASSERT(store_->ForgetDoomed(d.pdsk_id, d.legs).ok());
    }
    CPPUNIT_ASSERT_EQUAL(size_t(2 * 2), legs);
    CPPUNIT_ASSERT_EQUAL(used, Used());
    VolumeLayout l = Layout(id);
    CPPUNIT_ASSERT_EQUAL(int64_t(4), l.volume.capacity_gib);
    CPPUNIT_ASSERT_EQUAL(size_t(1), l.mirrors.size());
    CPPUNIT_ASSERT_EQUAL(int(kNoEvent), l.volume.bind_event);
    Audit();

    // Again, and the head grows it: the new legs are INSYNC.
    ResizePlan again;
    CPPUNIT_ASSERT(Resize(id, 10, &again).ok());
    CPPUNIT_ASSERT(store_->FinishResize(again).ok());
    l = AssertGrownInsync(id, 10);
    CPPUNIT_ASSERT_EQUAL(int(kBound), l.volume.bind_status);
    // The head needs the disks of every leg now.
    std::map<int64_t, std::vector<LegGrant>> needed;
    CPPUNIT_ASSERT(store_->HeadLegs(h, 0, &needed).ok());
    for (const MirrorInfo& m : l.mirrors)
      for (const ChunkInfo& c : m.chunks) CPPUNIT_ASSERT(needed.count(c.pdsk_id));
    Audit();
  }

  void HeadWithoutAgentRecordsInsync() {
    Cluster(3, 100);
    const int64_t h = Head("");
    int64_t id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v", 4, 2, &id).ok());
    CPPUNIT_ASSERT(store_->AttachLogicalVolume(VolumeRef{id, ""}, h).ok());
    ResizePlan plan;
    CPPUNIT_ASSERT(Resize(id, 9, &plan).ok());
    CPPUNIT_ASSERT(!plan.agent);
    AssertGrownInsync(id, 9);
    Audit();
  }

  void RestartMidGrowIsErrorAndGrown() {
    int64_t h;
    AttachPlan attach;
    const int64_t id = AttachingVolume(&h, &attach);
    CPPUNIT_ASSERT(store_->FinishAttach(attach, "/dev/vastsky/v").ok());
    ResizePlan plan;
    CPPUNIT_ASSERT(Resize(id, 8, &plan).ok());
    delete store_;  // the manager stops between the steps
    store_ = new Store;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, Store::Options()).ok());
    VolumeLayout l = Layout(id);
    CPPUNIT_ASSERT_EQUAL(int(kBindError), l.volume.bind_status);
    CPPUNIT_ASSERT_EQUAL(int(kNoEvent), l.volume.bind_event);
    CPPUNIT_ASSERT_EQUAL(int64_t(8), l.volume.capacity_gib);  // the head may use the new mirrors
    Audit();
    CPPUNIT_ASSERT_EQUAL(EBUSY, Resize(id, 12).code());
    // "A leg that has ever been written is never built nosync again": the
    // head may have written the new legs, so they are in sync with each
    // other from the restart on, never ALLOCATED (nosync) again.
    for (const ChunkInfo& c : l.mirrors[1].chunks) CPPUNIT_ASSERT_EQUAL(int(kInsync), c.status);
    // A detach clears it; the next attach builds the whole from its legs.
    DetachPlan detach;
    CPPUNIT_ASSERT(store_->BeginDetach(VolumeRef{id, ""}, &detach).ok());
    CPPUNIT_ASSERT(store_->FinishDetach(detach, "").ok());
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{id, ""}, h, false, &attach).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(2), attach.layout.mirrors.size());
    for (const MirrorInfo& m : attach.layout.mirrors)
      for (const ChunkInfo& c : m.chunks) CPPUNIT_ASSERT_EQUAL(int(kInsync), c.status);
    Audit();
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(StoreResizeTest);
