// The Store on thin legs (manager/API.md, "Thin legs"): the schema that
// refuses the slice layout, thin ids per disk, registration by a disk's
// label, the overcommit setting, doomed legs and pool reports.
#include <cppunit/extensions/HelperMacros.h>

#include <cerrno>
#include <map>
#include <set>
#include <string>

#include "manager/schema.h"
#include "manager/store.h"
#include "tests/unit/store_events.h"
#include "tests/unit/store_fixture.h"
#include "tests/unit/temp_db.h"

using namespace vastsky;

namespace {
const int64_t kDiskSectors = 100LL * 1024 * 2048;  // 100 GiB
}  // namespace

class StoreThinTest : public StoreFixture {
  CPPUNIT_TEST_SUITE(StoreThinTest);
  CPPUNIT_TEST(SliceLayoutDatabaseIsRefused);
  CPPUNIT_TEST(ClusterIdIsMadeOnce);
  CPPUNIT_TEST(UpgradeCountsHandedLegsCreated);
  CPPUNIT_TEST(ThinIdsPerDiskNeverReused);
  CPPUNIT_TEST(ThinIdSpaceRunsOut);
  CPPUNIT_TEST(RegistrationByLabel);
  CPPUNIT_TEST(OvercommitScalesSlots);
  CPPUNIT_TEST(PoolReportsStopPlacement);
  CPPUNIT_TEST_SUITE_END();


 public:
  void Cluster(int servers) { StoreFixture::Cluster(servers, 1, kDiskSectors); }

