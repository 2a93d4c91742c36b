// The Store's defences, on a real SQLite file: one manager per database,
// a journal the database disagrees with, and SQLite-style fault injection
// (Db::FailAfter) walked over every kind of mutation.
#include <cppunit/extensions/HelperMacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "manager/store.h"
#include "tests/unit/temp_db.h"

using namespace vastsky;

namespace {
const int64_t kDiskSectors = 40LL * 1024 * 2048;  // 40 GiB

// Every row of every table, as sorted text: equal dumps, equal content.
std::string Dump(const std::string& path) {
  Db db;
  CPPUNIT_ASSERT(db.Open(path, /*read_only=*/true).ok());
  std::vector<std::string> tables;
  Stmt t(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  while (t.Step()) tables.push_back(t.Text(0));
  CPPUNIT_ASSERT(t.status().ok());
  std::string out;
  for (const std::string& table : tables) {
    std::vector<std::string> rows;
    Stmt q(db, ("SELECT * FROM \"" + table + "\"").c_str());
    while (q.Step()) {
      std::string row = table;
      for (int c = 0; c < q.columns(); ++c) row += (q.IsNull(c) ? "|NULL" : "|" + q.Text(c));
      rows.push_back(row);
    }
    CPPUNIT_ASSERT(q.status().ok());
    std::sort(rows.begin(), rows.end());
    for (const std::string& r : rows) out += r + "\n";
  }
  return out;
}
}  // namespace

class StoreFaultsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(StoreFaultsTest);
  CPPUNIT_TEST(OneStorePerDatabase);
  CPPUNIT_TEST(JournalMatchingNoRowFails);
  CPPUNIT_TEST(EveryMutationSurvivesEveryFault);
  CPPUNIT_TEST_SUITE_END();

  TempDb* tmp_ = nullptr;
  Store* store_ = nullptr;
  int attempts_ = 0;
  int servers_ = 0;  // registered by Servers(): 127.1.0.<n>
  std::vector<int64_t> attached_;  // through the head's agent

