// legMap through the manager against fake agents (manager/leg_map.h):
// API.md, "Thin legs", "legMap" — each check in its order, the storage
// agent's answer and faults handed on as they come, and an answer that is
// no map of the leg refused. Nothing in the database changes.
#include <cppunit/extensions/HelperMacros.h>
#include <sqlite3.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "lib/ids.h"
#include "manager/leg_map.h"
#include "tests/unit/recovery_fixture.h"

using namespace vastsky;

class ManagerLegMapTest : public RecoveryFixture {
  CPPUNIT_TEST_SUITE(ManagerLegMapTest);
  CPPUNIT_TEST(NoSuchChunkIsENOENT);
  CPPUNIT_TEST(VolumeNotAttachedThereIsEPERM);
  CPPUNIT_TEST(LegNotInSyncIsEAGAIN);
  CPPUNIT_TEST(ServerNotLiveIsEHOSTDOWN);
  CPPUNIT_TEST(AnswerPassesThroughAndNothingChanges);
  CPPUNIT_TEST(AgentFaultsPassThrough);
  CPPUNIT_TEST(AnswerThatIsNoMapIsEPROTO);
  CPPUNIT_TEST(WhatAMapMayBe);
  CPPUNIT_TEST_SUITE_END();

  int64_t volume_ = 0;