  // pdsk -> thin ids of the volume's legs there.
  std::map<int64_t, std::set<int64_t>> ThinIds(int64_t lvol_id) {
    VolumeRef ref;
    ref.id = lvol_id;
    VolumeLayout layout;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(ref, &layout).ok());
    std::map<int64_t, std::set<int64_t>> out;
    for (const MirrorInfo& m : layout.mirrors)
      for (const ChunkInfo& c : m.chunks) {
        CPPUNIT_ASSERT(c.thin_id >= 1 && c.thin_id <= kMaxThinId);
        CPPUNIT_ASSERT(out[c.pdsk_id].insert(c.thin_id).second);
      }
    return out;
  }

  // API.md: "A database of an older schema (the slice layout) is refused:
  // start a fresh one."
  void SliceLayoutDatabaseIsRefused() {
    delete store_;
    store_ = nullptr;
    TempDb old;
    {
      Db db;
      CPPUNIT_ASSERT(db.Open(old.path).ok());
      CPPUNIT_ASSERT(db.Exec("CREATE TABLE setting(key TEXT PRIMARY KEY, value TEXT NOT NULL); "
                             "PRAGMA user_version = 6").ok());
    }
    Store s;
    Status st = s.Open(old.path, Store::Options());
    CPPUNIT_ASSERT_EQUAL(EPROTO, st.code());
    CPPUNIT_ASSERT(st.message().find("slice layout") != std::string::npos);
    CPPUNIT_ASSERT(st.message().find("fresh database") != std::string::npos);
    std::vector<std::string> problems;
    CPPUNIT_ASSERT_EQUAL(EPROTO, Store::Audit(old.path, &problems).code());
    store_ = new Store;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, Store::Options()).ok());
  }

  // manager/schema.cc 7 -> 8: "every leg that may have been handed out
  // counts as created": INSYNC legs, and ALLOCATED ones of written mirrors.
  void UpgradeCountsHandedLegsCreated() {
    Cluster(2);
    int64_t a, b;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("a", 8, 2, &a).ok());  // two mirrors
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("b", 4, 2, &b).ok());
    delete store_;
    store_ = nullptr;
    {
      Db db;
      CPPUNIT_ASSERT(db.Open(tmp_->path).ok());
      const std::string ids = "(SELECT id FROM mirror WHERE lvol_id = " + std::to_string(a);
      CPPUNIT_ASSERT(db.Exec("ALTER TABLE chunk DROP COLUMN created; ALTER TABLE lvol DROP COLUMN source_id; "
                             "ALTER TABLE lvol DROP COLUMN state; DROP INDEX lvol_tenant; ALTER TABLE lvol DROP COLUMN tenant; "
                             "DROP TABLE tenant_head; DROP TABLE credential; PRAGMA user_version = 7; "
                             "UPDATE mirror SET written = 1 WHERE lvol_id = " + std::to_string(a) + "; "
                             "UPDATE chunk SET status = 2 WHERE mirror_id IN " + ids + " AND idx = 0); "
                             "UPDATE chunk SET status = 3 WHERE slot = 1 AND mirror_id IN " + ids + " AND idx = 1)")
                         .ok());
    }
    store_ = new Store;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, Store::Options()).ok());
    Db db;
    CPPUNIT_ASSERT(db.Open(tmp_->path, true).ok());
    Stmt q(db, "SELECT m.lvol_id, c.status, c.created FROM chunk c JOIN mirror m ON m.id = c.mirror_id");
    std::multiset<std::string> rows;
    while (q.Step()) rows.insert(std::to_string(q.Int(0) == a) + std::to_string(q.Int(1)) + std::to_string(q.Int(2)));
    CPPUNIT_ASSERT(q.status().ok());
    // a: two INSYNC legs, an ALLOCATED and a SPARE one; b: unwritten.
    CPPUNIT_ASSERT(rows == std::multiset<std::string>({"121", "121", "111", "130", "010", "010"}));
  }

  void ClusterIdIsMadeOnce() {
    const std::string id = store_->cluster_id();
    CPPUNIT_ASSERT_EQUAL(size_t(36), id.size());
    CPPUNIT_ASSERT_EQUAL('4', id[14]);
    delete store_;
    store_ = new Store;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, Store::Options()).ok());
    CPPUNIT_ASSERT_EQUAL(id, store_->cluster_id());
    TempDb other;
    Store s;
    CPPUNIT_ASSERT(s.Open(other.path, Store::Options()).ok());
    CPPUNIT_ASSERT(s.cluster_id() != id);
  }

  // API.md: "thin ids are assigned per disk, monotonic, never reused".
  void ThinIdsPerDiskNeverReused() {
    Cluster(3);
    int64_t a, b;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("a", 12, 3, &a).ok());
    auto first = ThinIds(a);
    for (const auto& d : first) CPPUNIT_ASSERT(d.second == std::set<int64_t>({1, 2, 3}));
    VolumeRef ref;
    ref.id = a;
    CPPUNIT_ASSERT(store_->DeleteLogicalVolume(ref).ok());
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("b", 4, 3, &b).ok());
    for (const auto& d : ThinIds(b)) CPPUNIT_ASSERT(d.second == std::set<int64_t>({4}));
    Audit();
  }

  void ThinIdSpaceRunsOut() {
    Cluster(2);
    CPPUNIT_ASSERT(store_->db_for_test()->Exec("UPDATE pdsk SET next_thin_id = " + std::to_string(kMaxThinId)).ok());
    int64_t id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("last", 4, 2, &id).ok());
    for (const auto& d : ThinIds(id)) CPPUNIT_ASSERT(d.second == std::set<int64_t>({kMaxThinId}));
    CPPUNIT_ASSERT_EQUAL(ENOSPC, store_->CreateLogicalVolume("more", 4, 2, &id).code());
    std::string diff;
    CPPUNIT_ASSERT(store_->AllocatorDifference(&diff).ok());
    CPPUNIT_ASSERT_EQUAL(std::string(), diff);
    Audit();
  }

  int64_t SlotsGib(int64_t pdsk) {
    std::vector<PhysicalDiskInfo> disks;
    CPPUNIT_ASSERT(store_->ListPhysicalDisks(0, &disks).ok());
    for (const PhysicalDiskInfo& d : disks)
      if (d.id == pdsk) return d.capacity_gib;
    CPPUNIT_FAIL("no such disk");
    return 0;
  }

  // API.md registerPhysicalDisk: "pdskid, the id in the disk's label: that
  // disk if it is this server's (its path may have changed), EEXIST if
  // another server's, ENOENT if unknown".
  void RegistrationByLabel() {
    Cluster(2);
    int64_t id = 0;
    const int64_t mine = pdsks_[0], theirs = pdsks_[1], unknown = 999;
    CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(ssvrs_[0], "/dev/sdz", kDiskSectors, &id, true, &mine).ok());
    CPPUNIT_ASSERT_EQUAL(mine, id);
    std::vector<PhysicalDiskInfo> disks;
    CPPUNIT_ASSERT(store_->ListPhysicalDisks(ssvrs_[0], &disks).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), disks.size());
    CPPUNIT_ASSERT_EQUAL(std::string("/dev/sdz"), disks[0].path);
    CPPUNIT_ASSERT_EQUAL(EEXIST, store_->RegisterPhysicalDisk(ssvrs_[0], "/dev/sdy", kDiskSectors, &id, true, &theirs).code());
    CPPUNIT_ASSERT_EQUAL(ENOENT, store_->RegisterPhysicalDisk(ssvrs_[0], "/dev/sdy", kDiskSectors, &id, true, &unknown).code());
    // Without reconnect a live labelled disk is EEXIST, as by path.
    CPPUNIT_ASSERT_EQUAL(EEXIST, store_->RegisterPhysicalDisk(ssvrs_[0], "/dev/sdz", kDiskSectors, &id, false, &mine).code());
    Audit();
  }

  // API.md setClusterSetting: "each disk's slots are floor(pool x overcommit)".
  void OvercommitScalesSlots() {
    Cluster(2);
    CPPUNIT_ASSERT_EQUAL(int64_t(100), SlotsGib(pdsks_[0]));
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->SetClusterSetting("overcommit", "0.5").code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->SetClusterSetting("overcommit", "21").code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->SetClusterSetting("overcommit", "1.5x").code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->SetClusterSetting("colour", "1.5").code());
    CPPUNIT_ASSERT(store_->SetClusterSetting("overcommit", "2.5").ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(250), SlotsGib(pdsks_[0]));
    int64_t id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("big", 200, 2, &id).ok());
    Audit();
    // 200 GiB reserved on each disk: 1.0 would leave them beyond the slots.
    Status st = store_->SetClusterSetting("overcommit", "1.0");
    CPPUNIT_ASSERT_EQUAL(EBUSY, st.code());
    CPPUNIT_ASSERT(st.message().find("pdsk-") != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(2.5, store_->overcommit());
    CPPUNIT_ASSERT(store_->SetClusterSetting("overcommit", "2.1").ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(210), SlotsGib(pdsks_[0]));
    std::string diff;
    CPPUNIT_ASSERT(store_->AllocatorDifference(&diff).ok());
    CPPUNIT_ASSERT_EQUAL(std::string(), diff);
    Audit();
    // The setting survives a restart, and a disk registered later gets it.
    delete store_;
    store_ = new Store;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, Store::Options()).ok());
    CPPUNIT_ASSERT_EQUAL(2.1, store_->overcommit());
    int64_t s, d;
    CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.0.9"}, nullptr, &s).ok());
    CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(s, "/dev/d0", kDiskSectors, &d).ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(210), SlotsGib(d));
    Audit();
  }

  std::vector<EventInfo> PoolEvents() { return EventsOfType(store_, "pool"); }

  // API.md heartbeat pools: "nearfull 0.85 / full 0.95 of data or metadata
  // ... events naming the pool, once per crossing, and the disk takes no
  // new legs while at or past nearfull".
  void PoolReportsStopPlacement() {
    Cluster(2);  // redundancy 2 needs both disks
    PoolReport r{pdsks_[0], 100, 1000, 10, 1000, "rw"};
    CPPUNIT_ASSERT(store_->NotePools(ssvrs_[0], {r}).ok());
    CPPUNIT_ASSERT(PoolEvents().empty());
    r.meta_used_kib = 860;  // metadata counts as data does
    CPPUNIT_ASSERT(store_->NotePools(ssvrs_[0], {r}).ok());
    CPPUNIT_ASSERT(store_->NotePools(ssvrs_[0], {r}).ok());
    std::vector<EventInfo> ev = PoolEvents();
    CPPUNIT_ASSERT_EQUAL(size_t(1), ev.size());
    CPPUNIT_ASSERT_EQUAL(std::string("warning"), ev[0].level);
    CPPUNIT_ASSERT(ev[0].message.find("pdsk-") != std::string::npos && ev[0].message.find("ssvr-") != std::string::npos);
    int64_t id;
    CPPUNIT_ASSERT_EQUAL(ENOSPC, store_->CreateLogicalVolume("v", 4, 2, &id).code());
    std::vector<PhysicalDiskInfo> disks;
    CPPUNIT_ASSERT(store_->ListPhysicalDisks(ssvrs_[0], &disks).ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(100), disks[0].pool_used_mib);
    CPPUNIT_ASSERT_EQUAL(int64_t(1000), disks[0].pool_mib);
    CPPUNIT_ASSERT_EQUAL(int64_t(860), disks[0].pool_meta_used_kib);
    CPPUNIT_ASSERT_EQUAL(std::string("rw"), disks[0].pool_mode);
    r.mode = "out_of_data_space";
    CPPUNIT_ASSERT(store_->NotePools(ssvrs_[0], {r}).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("error"), PoolEvents().back().level);
    // Another server's disk is not this agent's to report.
    PoolReport other{pdsks_[1], 990, 1000, 0, 1000, "rw"};
    CPPUNIT_ASSERT(store_->NotePools(ssvrs_[0], {other}).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(2), PoolEvents().size());
    r = PoolReport{pdsks_[0], 100, 1000, 10, 1000, "rw"};
    CPPUNIT_ASSERT(store_->NotePools(ssvrs_[0], {r}).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("info"), PoolEvents().back().level);
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v", 4, 2, &id).ok());
    std::string diff;
    CPPUNIT_ASSERT(store_->AllocatorDifference(&diff).ok());
    CPPUNIT_ASSERT_EQUAL(std::string(), diff);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(StoreThinTest);
