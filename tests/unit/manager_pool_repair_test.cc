// repairPhysicalDisk through the manager against fake agents
// (manager/pool_repair.h): API.md, "Repairing a pool" — its faults, one
// repair per disk at a time, and the outcome recorded as a `pool` event.
#include <cppunit/extensions/HelperMacros.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "lib/ids.h"
#include "manager/pool_repair.h"
#include "tests/unit/recovery_fixture.h"
#include "tests/unit/store_events.h"

using namespace vastsky;

class ManagerPoolRepairTest : public RecoveryFixture {
  CPPUNIT_TEST_SUITE(ManagerPoolRepairTest);
  CPPUNIT_TEST(UnknownDiskIsENOENT);
  CPPUNIT_TEST(ServerNotLiveIsEHOSTDOWN);
  CPPUNIT_TEST(RepairedPoolIsAnInfoEvent);
  CPPUNIT_TEST(DamagedPoolIsAnErrorEventNamingWhatToDo);
  CPPUNIT_TEST(LostAnswerIsAnErrorEventOfUnknownOutcome);
  CPPUNIT_TEST(RefusalRecordsNothing);
  CPPUNIT_TEST(SecondRepairOfADiskIsEBUSY);
  CPPUNIT_TEST(FailingPoolEventNamesTheCommand);
  CPPUNIT_TEST(LegsHeadsMayHaveWrittenAreNamedStale);
  CPPUNIT_TEST(AnOnlyCopyComesBackWithAnErrorEvent);
  CPPUNIT_TEST_SUITE_END();

  std::unique_ptr<PoolRepairs> repairs_;

  std::vector<EventInfo> PoolEvents() { return EventsOfType(store_.get(), "pool"); }
  int RepairCalls() {
    int n = 0;
    for (const std::string& c : agents_.Calls()) n += c.rfind("repairPool ", 0) == 0;
    return n;
  }
  static bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

 public:
  void setUp() override {
    SetUpPool(2);
    repairs_.reset(new PoolRepairs(store_.get(), Locked(), &agents_));
  }

  // "ENOENT no such disk"; bad input never reaches an agent.
  void UnknownDiskIsENOENT() {
    CPPUNIT_ASSERT_EQUAL(ENOENT, repairs_->Repair(0x7ffffff0).code());
    CPPUNIT_ASSERT_EQUAL(0, RepairCalls());
    CPPUNIT_ASSERT(PoolEvents().empty());
  }