  // The volume's first mirror's legs, as the store has them now.
  std::vector<ChunkInfo> Legs() {
    VolumeLayout l;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{volume_, ""}, &l).ok());
    return l.mirrors.at(0).chunks;
  }
  Status Map(int64_t chunk, LegBlocks* out, int64_t head = 0) {
    return MapLeg(store_.get(), Locked(), &agents_, head ? head : head_, chunk, out);
  }
  int Code(int64_t chunk, int64_t head = 0) {
    LegBlocks m;
    return Map(chunk, &m, head).code();
  }
  int LegMapCalls() {
    int n = 0;
    for (const std::string& c : agents_.Calls()) n += c.rfind("legMap ", 0) == 0;
    return n;
  }
  void Sql(const std::string& sql) { CPPUNIT_ASSERT(store_->db_for_test()->Exec(sql).ok()); }
  void Attach() { CPPUNIT_ASSERT(attacher_->Attach(VolumeRef{volume_, ""}, head_).ok()); }
  // A map of a leg of 4 GiB + 1 MiB in 64 KiB blocks: 65552 of them.
  static LegBlocks Blocks(std::vector<int64_t> ranges, int64_t block_kib = 64) { return {block_kib, ranges}; }

 public:
  void setUp() override {
    SetUpPool(3);  // a spare server: a lost leg is replaced
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("v", 4, 2, &volume_).ok());
  }

  // "Checks, in this order: ENOENT no such chunk", whoever asks.
  void NoSuchChunkIsENOENT() {
    CPPUNIT_ASSERT_EQUAL(ENOENT, Code(0x7ffffff0));
    CPPUNIT_ASSERT_EQUAL(ENOENT, Code(0x7ffffff0, 0x7ffffff0));
    CPPUNIT_ASSERT_EQUAL(0, LegMapCalls());
  }

  // "EPERM its volume is not attached at `hsvrid` (nor being attached or
  // detached there)", checked before the leg's state.
  void VolumeNotAttachedThereIsEPERM() {
    const int64_t leg = Legs()[0].id;
    CPPUNIT_ASSERT_EQUAL(EPERM, Code(leg));  // not attached, legs ALLOCATED
    int64_t other;
    const std::string url = "http://127.0.0.1:8883/RPC2", iqn = "iqn.2024-01.org.example:other";
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.2"}, &other, false, &url, &iqn).ok());
    Attach();
    CPPUNIT_ASSERT_EQUAL(EPERM, Code(leg, other));
    CPPUNIT_ASSERT_EQUAL(0, LegMapCalls());
  }

  // "EAGAIN the chunk is not INSYNC (no source)".
  void LegNotInSyncIsEAGAIN() {
    Attach();
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetPdsk, Legs()[0].pdsk_id).ok());
    const ChunkInfo spare = Legs()[0];
    CPPUNIT_ASSERT_EQUAL(static_cast<int>(kSpare), spare.status);
    CPPUNIT_ASSERT_EQUAL(EAGAIN, Code(spare.id));
    CPPUNIT_ASSERT_EQUAL(0, LegMapCalls());
  }

  // "EHOSTDOWN its disk or storage server is not live (OFFLINE, FAULTY or
  // HALT) or has no agent"; a draining (EVACUATE) one still answers.
  void ServerNotLiveIsEHOSTDOWN() {
    Attach();
    const ChunkInfo leg = Legs()[0];
    agents_.SetLegMap(leg.ssvr_url, leg.pdsk_id, leg.thin_id, Blocks({}));
    CPPUNIT_ASSERT(store_->Drain(kTargetSsvr, leg.ssvr_id).ok());
    CPPUNIT_ASSERT_EQUAL(0, Code(leg.id));
    const std::string id = std::to_string(leg.ssvr_id), disk = std::to_string(leg.pdsk_id);
    // The failure paths make such legs SPARE first; a leg caught between
    // (or a hand-edited database) must still not reach a dead server.
    Sql("UPDATE ssvr SET priority = " + std::to_string(kOffline) + " WHERE id = " + id);
    CPPUNIT_ASSERT_EQUAL(EHOSTDOWN, Code(leg.id));
    Sql("UPDATE ssvr SET priority = " + std::to_string(kEvacuate) + " WHERE id = " + id);
    Sql("UPDATE pdsk SET priority = " + std::to_string(kFaulty) + " WHERE id = " + disk);
    CPPUNIT_ASSERT_EQUAL(EHOSTDOWN, Code(leg.id));
    Sql("UPDATE pdsk SET priority = " + std::to_string(kEvacuate) + " WHERE id = " + disk);
    Sql("UPDATE ssvr SET url = '' WHERE id = " + id);
    CPPUNIT_ASSERT_EQUAL(EHOSTDOWN, Code(leg.id));
    CPPUNIT_ASSERT_EQUAL(1, LegMapCalls());
  }

  // "as the storage agent's `legMap` answered them" and "Changes nothing":
  // the fake answers only the leg's own (agent, disk, thin id).
  void AnswerPassesThroughAndNothingChanges() {
    Attach();
    const std::vector<ChunkInfo> legs = Legs();
    const LegBlocks want = Blocks({0, 16, 100, 1, 65551, 1}), other = Blocks({5, 5});
    agents_.SetLegMap(legs[0].ssvr_url, legs[0].pdsk_id, legs[0].thin_id, want);
    agents_.SetLegMap(legs[1].ssvr_url, legs[1].pdsk_id, legs[1].thin_id, other);
    const int changes = sqlite3_total_changes(store_->db_for_test()->handle());
    LegBlocks got;
    CPPUNIT_ASSERT(Map(legs[0].id, &got).ok());
    CPPUNIT_ASSERT_EQUAL(want.block_kib, got.block_kib);
    CPPUNIT_ASSERT(want.ranges == got.ranges);
    CPPUNIT_ASSERT(Map(legs[1].id, &got).ok());
    CPPUNIT_ASSERT(other.ranges == got.ranges);
    CPPUNIT_ASSERT_EQUAL(changes, sqlite3_total_changes(store_->db_for_test()->handle()));
    CPPUNIT_ASSERT_EQUAL(2, LegMapCalls());
  }

  // "its faults pass through (ENOENT no such thin, E2BIG too many ranges,
  // ...), a lost answer is ETIMEDOUT or EIO, never a map".
  void AgentFaultsPassThrough() {
    Attach();
    const ChunkInfo leg = Legs()[0];
    CPPUNIT_ASSERT_EQUAL(ENOENT, Code(leg.id));  // the fake has no map: "no such thin"
    for (int code : {ETIMEDOUT, EIO, ECONNREFUSED, E2BIG, ENOTSUP}) {
      agents_.Fail(leg.ssvr_url, code);
      LegBlocks m;
      const Status st = Map(leg.id, &m);
      CPPUNIT_ASSERT_EQUAL(code, st.code());
      CPPUNIT_ASSERT(st.message().find(FormatId("dext", leg.id)) != std::string::npos);
      CPPUNIT_ASSERT(st.message().find(FormatId("ssvr", leg.ssvr_id)) != std::string::npos);
    }
  }

  // "An answer that is no map of that leg ... is EPROTO".
  void AnswerThatIsNoMapIsEPROTO() {
    Attach();
    const ChunkInfo leg = Legs()[0];
    agents_.SetLegMap(leg.ssvr_url, leg.pdsk_id, leg.thin_id, Blocks({0, 16, 100}));
    CPPUNIT_ASSERT_EQUAL(EPROTO, Code(leg.id));
    agents_.SetLegMap(leg.ssvr_url, leg.pdsk_id, leg.thin_id, Blocks({65552, 1}));
    CPPUNIT_ASSERT_EQUAL(EPROTO, Code(leg.id));
  }

  // "no map of that leg (odd length, a negative value, ranges not ascending
  // or overlapping, more than 262144 pairs, blocks past the thin device, a
  // block size beyond 1 GiB)".
  void WhatAMapMayBe() {
    const int64_t mib = kMetaMib + 4096;  // 65552 blocks of 64 KiB
    CPPUNIT_ASSERT(CheckLegBlocks(Blocks({}), mib).ok());
    CPPUNIT_ASSERT(CheckLegBlocks(Blocks({0, 65552}), mib).ok());
    CPPUNIT_ASSERT(CheckLegBlocks(Blocks({0, 2, 2, 3, 9, 1}), mib).ok());  // adjacent: not coalesced, still a map
    CPPUNIT_ASSERT(CheckLegBlocks(Blocks({1365, 1}, 3072), mib).ok());      // a last block the device ends inside
    CPPUNIT_ASSERT_EQUAL(EPROTO, CheckLegBlocks(Blocks({1366, 1}, 3072), mib).code());
    CPPUNIT_ASSERT_EQUAL(EPROTO, CheckLegBlocks(Blocks({0, 65553}), mib).code());
    CPPUNIT_ASSERT_EQUAL(EPROTO, CheckLegBlocks(Blocks({1}), mib).code());
    CPPUNIT_ASSERT_EQUAL(EPROTO, CheckLegBlocks(Blocks({-1, 2}), mib).code());
    CPPUNIT_ASSERT_EQUAL(EPROTO, CheckLegBlocks(Blocks({4, -1}), mib).code());
    CPPUNIT_ASSERT_EQUAL(EPROTO, CheckLegBlocks(Blocks({10, 5, 3, 1}), mib).code());  // descending
    CPPUNIT_ASSERT_EQUAL(EPROTO, CheckLegBlocks(Blocks({0, 5, 4, 1}), mib).code());   // overlapping
    CPPUNIT_ASSERT_EQUAL(EPROTO, CheckLegBlocks(Blocks({0, 1}, 0), mib).code());
    CPPUNIT_ASSERT(CheckLegBlocks(Blocks({0, 5}, 1 << 20), mib).ok());
    CPPUNIT_ASSERT_EQUAL(EPROTO, CheckLegBlocks(Blocks({0, 1}, INT64_MAX), mib).code());
    CPPUNIT_ASSERT_EQUAL(EPROTO, CheckLegBlocks(Blocks({0, INT64_MAX}), mib).code());
    // kMaxLegMapRanges single blocks fit a device that large; one more does not.
    std::vector<int64_t> many;
    for (int64_t i = 0; i < kMaxLegMapRanges; ++i) many.insert(many.end(), {2 * i, 1});
    const int64_t big = 2 * kMaxLegMapRanges * 64 / 1024 + 1;
    CPPUNIT_ASSERT(CheckLegBlocks(Blocks(many), big).ok());
    many.insert(many.end(), {2 * kMaxLegMapRanges, 1});
    CPPUNIT_ASSERT_EQUAL(EPROTO, CheckLegBlocks(Blocks(many), big).code());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ManagerLegMapTest);
