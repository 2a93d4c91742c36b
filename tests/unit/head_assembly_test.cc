// The head agent's assembly over the simulated host: which devices an
// attach builds and how, that a failure at any step leaves nothing, that
// detach refuses an open volume and otherwise leaves nothing, that shared
// sessions survive, that a restarted agent adopts what it built, and that
// a grow reloads an open volume longer or, failing, leaves it as it was.
#include <cppunit/extensions/HelperMacros.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "agents/head/assembly.h"
#include "agents/head/plan.h"
#include "agents/head/volume_spec.h"
#include "lib/ids.h"
#include "lib/iscsi_names.h"
#include "lib/state_file.h"
#include "tests/unit/head_fixture.h"

using namespace vastsky;
using namespace vastsky::head_test;

class HeadAssemblyTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(HeadAssemblyTest);
  CPPUNIT_TEST(PlanUndoesInReverseOnFailure);
  CPPUNIT_TEST(AttachBuildsSlicesRaidsVolumeAndLink);
  CPPUNIT_TEST(FreshMirrorIsNosyncAndReplacementIsRebuilt);
  CPPUNIT_TEST(RebuildPutsTheNewLegInTheOldSlot);
  CPPUNIT_TEST(DrainGrowsTheMirrorThenDropsTheOldLeg);
  CPPUNIT_TEST(RefusedLoginLeavesNothing);
  CPPUNIT_TEST(UnmappedLunFailsTheAttachAndUndoes);
  CPPUNIT_TEST(UnmappedLunFailsTheRebuildAndUndoes);
  CPPUNIT_TEST(DroppedLegIsForgotten);
  CPPUNIT_TEST(DetachRefusesOpenVolume);
  CPPUNIT_TEST(DetachKeepsSessionsOthersUse);
  CPPUNIT_TEST(RestartAdoptsAndClearsLeftovers);
  CPPUNIT_TEST(OtherLayoutIsEexist);
  CPPUNIT_TEST(GrowReloadsTheOpenVolumeLonger);
  CPPUNIT_TEST(GrowChecksTheLayout);
  CPPUNIT_TEST(FailedGrowLeavesTheOldTable);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    char tmpl[] = "/tmp/vastsky-assembly-XXXXXX";
    dir_ = mkdtemp(tmpl);
    Open();
  }
  void tearDown() override {
    assembly_.reset();
    std::string cmd = "rm -rf '" + dir_ + "'";
    CPPUNIT_ASSERT_EQUAL(0, system(cmd.c_str()));
  }

  void PlanUndoesInReverseOnFailure() {
    std::vector<std::string> log;
    std::mutex mu;
    auto note = [&](const std::string& s) {
      std::lock_guard<std::mutex> l(mu);
      log.push_back(s);
      return Status::OK();
    };
    Plan plan;
    int a = plan.Add("a", {}, [&] { return note("+a"); }, [&] { return note("-a"); });
    int b = plan.Add("b", {a}, [&] { return note("+b"); }, [&] { return note("-b"); });
    plan.Add("c", {a}, [] { return Status::Error(EIO, "disk gone"); }, [&] { return note("-c"); });
    plan.Add("d", {b}, [&] { return note("+d"); }, [&] { return note("-d"); });
    Status st = plan.Run(1);
    CPPUNIT_ASSERT_EQUAL(EIO, st.code());
    CPPUNIT_ASSERT(st.message().find("c: disk gone") != std::string::npos);
    // c failed: nothing after it started (parallel 1), b and a undone in reverse, c not undone.
    CPPUNIT_ASSERT_EQUAL(std::string("+a +b -b -a"), Join(log));
  }

  void AttachBuildsSlicesRaidsVolumeAndLink() {
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(7, 4), "user", "secret-secret", &device).ok());
    CPPUNIT_ASSERT_EQUAL(dir_ + "/dev/vastsky/vol7", device);
    char target[256] = {0};
    CPPUNIT_ASSERT(readlink(device.c_str(), target, sizeof target - 1) > 0);
    CPPUNIT_ASSERT_EQUAL(dm_->DevicePath("vastsky-7"), std::string(target));
    std::vector<std::string> names;
    CPPUNIT_ASSERT(dm_->List(&names).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1 + 4 + 16), names.size());  // volume, 4 raids, 8 legs x (meta, data)
    std::vector<DmTarget> t;
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-7", &t).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(4), t.size());
    CPPUNIT_ASSERT_EQUAL(uint64_t(3) << 21, t[3].start);
    CPPUNIT_ASSERT_EQUAL(dm_->DevicePath("vastsky-7-m703") + " 0", t[3].params);
    // "Each leg's device is its LUN, found by serial; meta at 0, data at 1 MiB."
    for (int64_t chunk = 7000; chunk < 7008; ++chunk) {
      const std::string lun = LunPath(1 + (chunk - 7000), chunk);
      t.clear();
      CPPUNIT_ASSERT(dm_->GetTable("vastsky-7-c" + std::to_string(chunk) + "-meta", &t).ok());
      CPPUNIT_ASSERT_EQUAL(uint64_t(2048), t[0].length);
      CPPUNIT_ASSERT_EQUAL(lun + " 0", t[0].params);
      t.clear();
      CPPUNIT_ASSERT(dm_->GetTable("vastsky-7-c" + std::to_string(chunk) + "-data", &t).ok());
      CPPUNIT_ASSERT_EQUAL(uint64_t(1) << 21, t[0].length);
      CPPUNIT_ASSERT_EQUAL(lun + " 2048", t[0].params);
    }
    CPPUNIT_ASSERT_EQUAL(size_t(8), Luns().size());
    std::vector<IscsiSession> sessions;
    CPPUNIT_ASSERT(iscsi_->Sessions(&sessions).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(8), sessions.size());
    // Logins run in parallel: any order.
    CPPUNIT_ASSERT(std::any_of(sessions.begin(), sessions.end(), [](const IscsiSession& s) { return s.iqn == DiskIqn(1); }));
    std::vector<VolumeState> vols;
    CPPUNIT_ASSERT(assembly_->List(&vols).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), vols.size());
    CPPUNIT_ASSERT_EQUAL(std::string("AA"), vols[0].mirrors[2].health);
  }

  void FreshMirrorIsNosyncAndReplacementIsRebuilt() {
    VolumeSpec v = Volume(3, 2);
    v.mirrors[1].legs[0].status = 2;  // written before; legs[1] is its new partner
    v.mirrors[1].legs.push_back(Leg(3999, 9, 3));  // and a third leg on a dead disk: missing
    v.mirrors[1].legs.back().portals.clear();
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(v, "user", "secret-secret", &device).ok());
    std::vector<DmTarget> t;
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-3-m300", &t).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("raid"), t[0].type);
    CPPUNIT_ASSERT(t[0].params.find("raid1 2 0 nosync 2 ") == 0);
    t.clear();
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-3-m301", &t).ok());
    CPPUNIT_ASSERT(t[0].params.find("raid1 3 0 rebuild 1 3 ") == 0);
    CPPUNIT_ASSERT(t[0].params.find(" - -") != std::string::npos);
  }

  void RebuildPutsTheNewLegInTheOldSlot() {
    VolumeSpec v = Volume(4, 2);
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(v, "user", "secret-secret", &device).ok());
    const int64_t old_chunk = v.mirrors[0].legs[0].chunk_id;
    VolumeSpec next = v;
    for (MirrorSpec& m : next.mirrors)
      for (LegSpec& l : m.legs) l.status = 2;
    next.mirrors[0].legs[0] = Leg(4999, 9, 3);  // the replacement, to be rebuilt
    CPPUNIT_ASSERT(assembly_->Rebuild(next, next.mirrors[0].mirror_id, 2048).ok());
    std::vector<DmTarget> t;
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-4-m" + std::to_string(next.mirrors[0].mirror_id), &t).ok());
    CPPUNIT_ASSERT(t[0].params.find("raid1 7 0 rebuild 0 min_recovery_rate 1024 max_recovery_rate 2048 2 ") == 0);
    CPPUNIT_ASSERT(t[0].params.find("c4999-meta") < t[0].params.find("c" + std::to_string(v.mirrors[0].legs[1].chunk_id)));
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo("vastsky-4-c" + std::to_string(old_chunk) + "-data", &info).ok());
    CPPUNIT_ASSERT(!info.exists);
    // A repeat changes nothing; an unknown mirror is ENOENT.
    CPPUNIT_ASSERT(assembly_->Rebuild(next, next.mirrors[0].mirror_id, 2048).ok());
    CPPUNIT_ASSERT_EQUAL(ENOENT, assembly_->Rebuild(next, 12345, 0).code());
  }

  void DrainGrowsTheMirrorThenDropsTheOldLeg() {
    VolumeSpec v = Volume(6, 1, 2);
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(v, "user", "secret-secret", &device).ok());
    const std::string raid = "vastsky-6-m" + std::to_string(v.mirrors[0].mirror_id);
    const LegSpec a = v.mirrors[0].legs[0], b = v.mirrors[0].legs[1];
    VolumeSpec grown = v;
    grown.mirrors[0].legs.push_back(Leg(5001, 9, 3));
    CPPUNIT_ASSERT(assembly_->Rebuild(grown, v.mirrors[0].mirror_id, 0).ok());
    std::vector<DmTarget> t;
    CPPUNIT_ASSERT(dm_->GetTable(raid, &t).ok());
    CPPUNIT_ASSERT(t[0].params.find("raid1 3 0 rebuild 2 3 ") == 0);
    // In sync (the sim's raid always is): the old leg goes, the new one is
    // not named for rebuild again, positions shift.
    VolumeSpec shrunk = v;
    shrunk.mirrors[0].legs = {b, Leg(5001, 9, 3)};
    CPPUNIT_ASSERT(assembly_->Rebuild(shrunk, v.mirrors[0].mirror_id, 0).ok());
    CPPUNIT_ASSERT(dm_->GetTable(raid, &t).ok());
    CPPUNIT_ASSERT(t[0].params.find("raid1 1 0 2 ") == 0);
    CPPUNIT_ASSERT(t[0].params.find("c" + std::to_string(b.chunk_id) + "-meta") < t[0].params.find("c5001-meta"));
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo("vastsky-6-c" + std::to_string(a.chunk_id) + "-data", &info).ok());
    CPPUNIT_ASSERT(!info.exists);
    // Never onto legs that all lack the data.
    VolumeSpec fresh = v;
    fresh.mirrors[0].legs = {Leg(5002, 10, 3), Leg(5003, 11, 3)};
    CPPUNIT_ASSERT_EQUAL(EINVAL, assembly_->Rebuild(fresh, v.mirrors[0].mirror_id, 0).code());
  }

  void RefusedLoginLeavesNothing() {
    std::ofstream(dir_ + "/iscsi/refuse") << DiskIqn(6) << "\n";
    std::string device;
    Status st = assembly_->Attach(Volume(5, 4), "user", "secret-secret", &device);
    CPPUNIT_ASSERT_EQUAL(EACCES, st.code());
    CPPUNIT_ASSERT(st.message().find(DiskIqn(6)) != std::string::npos);
    AssertNothingLeft();
    std::vector<VolumeState> vols;
    CPPUNIT_ASSERT(assembly_->List(&vols).ok());
    CPPUNIT_ASSERT(vols.empty());
  }

  // "A LUN that never shows up (not mapped to this head) fails the attach,
  // naming the leg and its disk, and the attach undoes everything."
  void UnmappedLunFailsTheAttachAndUndoes() {
    std::ofstream(dir_ + "/iscsi/refuse-luns") << LegSerial(5005) << "\n";
    std::string device;
    Status st = assembly_->Attach(Volume(5, 4), "user", "secret-secret", &device);
    CPPUNIT_ASSERT_EQUAL(ENXIO, st.code());
    CPPUNIT_ASSERT_MESSAGE(st.message(), st.message().find(LegSerial(5005)) != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(st.message(), st.message().find(DiskIqn(6)) != std::string::npos);
    AssertNothingLeft();
    std::vector<VolumeState> vols;
    CPPUNIT_ASSERT(assembly_->List(&vols).ok());
    CPPUNIT_ASSERT(vols.empty());
  }

  void UnmappedLunFailsTheRebuildAndUndoes() {
    VolumeSpec v = Volume(4, 1, 2);  // disks 1, 2
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(v, "user", "secret-secret", &device).ok());
    const std::string raid = "vastsky-4-m" + std::to_string(v.mirrors[0].mirror_id);
    std::vector<DmTarget> before, after;
    CPPUNIT_ASSERT(dm_->GetTable(raid, &before).ok());
    VolumeSpec next = v;
    next.mirrors[0].legs.push_back(Leg(4900, 1, 3));  // mapped, on a disk in use
    next.mirrors[0].legs.push_back(Leg(4901, 9, 3));  // not mapped, on a new disk
    std::ofstream(dir_ + "/iscsi/refuse-luns") << LegSerial(4901) << "\n";
    Status st = assembly_->Rebuild(next, v.mirrors[0].mirror_id, 0);
    CPPUNIT_ASSERT_EQUAL(ENXIO, st.code());
    CPPUNIT_ASSERT(dm_->GetTable(raid, &after).ok());
    CPPUNIT_ASSERT_EQUAL(before[0].params, after[0].params);
    // The LUN found is forgotten, the new session gone, the old kept.
    CPPUNIT_ASSERT_EQUAL(std::string(LunKey(1, 4000) + " " + LunKey(2, 4001)), Join(Luns()));
    std::vector<IscsiSession> sessions;
    CPPUNIT_ASSERT(iscsi_->Sessions(&sessions).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(2), sessions.size());
    std::vector<std::string> names;
    CPPUNIT_ASSERT(dm_->List(&names).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1 + 1 + 4), names.size());
  }

  // "When a leg leaves (rebuild drop, detach), its SCSI device is deleted",
  // even while the session to its disk stays for other legs.
  void DroppedLegIsForgotten() {
    VolumeSpec v = Volume(6, 1, 2);  // legs 6000 on disk 1, 6001 on disk 2
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(v, "user", "secret-secret", &device).ok());
    VolumeSpec next = v;
    next.mirrors[0].legs[0] = Leg(6900, 1, 3);  // a replacement on the same disk
    CPPUNIT_ASSERT(assembly_->Rebuild(next, v.mirrors[0].mirror_id, 0).ok());
    CPPUNIT_ASSERT_EQUAL(std::string(LunKey(1, 6900) + " " + LunKey(2, 6001)), Join(Luns()));
    // Another volume shares disk 2: detaching this one forgets its LUNs
    // there but keeps the session.
    VolumeSpec w = Volume(3, 1, 2, 2);  // legs 3000 on disk 2, 3001 on disk 3
    CPPUNIT_ASSERT(assembly_->Attach(w, "user", "secret-secret", &device).ok());
    CPPUNIT_ASSERT(assembly_->Detach(6).ok());
    CPPUNIT_ASSERT_EQUAL(std::string(LunKey(2, 3000) + " " + LunKey(3, 3001)), Join(Luns()));
    CPPUNIT_ASSERT(assembly_->Detach(3).ok());
    AssertNothingLeft();
  }

  void DetachRefusesOpenVolume() {
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(4, 2), "user", "secret-secret", &device).ok());
    const std::string open_flag = dm_->DevicePath("vastsky-4") + ".open";
    std::ofstream(open_flag).close();
    CPPUNIT_ASSERT_EQUAL(EBUSY, assembly_->Detach(4).code());
    std::vector<std::string> names;
    CPPUNIT_ASSERT(dm_->List(&names).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1 + 2 + 8), names.size());  // untouched
    unlink(open_flag.c_str());
    CPPUNIT_ASSERT(assembly_->Detach(4).ok());
    AssertNothingLeft();
    CPPUNIT_ASSERT(assembly_->Detach(4).ok());  // again: nothing to do
  }

  void DetachKeepsSessionsOthersUse() {
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(1, 2, 1, 1), "user", "secret-secret", &device).ok());  // disks 1-4
    CPPUNIT_ASSERT(assembly_->Attach(Volume(2, 2, 1, 3), "user", "secret-secret", &device).ok());  // disks 3-6
    CPPUNIT_ASSERT(assembly_->Detach(1).ok());
    std::vector<IscsiSession> sessions;
    CPPUNIT_ASSERT(iscsi_->Sessions(&sessions).ok());
    std::vector<std::string> iqns;
    for (const IscsiSession& s : sessions) iqns.push_back(s.iqn);
    std::sort(iqns.begin(), iqns.end());
    CPPUNIT_ASSERT_EQUAL(std::string(DiskIqn(3) + " " + DiskIqn(4) + " " + DiskIqn(5) + " " + DiskIqn(6)), Join(iqns));
  }

  void RestartAdoptsAndClearsLeftovers() {
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(8, 2), "user", "secret-secret", &device).ok());
    // A crash mid-attach of lvol 9 left a slice and a session, no record.
    CPPUNIT_ASSERT(dm_->Create("vastsky-9-c9000-meta", {{0, 2048, "linear", "/x 0"}}).ok());
    CPPUNIT_ASSERT(iscsi_->Login({DiskIqn(42), "10.0.0.42:3260", "u", "s"}).ok());
    Open();  // the agent restarts
    CPPUNIT_ASSERT(assembly_->Start().ok());
    assembly_->Reconcile();
    std::vector<std::string> names;
    CPPUNIT_ASSERT(dm_->List(&names).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1 + 2 + 8), names.size());
    CPPUNIT_ASSERT(std::find(names.begin(), names.end(), "vastsky-9-c9000-meta") == names.end());
    std::vector<IscsiSession> sessions;
    CPPUNIT_ASSERT(iscsi_->Sessions(&sessions).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(4), sessions.size());
    // The record says the legs are written now: a rebuild after a reboot
    // must neither zero metadata nor skip the resync.
    CPPUNIT_ASSERT(dm_->Remove("vastsky-8").ok());
    for (const char* n : {"vastsky-8-m800", "vastsky-8-m801"}) CPPUNIT_ASSERT(dm_->Remove(n).ok());
    assembly_->Reconcile();
    std::vector<DmTarget> t;
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-8-m800", &t).ok());
    CPPUNIT_ASSERT(t[0].params.find("raid1 1 0 2 ") == 0);
    CPPUNIT_ASSERT(assembly_->Detach(8).ok());
    AssertNothingLeft();
  }

  void GrowReloadsTheOpenVolumeLonger() {
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(7, 2, 2), "user", "secret-secret", &device).ok());
    std::ofstream(dm_->DevicePath("vastsky-7") + ".open").close();  // a VM holds it
    CPPUNIT_ASSERT(assembly_->Grow(Volume(7, 4)).ok());
    std::vector<DmTarget> t;
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-7", &t).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(4), t.size());
    CPPUNIT_ASSERT_EQUAL(uint64_t(3) << 21, t[3].start);
    CPPUNIT_ASSERT_EQUAL(dm_->DevicePath("vastsky-7-m703") + " 0", t[3].params);
    struct stat st;
    CPPUNIT_ASSERT_EQUAL(0, stat(dm_->DevicePath("vastsky-7").c_str(), &st));
    CPPUNIT_ASSERT_EQUAL(off_t(4) << 30, st.st_size);  // the sim's device took the new size
    t.clear();
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-7-m702", &t).ok());
    CPPUNIT_ASSERT(t[0].params.find("raid1 2 0 nosync 2 ") == 0);  // never written: nothing to copy
    std::vector<std::string> names;
    CPPUNIT_ASSERT(dm_->List(&names).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1 + 4 + 16), names.size());
    std::vector<VolumeState> vols;
    CPPUNIT_ASSERT(assembly_->List(&vols).ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(4), vols[0].capacity_gib);
    CPPUNIT_ASSERT(vols[0].open);
    // A repeat changes nothing.
    CPPUNIT_ASSERT(assembly_->Grow(Volume(7, 4)).ok());
    // The record holds the grown volume, its new legs written from now on.
    std::string text, user, secret;
    VolumeSpec recorded;
    CPPUNIT_ASSERT(ReadStateFile(dir_ + "/volumes/7", &text).ok());
    CPPUNIT_ASSERT(DecodeVolumeRecord(text, &recorded, &user, &secret).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(4), recorded.mirrors.size());
    CPPUNIT_ASSERT_EQUAL(2, recorded.mirrors[3].legs[0].status);
    // A restarted agent adopts the grown volume as it is.
    Open();
    CPPUNIT_ASSERT(assembly_->Start().ok());
    assembly_->Reconcile();
    names.clear();
    CPPUNIT_ASSERT(dm_->List(&names).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1 + 4 + 16), names.size());
  }

  void GrowChecksTheLayout() {
    CPPUNIT_ASSERT_EQUAL(ENOENT, assembly_->Grow(Volume(9, 3)).code());
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(9, 3, 2), "user", "secret-secret", &device).ok());
    CPPUNIT_ASSERT_EQUAL(EINVAL, assembly_->Grow(Volume(9, 2)).code());  // shorter
    VolumeSpec other = Volume(9, 4);
    other.mirrors[1].mirror_id = 999;  // not the mirror assembled there
    CPPUNIT_ASSERT_EQUAL(EINVAL, assembly_->Grow(other).code());
    VolumeSpec renamed = Volume(9, 4);
    renamed.name = "other";
    CPPUNIT_ASSERT_EQUAL(EINVAL, assembly_->Grow(renamed).code());
    std::vector<DmTarget> t;
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-9", &t).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(3), t.size());
  }

  void FailedGrowLeavesTheOldTable() {
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(5, 2, 2), "user", "secret-secret", &device).ok());  // disks 1-4
    const std::string open_flag = dm_->DevicePath("vastsky-5") + ".open";
    std::ofstream(open_flag).close();
    VolumeSpec grown = Volume(5, 2, 2);
    MirrorSpec m2, m3;
    m2.mirror_id = 502;
    m2.offset_gib = 2;
    m2.capacity_gib = 1;
    m2.legs = {Leg(5900, 1, 1), Leg(5901, 9, 1)};  // joins disk 1's session, opens disk 9's
    m3.mirror_id = 503;
    m3.offset_gib = 3;
    m3.capacity_gib = 1;
    m3.legs = {Leg(5902, 7, 1), Leg(5903, 8, 1)};
    grown.mirrors.push_back(m2);
    grown.mirrors.push_back(m3);
    std::ofstream(dir_ + "/iscsi/refuse") << DiskIqn(7) << "\n";
    CPPUNIT_ASSERT_EQUAL(EACCES, assembly_->Grow(grown).code());
    std::vector<DmTarget> t;
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-5", &t).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(2), t.size());
    std::vector<std::string> names;
    CPPUNIT_ASSERT(dm_->List(&names).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1 + 2 + 8), names.size());  // the new mirrors' devices are gone
    std::vector<IscsiSession> sessions;
    CPPUNIT_ASSERT(iscsi_->Sessions(&sessions).ok());
    std::vector<std::string> iqns;
    for (const IscsiSession& s : sessions) iqns.push_back(s.iqn);
    std::sort(iqns.begin(), iqns.end());
    // Disk 1's session is the volume's own: never logged out by the undo.
    CPPUNIT_ASSERT_EQUAL(std::string(DiskIqn(1) + " " + DiskIqn(2) + " " + DiskIqn(3) + " " + DiskIqn(4)), Join(iqns));
    // Once the disk lets the head in, the same grow works.
    unlink((dir_ + "/iscsi/refuse").c_str());
    CPPUNIT_ASSERT(assembly_->Grow(grown).ok());
    t.clear();
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-5", &t).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(4), t.size());
    unlink(open_flag.c_str());
    CPPUNIT_ASSERT(assembly_->Detach(5).ok());
    AssertNothingLeft();
  }

  void OtherLayoutIsEexist() {
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(6, 2), "user", "secret-secret", &device).ok());
    CPPUNIT_ASSERT(assembly_->Attach(Volume(6, 2, 2), "user", "secret-secret", &device).ok());  // same layout, now INSYNC
    CPPUNIT_ASSERT_EQUAL(EEXIST, assembly_->Attach(Volume(6, 3), "user", "secret-secret", &device).code());
  }

 private:
  void Open() {
    OpenSimHead(dir_, &dm_, &iscsi_, &assembly_);
  }
  void AssertNothingLeft() {
    std::vector<std::string> names;
    CPPUNIT_ASSERT(dm_->List(&names).ok());
    CPPUNIT_ASSERT_EQUAL(std::string(""), Join(names));
    std::vector<IscsiSession> sessions;
    CPPUNIT_ASSERT(iscsi_->Sessions(&sessions).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(0), sessions.size());
    CPPUNIT_ASSERT_EQUAL(std::string(""), Join(Luns()));
  }
  // The simulated initiator's LUN of a leg: a file per (disk, serial).
  std::string LunPath(int64_t pdsk, int64_t chunk) const {
    return dir_ + "/iscsi/luns/" + DiskIqn(pdsk) + "/" + LegSerial(chunk);
  }
  static std::string LunKey(int64_t pdsk, int64_t chunk) { return FormatId("pdsk", pdsk) + "/" + LegSerial(chunk); }
  // The LUNs the simulated kernel knows, "pdsk-00000001/leg-00000fa0", sorted.
  std::vector<std::string> Luns() const {
    std::vector<std::string> out;
    for (int64_t pdsk = 1; pdsk < 64; ++pdsk)
      for (const std::string& serial : DirEntries(dir_ + "/iscsi/luns/" + DiskIqn(pdsk)))
        out.push_back(FormatId("pdsk", pdsk) + "/" + serial);
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string dir_;
  std::unique_ptr<DeviceMapper> dm_;
  std::unique_ptr<IscsiInitiator> iscsi_;
  std::unique_ptr<Assembly> assembly_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(HeadAssemblyTest);