  // "EHOSTDOWN its storage server is not live (OFFLINE, FAULTY, HALT) or
  // has no agent".
  void ServerNotLiveIsEHOSTDOWN() {
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetSsvr, ssvrs_[0]).ok());
    Status st = repairs_->Repair(pdsks_[0]);
    CPPUNIT_ASSERT_EQUAL(EHOSTDOWN, st.code());
    CPPUNIT_ASSERT(Has(st.message(), FormatId("ssvr", ssvrs_[0])));
    int64_t id, pd;
    CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.0.9"}, nullptr, &id, false, nullptr).ok());
    CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(id, "/dev/d0", kDiskSectors, &pd).ok());
    CPPUNIT_ASSERT_EQUAL(EHOSTDOWN, repairs_->Repair(pd).code());
    CPPUNIT_ASSERT_EQUAL(0, RepairCalls());
  }

  // "0 once the agent answers it repaired; an `info` event `pool` says so".
  void RepairedPoolIsAnInfoEvent() {
    CPPUNIT_ASSERT(repairs_->Repair(pdsks_[1]).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("repairPool " + SsvrUrl(1)), agents_.Calls().back());
    const std::vector<EventInfo> ev = PoolEvents();
    CPPUNIT_ASSERT_EQUAL(size_t{1}, ev.size());
    CPPUNIT_ASSERT_EQUAL(std::string("info"), ev[0].level);
    CPPUNIT_ASSERT_EQUAL(pdsks_[1], ev[0].target_id);
    CPPUNIT_ASSERT(Has(ev[0].message, "is repaired"));
  }

  // "EUCLEAN: the metadata is damaged, the pool stays down; an `error`
  // event names the pool and the repair to do by hand".
  void DamagedPoolIsAnErrorEventNamingWhatToDo() {
    agents_.SetRepair(pdsks_[0], Status::Error(EUCLEAN, "thin_check ... failed; Repair: thin_repair -i /dev/x"));
    Status st = repairs_->Repair(pdsks_[0]);
    CPPUNIT_ASSERT_EQUAL(EUCLEAN, st.code());
    CPPUNIT_ASSERT(Has(st.message(), "thin_repair"));
    const std::vector<EventInfo> ev = PoolEvents();
    CPPUNIT_ASSERT_EQUAL(size_t{1}, ev.size());
    CPPUNIT_ASSERT_EQUAL(std::string("error"), ev[0].level);
    CPPUNIT_ASSERT(Has(ev[0].message, "the thin pool of " + FormatId("pdsk", pdsks_[0])));
    CPPUNIT_ASSERT(Has(ev[0].message, "stays down"));
    char meta[64];
    snprintf(meta, sizeof meta, "thin_repair -i /dev/mapper/vastsky-pool-%08llx-meta",
             static_cast<unsigned long long>(pdsks_[0]));
    CPPUNIT_ASSERT(Has(ev[0].message, meta));
    CPPUNIT_ASSERT(Has(ev[0].message, "vastsky pdsk repair " + FormatId("pdsk", pdsks_[0])));
  }

  // "A lost answer (ETIMEDOUT, EIO) is an unknown outcome: an `error` event
  // says so", never success.
  void LostAnswerIsAnErrorEventOfUnknownOutcome() {
    agents_.Fail(SsvrUrl(0), ETIMEDOUT);
    CPPUNIT_ASSERT_EQUAL(ETIMEDOUT, repairs_->Repair(pdsks_[0]).code());
    const std::vector<EventInfo> ev = PoolEvents();
    CPPUNIT_ASSERT_EQUAL(size_t{1}, ev.size());
    CPPUNIT_ASSERT_EQUAL(std::string("error"), ev[0].level);
    CPPUNIT_ASSERT(Has(ev[0].message, "unknown"));
  }

  // "A refusal (EBUSY nothing to repair, ENOENT not open there) records
  // nothing".
  void RefusalRecordsNothing() {
    agents_.SetRepair(pdsks_[0], Status::Error(EBUSY, "the pool of pdsk is rw and needs no check: nothing to repair"));
    Status st = repairs_->Repair(pdsks_[0]);
    CPPUNIT_ASSERT_EQUAL(EBUSY, st.code());
    CPPUNIT_ASSERT(Has(st.message(), "nothing to repair"));
    CPPUNIT_ASSERT(PoolEvents().empty());
  }

  // "EBUSY a repair of that disk is running already".
  void SecondRepairOfADiskIsEBUSY() {
    agents_.HoldRepairs(true);
    Status first;
    std::thread t([&] { first = repairs_->Repair(pdsks_[0]); });
    for (int i = 0; i < 500 && agents_.repairs_waiting() == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CPPUNIT_ASSERT_EQUAL(1, agents_.repairs_waiting());
    Status second = repairs_->Repair(pdsks_[0]);
    CPPUNIT_ASSERT_EQUAL(EBUSY, second.code());
    CPPUNIT_ASSERT(Has(second.message(), "running"));
    agents_.HoldRepairs(false);
    t.join();
    CPPUNIT_ASSERT(first.ok());
    CPPUNIT_ASSERT(repairs_->Repair(pdsks_[0]).ok());  // done: another may start
  }

  // API.md, "Thin legs", Pools: "a mode `ro` or `fail` (I/O errors): an
  // `error` event naming `vastsky pdsk repair`"; `rw` again lifts the stop.
  void FailingPoolEventNamesTheCommand() {
    PoolReport r;
    r.pdsk_id = pdsks_[0];
    r.data_mib = 1000;
    r.meta_kib = 16384;
    r.mode = "fail";
    CPPUNIT_ASSERT(store_->NotePools(ssvrs_[0], {r}).ok());
    std::vector<EventInfo> ev = PoolEvents();
    CPPUNIT_ASSERT_EQUAL(size_t{1}, ev.size());
    CPPUNIT_ASSERT_EQUAL(std::string("error"), ev[0].level);
    CPPUNIT_ASSERT(Has(ev[0].message, "is failing"));
    CPPUNIT_ASSERT(Has(ev[0].message, "`vastsky pdsk repair " + FormatId("pdsk", pdsks_[0]) + "`"));
    r.mode = "rw";
    CPPUNIT_ASSERT(store_->NotePools(ssvrs_[0], {r}).ok());
    ev = PoolEvents();
    CPPUNIT_ASSERT_EQUAL(size_t{2}, ev.size());
    CPPUNIT_ASSERT_EQUAL(std::string("info"), ev[1].level);
  }

  int64_t AttachedVolume(const std::string& name) {
    int64_t v;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume(name, 4, 2, &v).ok());  // one mirror, a leg on each disk
    CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{v, ""}, head_).ok());
    return v;
  }
  ChunkInfo LegOn(int64_t v, int64_t pdsk) {
    const VolumeLayout l = Layout(v);  // a temporary's member would dangle in the loop
    for (const ChunkInfo& c : l.mirrors.at(0).chunks)
      if (c.pdsk_id == pdsk) return c;
    CPPUNIT_FAIL("no leg on that disk");
    return ChunkInfo();
  }

  // PROTOCOL.md, "Repairing a pool": "the manager names the disk's legs
  // heads may have written (in sync, of a mirror ever handed to a head,
  // with another leg in sync elsewhere) as `stale`".
  void LegsHeadsMayHaveWrittenAreNamedStale() {
    const int64_t a = AttachedVolume("a");
    int64_t b;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("b", 4, 2, &b).ok());  // never handed to a head
    CPPUNIT_ASSERT(repairs_->Repair(pdsks_[0]).ok());
    const std::vector<StaleLeg> stale = agents_.StaleOf(pdsks_[0]);
    const ChunkInfo leg = LegOn(a, pdsks_[0]);
    CPPUNIT_ASSERT_EQUAL(size_t{1}, stale.size());
    CPPUNIT_ASSERT_EQUAL(leg.id, stale[0].chunk_id);
    CPPUNIT_ASSERT_EQUAL(leg.thin_id, stale[0].thin_id);
    CPPUNIT_ASSERT_EQUAL(kMetaMib + leg.length_mib, stale[0].size_mib);
    CPPUNIT_ASSERT(EventsOfType(store_.get(), "pool").size() == 1);  // the outcome only
  }

  // "A leg that is its mirror's only one in sync is not named: it comes
  // back as it was, and an `error` event says it may lack writes".
  void AnOnlyCopyComesBackWithAnErrorEvent() {
    const int64_t a = AttachedVolume("a");
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetSsvr, ssvrs_[1]).ok());  // the other leg: no room, SPARE
    CPPUNIT_ASSERT(repairs_->Repair(pdsks_[0]).ok());
    CPPUNIT_ASSERT(agents_.StaleOf(pdsks_[0]).empty());
    const int64_t only = LegOn(a, pdsks_[0]).id;
    bool found = false;
    for (const EventInfo& e : EventsOfType(store_.get(), "pool"))
      found = found || (e.level == "error" && e.target_id == only && Has(e.message, "only leg in sync"));
    CPPUNIT_ASSERT(found);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ManagerPoolRepairTest);