 public:
  void setUp() override {
    tmp_ = new TempDb;
    store_ = new Store;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, Store::Options()).ok());
  }
  void tearDown() override {
    delete store_;
    delete tmp_;
  }

  // Proves README "Running the manager": a second manager on the same
  // database refuses to start; once the first is gone, a new one starts.
  void OneStorePerDatabase() {
    Store second;
    Status st = second.Open(tmp_->path, Store::Options());
    CPPUNIT_ASSERT_EQUAL(EBUSY, st.code());
    CPPUNIT_ASSERT(st.message().find("pid " + std::to_string(getpid())) != std::string::npos);
    // --audit reads while the manager runs.
    std::vector<std::string> problems;
    CPPUNIT_ASSERT(Store::Audit(tmp_->path, &problems).ok());
    delete store_;
    store_ = nullptr;
    CPPUNIT_ASSERT(second.Open(tmp_->path, Store::Options()).ok());
  }

  void AssertConsistent(const std::string& what) {
    std::vector<std::string> problems;
    CPPUNIT_ASSERT(Store::Audit(tmp_->path, &problems).ok());
    CPPUNIT_ASSERT_MESSAGE(what + ": audit: " + (problems.empty() ? "" : problems[0]), problems.empty());
    std::string difference;
    CPPUNIT_ASSERT(store_->AllocatorDifference(&difference).ok());
    CPPUNIT_ASSERT_MESSAGE(what + ": allocator differs from a reload: " + difference, difference.empty());
  }

  // Proves manager/API.md: "A 500 naming a `pdsk` and "the allocator and
  // the database disagree" means the database was changed behind the
  // manager's back". The journal's UPDATE then matches no row: that fails
  // the whole transaction instead of committing chunks over space the
  // database does not count as free.
  void JournalMatchingNoRowFails() {
    int64_t ssvr, pdsk, id;
    for (int s = 0; s < 2; ++s) {
      CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.0." + std::to_string(s + 1)}, nullptr, &ssvr).ok());
      CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(ssvr, "/dev/d", kDiskSectors, &pdsk).ok());
    }
    {
      Db other;
      CPPUNIT_ASSERT(other.Open(tmp_->path).ok());
      Stmt up(other, "UPDATE free_extent SET offset_mib = offset_mib + 1, length_mib = length_mib - 1 WHERE pdsk_id = ?1");
      CPPUNIT_ASSERT(up.Bind(1, pdsk).Run().ok());
      CPPUNIT_ASSERT_EQUAL(int64_t(1), other.changes());
    }
    const std::string before = Dump(tmp_->path);
    Status st = store_->CreateLogicalVolume("v", 8, 2, &id);
    CPPUNIT_ASSERT_EQUAL(int(Status::kInternal), st.code());
    CPPUNIT_ASSERT(st.message().find("pdsk-") != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(before, Dump(tmp_->path));
    // The allocator is back where it was: as the database stood before the
    // tampering, so it still differs from a reload by that one row.
    std::string difference;
    CPPUNIT_ASSERT(store_->AllocatorDifference(&difference).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("pdsk " + std::to_string(pdsk) + ": free list differs"), difference);
  }

  // Runs `mutation` with a commit fault, then with the n-th statement
  // failing for n = 1, 2, ... until it succeeds untouched. Every injected
  // failure must come back as an error that changed nothing: the same rows,
  // an audit without problems, an allocator equal to a fresh reload.
  // must_change: its success must show in the rows (a heartbeat within
  // the second of the last one may not).
  void Walk(const std::string& name, const std::function<Status()>& mutation, bool must_change = true) {
    Db* db = store_->db_for_test();
    const std::string before = Dump(tmp_->path);  // and after every failed attempt
    for (Db::Fault kind : {Db::Fault::kCommit, Db::Fault::kStatement}) {
      for (int n = 1;; ++n) {
        db->FailAfter(n, kind);
        Status st = mutation();
        const bool fired = !db->fault_pending();
        db->FailAfter(0, kind);
        ++attempts_;
        const std::string what = name + (kind == Db::Fault::kCommit ? " commit " : " statement ") + std::to_string(n);
        if (!fired) {
          CPPUNIT_ASSERT_MESSAGE(what + " failed on its own: " + st.ToString(), st.ok());
          const bool changed = before != Dump(tmp_->path);
          CPPUNIT_ASSERT_MESSAGE(name + " changed rows without a transaction", kind == Db::Fault::kStatement || !changed);
          CPPUNIT_ASSERT_MESSAGE(name + " changed nothing: the walk proved little", !must_change || changed);
          AssertConsistent(what);
          return;  // done: it ran to the end untouched
        }
        CPPUNIT_ASSERT_MESSAGE(what + ": the injected failure was swallowed", !st.ok());
        CPPUNIT_ASSERT_MESSAGE(what + ": the failed call changed the database", before == Dump(tmp_->path));
        AssertConsistent(what);
        if (kind == Db::Fault::kCommit) break;  // one commit per mutation
      }
    }
  }

  VolumeLayout Layout(int64_t id) {
    VolumeLayout layout;
    Status st = store_->ShowLogicalVolume(VolumeRef{id, ""}, &layout);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    return layout;
  }

  // The legs of a mirror of the attached volumes waiting for their rebuild.
  std::vector<int64_t> SpareLegs(int64_t mirror) {
    std::vector<int64_t> out;
    for (int64_t lvol : attached_)
      for (const MirrorInfo& m : Layout(lvol).mirrors)
        for (const ChunkInfo& c : m.chunks)
          if (m.id == mirror && c.status == kSpare) out.push_back(c.id);
    return out;
  }

  // Starts and finishes every queued rebuild.
  void RebuildAll() {
    std::vector<RebuildTask> queued;
    std::set<int64_t> busy;
    std::vector<RunningRebuild> running;
    CPPUNIT_ASSERT(store_->RebuildWork(&queued, &busy, &running).ok());
    for (const RebuildTask& t : queued) {
      RebuildPlan plan;
      Walk("StartRebuild", [&] { return store_->StartRebuild(t.id, t.sources.at(0), &plan); });
      const std::vector<int64_t> legs = SpareLegs(t.id);
      Walk("FinishRebuild", [&] { return store_->FinishRebuild(t.id, legs); });
    }
  }

  // The storage agents deleted every doomed leg.
  void ForgetDoomed() {
    std::vector<DoomedDisk> doomed;
    CPPUNIT_ASSERT(store_->DoomedLegs(&doomed).ok());
    CPPUNIT_ASSERT(!doomed.empty());
    for (const DoomedDisk& dd : doomed) Walk("ForgetDoomed", [&] { return store_->ForgetDoomed(dd.pdsk_id, dd.legs); });
  }

  void Servers(int count, std::vector<int64_t>* ssvrs, std::vector<int64_t>* pdsks) {
    for (int s = 0; s < count; ++s) {
      int64_t ssvr, pdsk;
      const std::string ip = "127.1.0." + std::to_string(++servers_), domain = "rack" + ip;
      const std::string url = "http://" + ip + ":1";  // an agent: freed legs are doomed first
      Walk("RegisterStorageServer", [&] { return store_->RegisterStorageServer({ip}, &domain, &ssvr, false, &url); });
      Walk("RegisterPhysicalDisk", [&] { return store_->RegisterPhysicalDisk(ssvr, "/dev/d", kDiskSectors, &pdsk); });
      ssvrs->push_back(ssvr);
      pdsks->push_back(pdsk);
    }
  }

  // Proves manager/store.h: "Each public mutation is one SQLite transaction;
  // the in-memory allocator is updated in step and reverted if the
  // transaction does not commit". A scenario through every kind of
  // mutation, each one walked (Walk).
  void EveryMutationSurvivesEveryFault() {
    std::vector<int64_t> ssvrs, pdsks;
    Servers(5, &ssvrs, &pdsks);
    int64_t head, plain, a, b, c, snap;
    const std::string url = "http://127.0.0.1:1", initiator = "iqn.2026-01.test:h1";
    Walk("RegisterHeadServer", [&] { return store_->RegisterHeadServer({"127.2.0.1"}, &head, false, &url, &initiator); });
    Walk("RegisterHeadServer without agent", [&] { return store_->RegisterHeadServer({"127.2.0.2"}, &plain); });
    Credential cred;
    Walk("EnrollServer", [&] { return store_->EnrollServer("ssvr", 0, &cred); });
    const Caller enrolled{Role::kStorage, 0, "", cred.user};
    int64_t bound;
    Walk("RegisterStorageServer binding a credential",
         [&] { return store_->RegisterStorageServer({"127.1.9.1"}, nullptr, &bound, false, nullptr, &enrolled); });
    Walk("EnrollServer again", [&] { return store_->EnrollServer("ssvr", bound, &cred); });
    Walk("RevokeCredential", [&] { return store_->RevokeCredential(cred.user); });
    const std::vector<int64_t> heads{head};
    Walk("EnrollTenant", [&] { return store_->EnrollTenant("pool-a", &heads, &cred); });
    Walk("EnrollTenant again", [&] { return store_->EnrollTenant("pool-a", nullptr, &cred); });
    Walk("SetTenantHeads", [&] { return store_->SetTenantHeads("pool-a", {head, plain}); });
    Walk("Heartbeat ssvr", [&] { return store_->Heartbeat(kTargetSsvr, ssvrs[0]); }, false);
    Walk("Heartbeat hsvr", [&] { return store_->Heartbeat(kTargetHsvr, head); }, false);
    Walk("SetStorageServerDomain", [&] { return store_->SetStorageServerDomain(ssvrs[0], "rack-a"); });
    Walk("SetPhysicalDiskWeight", [&] { return store_->SetPhysicalDiskWeight(pdsks[1], 0.5); });
    Walk("CreateLogicalVolume", [&] { return store_->CreateLogicalVolume("a", 8, 2, &a); });
    Walk("CreateLogicalVolume", [&] { return store_->CreateLogicalVolume("b", 4, 3, &b); });
    Walk("CreateLogicalVolume", [&] { return store_->CreateLogicalVolume("c", 4, 2, &c); });
    CopyPlan copy;
    Walk("BeginCopy snapshot", [&] { return store_->BeginCopy(VolumeRef{b, ""}, "b-snap", true, &copy); });
    Walk("FinishCopy", [&] { return store_->FinishCopy(copy, 0); });
    snap = copy.copy.volume.id;

    // Attachment as state only, then through an agent: each outcome.
    Walk("AttachLogicalVolume", [&] { return store_->AttachLogicalVolume(VolumeRef{b, ""}, plain); });
    Walk("DetachLogicalVolume", [&] { return store_->DetachLogicalVolume(VolumeRef{b, ""}); });
    AttachPlan attach;
    Walk("BeginAttach", [&] { return store_->BeginAttach(VolumeRef{a, ""}, head, false, &attach); });
    std::vector<LegGrant> granted;
    for (const MirrorInfo& m : attach.layout.mirrors)
      for (const ChunkInfo& l : m.chunks) granted.push_back(LegGrant{l.id, l.thin_id, kMetaMib + l.length_mib, true});
    Walk("MarkLegsCreated", [&] { return store_->MarkLegsCreated(granted); });
    Walk("FinishAttach", [&] { return store_->FinishAttach(attach, "/dev/vastsky/a"); });
    // Copies of a written volume: legs beside its legs, then undone or ERROR.
    Walk("BeginCopy clone", [&] { return store_->BeginCopy(VolumeRef{a, ""}, "a-clone", false, &copy); });
    Walk("AbortCopy", [&] { return store_->AbortCopy(copy, "refused", false); });
    Walk("BeginCopy snapshot written", [&] { return store_->BeginCopy(VolumeRef{a, ""}, "a-snap", true, &copy); });
    Walk("AbortCopy unknown", [&] { return store_->AbortCopy(copy, "lost answer", true); });
    Walk("DeleteLogicalVolume ERROR copy", [&] { return store_->DeleteLogicalVolume(VolumeRef{copy.copy.volume.id, ""}); });
    Walk("BeginAttach", [&] { return store_->BeginAttach(VolumeRef{c, ""}, head, false, &attach); });
    Walk("AbortAttach", [&] { return store_->AbortAttach(attach, "EIO from the head"); });
    Walk("BeginAttach", [&] { return store_->BeginAttach(VolumeRef{c, ""}, head, false, &attach); });
    Walk("MarkAttachmentError", [&] { return store_->MarkAttachmentError(c, head, "ETIMEDOUT"); });
    DetachPlan detach;
    Walk("BeginDetach", [&] { return store_->BeginDetach(VolumeRef{c, ""}, &detach); });
    Walk("RestoreBound", [&] { return store_->RestoreBound(detach, "EBUSY"); });
    Walk("BeginDetach", [&] { return store_->BeginDetach(VolumeRef{c, ""}, &detach); });
    Walk("FinishDetach", [&] { return store_->FinishDetach(detach, ""); });

    // Growing: detached (recorded at once), then on a head, both outcomes.
    ResizePlan resize;
    Walk("BeginResize detached", [&] { return store_->BeginResize(VolumeRef{c, ""}, 8, &resize); });
    Walk("BeginAttach", [&] { return store_->BeginAttach(VolumeRef{c, ""}, head, false, &attach); });
    Walk("FinishAttach", [&] { return store_->FinishAttach(attach, "/dev/vastsky/c"); });
    Walk("BeginResize", [&] { return store_->BeginResize(VolumeRef{c, ""}, 12, &resize); });
    Walk("AbortResize", [&] { return store_->AbortResize(resize, "EIO from the head"); });
    Walk("BeginResize", [&] { return store_->BeginResize(VolumeRef{c, ""}, 12, &resize); });
    Walk("FinishResize", [&] { return store_->FinishResize(resize); });

    // Failures and rebuilds on the attached volume a.
    attached_ = {a, c};
    const VolumeLayout layout = Layout(a);
    const int64_t mirror = layout.mirrors.at(0).id, leg = layout.mirrors.at(0).chunks.at(0).id;
    Walk("NotifyFailure dext", [&] { return store_->NotifyFailure(kTargetDext, leg); });
    std::vector<RebuildTask> queued;
    std::set<int64_t> busy;
    std::vector<RunningRebuild> running;
    CPPUNIT_ASSERT(store_->RebuildWork(&queued, &busy, &running).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), queued.size());
    RebuildPlan rebuild;
    Walk("StartRebuild", [&] { return store_->StartRebuild(mirror, queued[0].sources.at(0), &rebuild); });
    Walk("RequeueRebuild", [&] { return store_->RequeueRebuild(mirror, "the head lost the source"); });
    RebuildAll();
    const int64_t dead = layout.mirrors.at(1).chunks.at(0).id;
    Walk("ReplaceDeadLeg", [&] { return store_->ReplaceDeadLeg(dead, head); });
    RebuildAll();
    const ChunkInfo bad = Layout(a).mirrors.at(0).chunks.at(1);
    Walk("NotifyBadBlocks", [&] { return store_->NotifyBadBlocks(bad.pdsk_id, {bad.offset_mib / 1024 + 1}); });
    RebuildAll();
    const int64_t drained = Layout(a).mirrors.at(1).chunks.at(1).pdsk_id;
    Walk("Drain pdsk", [&] { return store_->Drain(kTargetPdsk, drained); });
    RebuildAll();
    const int64_t failed_pdsk = Layout(a).mirrors.at(0).chunks.at(0).pdsk_id;
    Walk("NotifyFailure pdsk", [&] { return store_->NotifyFailure(kTargetPdsk, failed_pdsk); });
    const int64_t failed_ssvr = Layout(a).mirrors.at(1).chunks.at(0).ssvr_id;
    Walk("NotifyFailure ssvr", [&] { return store_->NotifyFailure(kTargetSsvr, failed_ssvr); });
    RebuildAll();
    // The replaced legs' space stays held for the head until it lets go.
    std::vector<HeldExtent> held;
    CPPUNIT_ASSERT(store_->ListHeld(&held).ok());
    CPPUNIT_ASSERT(!held.empty());
    Walk("ReleaseRevoked", [&] { return store_->ReleaseRevoked(head, {held.front().pdsk_id}); });
    std::set<int64_t> legs_now;
    for (const MirrorInfo& m : Layout(a).mirrors)
      for (const ChunkInfo& l : m.chunks) legs_now.insert(l.id);
    Walk("ConfirmLegs", [&] { return store_->ConfirmLegs(head, a, 0, legs_now); });
    Walk("NoteClusterEvent", [&] { return store_->NoteClusterEvent("error", "isolation", "4 of 9 silent"); });
    ForgetDoomed();
    const ChunkInfo lost = Layout(a).mirrors.at(1).chunks.at(1);
    CPPUNIT_ASSERT_EQUAL(int{kInsync}, lost.status);
    int replaced = 0;
    Walk("ReplaceLostLegs", [&] { return store_->ReplaceLostLegs(lost.pdsk_id, {lost.id}, &replaced); });
    CPPUNIT_ASSERT_EQUAL(1, replaced);
    RebuildAll();

    // A detached volume with a leg to rebuild: attached for the rebuild
    // only, then adopted by a user's attach.
    int64_t d;
    Walk("CreateLogicalVolume", [&] { return store_->CreateLogicalVolume("d", 4, 2, &d); });
    const ChunkInfo worn = Layout(d).mirrors.at(0).chunks.at(0);
    Walk("NotifyBadBlocks detached", [&] { return store_->NotifyBadBlocks(worn.pdsk_id, {worn.offset_mib / 1024 + 1}); });
    Walk("BeginAttach rebuild only", [&] { return store_->BeginAttach(VolumeRef{d, ""}, head, true, &attach); });
    Walk("FinishAttach rebuild only", [&] { return store_->FinishAttach(attach, "/dev/vastsky/d"); });
    bool adopted = false;
    Walk("AdoptRebuildAttachment", [&] { return store_->AdoptRebuildAttachment(d, head, &adopted); });
    CPPUNIT_ASSERT(adopted);
    attached_.push_back(d);
    RebuildAll();

    // Agents coming back: a failed server and its disk, a restarted agent
    // whose disk grew.
    int64_t back = 0;
    const size_t index = std::find(ssvrs.begin(), ssvrs.end(), failed_ssvr) - ssvrs.begin();
    const std::string failed_ip = "127.1.0." + std::to_string(index + 1);
    Walk("RegisterStorageServer back", [&] { return store_->RegisterStorageServer({failed_ip}, nullptr, &back); });
    int64_t back_disk = 0;
    Walk("RegisterPhysicalDisk back", [&] { return store_->RegisterPhysicalDisk(back, "/dev/d", kDiskSectors, &back_disk); });
    int64_t grown = 0;
    Walk("RegisterPhysicalDisk grown", [&] { return store_->RegisterPhysicalDisk(ssvrs[4], "/dev/d", 2 * kDiskSectors, &grown, true); });
    CPPUNIT_ASSERT_EQUAL(pdsks[4], grown);
    int64_t labelled = 0;
    Walk("RegisterPhysicalDisk labelled", [&] {
      return store_->RegisterPhysicalDisk(ssvrs[3], "/dev/renamed", kDiskSectors, &labelled, true, &pdsks[3]);
    });
    CPPUNIT_ASSERT_EQUAL(pdsks[3], labelled);
    Walk("SetClusterSetting up", [&] { return store_->SetClusterSetting("overcommit", "2.0"); });
    Walk("SetClusterSetting down", [&] { return store_->SetClusterSetting("overcommit", "1.5"); });

    // Deletes: volumes, then a server that never held anything, and heads.
    Walk("DeleteLogicalVolume snapshot", [&] { return store_->DeleteLogicalVolume(VolumeRef{snap, ""}); });
    Walk("DeleteLogicalVolume", [&] { return store_->DeleteLogicalVolume(VolumeRef{b, ""}); });
    ForgetDoomed();
    std::vector<int64_t> spare_ssvrs, spare_pdsks;
    Servers(1, &spare_ssvrs, &spare_pdsks);
    Walk("NotifyFailure ssvr empty", [&] { return store_->NotifyFailure(kTargetSsvr, spare_ssvrs[0]); });
    Walk("DeletePhysicalDisk", [&] { return store_->DeletePhysicalDisk(spare_pdsks[0]); });
    Walk("DeleteStorageServer", [&] { return store_->DeleteStorageServer(spare_ssvrs[0]); });
    int64_t owned;
    Walk("CreateLogicalVolume of a tenant", [&] { return store_->CreateLogicalVolume("t1", 1, 2, &owned, "pool-a"); });
    Walk("NotifyFailure hsvr", [&] { return store_->NotifyFailure(kTargetHsvr, plain); });
    Walk("DeleteHeadServer", [&] { return store_->DeleteHeadServer(plain); });
    Walk("NotifyFailure hsvr attached", [&] { return store_->NotifyFailure(kTargetHsvr, head); });
    Walk("ShutdownAll", [&] { return store_->ShutdownAll(); });
    CPPUNIT_ASSERT(attempts_ > 200);  // the walk went deep, not once round
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(StoreFaultsTest);
