// The storage agent's exports (agents/storage/exports.h) and its link to
// the manager (lib/manager_link.h): agents/PROTOCOL.md, "A revoke is on
// disk before it is acknowledged", the legs of allowInitiator, deleteLegs
// and listExports, and a link shared by threads.
#include <cppunit/extensions/HelperMacros.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agents/storage/exports.h"
#include "lib/http_server.h"
#include "lib/manager_link.h"
#include "lib/rpc_service.h"
#include "lib/ids.h"
#include "lib/state_file.h"

using namespace vastsky;

namespace {

std::string TempDir() {
  char path[] = "/tmp/vastsky-exports-XXXXXX";
  CPPUNIT_ASSERT(mkdtemp(path) != nullptr);
  return path;
}

// Thin devices in memory: survive a "reboot" (a new Exports over a new sim
// kernel) as a pool on disk does.
class FakeLegDevices : public LegDevices {
 public:
  Status Provide(int64_t pdsk, int64_t thin_id, int64_t size_mib, bool create, std::string* device) override {
    if (!thins.count({pdsk, thin_id})) {
      if (!create) return Status::Error(ENOENT, "no thin device " + std::to_string(thin_id));
      ++creates;
    }
    thins[{pdsk, thin_id}] = size_mib;
    *device = "/dev/mapper/thin-" + std::to_string(pdsk) + "-" + std::to_string(thin_id);
    return Status::OK();
  }
  Status Delete(int64_t pdsk, int64_t thin_id) override {
    thins.erase({pdsk, thin_id});
    return Status::OK();
  }
  std::map<std::pair<int64_t, int64_t>, int64_t> thins;  // (pdsk, thin id) -> MiB
  int creates = 0;
};

// An Exports as the agent builds it at start, over state in dir; `kernel`
// names the simulated kernel target's state (a new name: a reboot).
std::unique_ptr<Exports> Open(const std::string& dir, const std::string& kernel,
                              std::shared_ptr<FakeLegDevices> devices = std::make_shared<FakeLegDevices>()) {
  std::unique_ptr<Exports> e(new Exports(NewSimTarget(dir + "/" + kernel), devices, {"127.0.0.1"}, dir));
  CPPUNIT_ASSERT(e->Load().ok());
  return e;
}

ExportInfo Disk(Exports* e, int64_t pdsk_id) {
  std::vector<ExportInfo> list;
  CPPUNIT_ASSERT(e->List(&list).ok());
  for (const ExportInfo& x : list)
    if (x.pdsk_id == pdsk_id) return x;
  CPPUNIT_FAIL("disk not listed");
  return {};
}

std::vector<std::string> Initiators(Exports* e, int64_t pdsk_id) { return Disk(e, pdsk_id).initiators; }

// The chunk ids initiator sees on pdsk_id, sorted.
std::set<int64_t> Mapped(Exports* e, int64_t pdsk_id, const std::string& initiator) {
  const std::map<std::string, std::vector<int64_t>> maps = Disk(e, pdsk_id).maps;
  auto it = maps.find(initiator);
  return it == maps.end() ? std::set<int64_t>() : std::set<int64_t>(it->second.begin(), it->second.end());
}

// Chunk id -> the target LUN number the kernel (sim state file `kernel` in
// dir) has it at, for disk 7.
std::map<int64_t, int> KernelLuns(const std::string& dir, const std::string& kernel) {
  std::vector<TargetInfo> all;
  CPPUNIT_ASSERT(NewSimTarget(dir + "/" + kernel)->List(&all).ok());
  std::map<int64_t, int> out;
  int64_t chunk;
  for (const TargetInfo& t : all)
    if (t.iqn == DiskIqn(7))
      for (const LunSpec& l : t.luns)
        if (ParseLegSerial(l.serial, &chunk)) out[chunk] = l.lun;
  return out;
}

std::set<int64_t> Legs(Exports* e, int64_t pdsk_id) {
  std::set<int64_t> out;
  for (const Leg& l : Disk(e, pdsk_id).legs) out.insert(l.chunk_id);
  return out;
}

Leg NewLeg(int64_t chunk, int64_t thin) { return Leg{chunk, thin, 64, true}; }
Leg OldLeg(int64_t chunk, int64_t thin) { return Leg{chunk, thin, 64, false}; }

const char kHeadA[] = "iqn.2024-01.org.example:head-a";
const char kHeadB[] = "iqn.2024-01.org.example:head-b";
const InitiatorAccess kAccessA{kHeadA, "user-a", "secret-secret"};
const InitiatorAccess kAccessB{kHeadB, "user-b", "secret-secret"};

// Disk 7 exported over a new kernel, head A given legs_a and (unless empty)
// head B legs_b.
std::unique_ptr<Exports> Granted(const std::string& dir, const std::string& kernel,
                                 std::shared_ptr<FakeLegDevices> devices, const std::vector<Leg>& legs_a,
                                 const std::vector<Leg>& legs_b) {
  std::unique_ptr<Exports> e = Open(dir, kernel, devices);
  CPPUNIT_ASSERT(e->Export(7, dir + "/disk").ok());
  CPPUNIT_ASSERT(e->Allow(7, kAccessA, legs_a).ok());
  if (!legs_b.empty()) CPPUNIT_ASSERT(e->Allow(7, kAccessB, legs_b).ok());
  return e;
}

}  // namespace

class StorageExportsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(StorageExportsTest);
  CPPUNIT_TEST(RevokeIsOnDiskBeforeItIsAcknowledged);
  CPPUNIT_TEST(RevokeOfAnInitiatorOnlyInTheKernelSucceeds);
  CPPUNIT_TEST(AllowMapsExactlyTheGrantedLegs);
  CPPUNIT_TEST(LegIsCreatedOnlyWhenAsked);
  CPPUNIT_TEST(ChunkWithAnotherThinIdIsRefused);
  CPPUNIT_TEST(RecordedSnapshotLegIsListedWithoutALun);
  CPPUNIT_TEST(RebootBringsBackLegsAndMaps);
  CPPUNIT_TEST(RebootLeavesOutALegWhoseDeviceIsGone);
  CPPUNIT_TEST(LegWhoseDeviceIsGoneIsNotListed);
  CPPUNIT_TEST(DeleteLegsUnmapsEverywhereAndFrees);
  CPPUNIT_TEST(LunNumbersSurviveARebootAfterAMiddleLegIsDeleted);
  CPPUNIT_TEST(AclMapsALegAtItsTargetNumber);
  CPPUNIT_TEST(LegsLineWithoutANumberGetsTheKernelsOne);
  CPPUNIT_TEST(LunAtAnotherNumberThanRecordedIsLeftUnexported);
  CPPUNIT_TEST(ManagerLinkIsSharedByThreads);
  CPPUNIT_TEST(WithdrawnLegsComeBackAsAfterARestart);
  CPPUNIT_TEST_SUITE_END();

 public:
  // PROTOCOL.md, "Repairing a pool": "its legs' LUNs are removed from the
  // target first (heads lose access ...)"; "the LUNs come back at their
  // numbers and the ACLs and maps are re-applied, as at a restart".
  void WithdrawnLegsComeBackAsAfterARestart() {
    const std::string dir = TempDir();
    std::unique_ptr<Exports> e =
        Granted(dir, "kernel", std::make_shared<FakeLegDevices>(), {NewLeg(1, 1), NewLeg(2, 2)}, {NewLeg(3, 3)});
    const std::map<int64_t, int> before = KernelLuns(dir, "kernel");
    std::string device;
    CPPUNIT_ASSERT(e->Withdraw(7, &device).ok());
    CPPUNIT_ASSERT_EQUAL(dir + "/disk", device);
    CPPUNIT_ASSERT(KernelLuns(dir, "kernel").empty());
    CPPUNIT_ASSERT(Mapped(e.get(), 7, kHeadA).empty());
    CPPUNIT_ASSERT_EQUAL(size_t{2}, Initiators(e.get(), 7).size());     // the ACLs stay
    CPPUNIT_ASSERT((Legs(e.get(), 7) == std::set<int64_t>{1, 2, 3}));  // and the records
    CPPUNIT_ASSERT(e->Export(7, device).ok());
    CPPUNIT_ASSERT((KernelLuns(dir, "kernel") == before));
    CPPUNIT_ASSERT((Mapped(e.get(), 7, kHeadA) == std::set<int64_t>{1, 2}));
    CPPUNIT_ASSERT((Mapped(e.get(), 7, kHeadB) == std::set<int64_t>{3}));
    CPPUNIT_ASSERT_EQUAL(ENOENT, e->Withdraw(8, &device).code());
    std::filesystem::remove_all(dir);
  }

  // "A revoke is on disk before it is acknowledged": a revoke whose ACL
  // file could not be written fails, and its retry writes the file even
  // though the initiator is gone from memory already; a restart (a fresh
  // Exports, the kernel's ACLs forgotten) does not allow it again.
  void RevokeIsOnDiskBeforeItIsAcknowledged() {
    const std::string dir = TempDir(), disk = dir + "/disk";
    const std::string head = "iqn.2024-01.org.example:head-1";
    {
      std::unique_ptr<Exports> e = Open(dir, "kernel-1");
      CPPUNIT_ASSERT(e->Export(7, disk).ok());
      CPPUNIT_ASSERT(e->Allow(7, {head, "user", "secret-secret"}, {}).ok());
      CPPUNIT_ASSERT_EQUAL(0, mkdir((dir + "/acls.tmp").c_str(), 0700));  // the next write fails
      CPPUNIT_ASSERT(!e->Revoke(7, head).ok());
      CPPUNIT_ASSERT_EQUAL(0, rmdir((dir + "/acls.tmp").c_str()));
      CPPUNIT_ASSERT(e->Revoke(7, head).ok());  // the manager's retry
    }
    std::unique_ptr<Exports> after = Open(dir, "kernel-2");
    CPPUNIT_ASSERT(after->Export(7, disk).ok());
    CPPUNIT_ASSERT(Initiators(after.get(), 7).empty());
    std::filesystem::remove_all(dir);
  }

  // An initiator the kernel has but the ACL file never had (added by hand)
  // is revoked like any other, and stays revoked.
  void RevokeOfAnInitiatorOnlyInTheKernelSucceeds() {
    const std::string dir = TempDir(), disk = dir + "/disk";
    const std::string stray = "iqn.2024-01.org.example:stray";
    std::unique_ptr<Exports> e = Open(dir, "kernel");
    CPPUNIT_ASSERT(e->Export(7, disk).ok());
    std::unique_ptr<IscsiTarget> kernel = NewSimTarget(dir + "/kernel");
    CPPUNIT_ASSERT(kernel->Allow(DiskIqn(7), {stray, "", ""}).ok());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, Initiators(e.get(), 7).size());
    CPPUNIT_ASSERT(e->Revoke(7, stray).ok());
    CPPUNIT_ASSERT(Initiators(e.get(), 7).empty());
    std::unique_ptr<Exports> after = Open(dir, "kernel-after-reboot");
    CPPUNIT_ASSERT(after->Export(7, disk).ok());
    CPPUNIT_ASSERT(Initiators(after.get(), 7).empty());
    std::filesystem::remove_all(dir);
  }

  // PROTOCOL.md, allowInitiator: "the initiator's mapped LUNs on this disk
  // are exactly these legs (narrowing is an allowInitiator with fewer
  // legs)"; another head's legs stay out of its view.
  void AllowMapsExactlyTheGrantedLegs() {
    const std::string dir = TempDir();
    std::unique_ptr<Exports> e =
        Granted(dir, "kernel", std::make_shared<FakeLegDevices>(), {NewLeg(1, 1), NewLeg(2, 2)}, {NewLeg(3, 3)});
    CPPUNIT_ASSERT((Mapped(e.get(), 7, kHeadA) == std::set<int64_t>{1, 2}));
    CPPUNIT_ASSERT((Mapped(e.get(), 7, kHeadB) == std::set<int64_t>{3}));
    CPPUNIT_ASSERT(e->Allow(7, kAccessA, {OldLeg(2, 2)}).ok());
    CPPUNIT_ASSERT((Mapped(e.get(), 7, kHeadA) == std::set<int64_t>{2}));
    CPPUNIT_ASSERT((Legs(e.get(), 7) == std::set<int64_t>{1, 2, 3}));  // narrowing deletes nothing
    CPPUNIT_ASSERT(e->Allow(7, kAccessA, {}).ok());  // a 3.0-era call: the ACL only
    CPPUNIT_ASSERT(Mapped(e.get(), 7, kHeadA).empty());
    CPPUNIT_ASSERT_EQUAL(size_t{2}, Initiators(e.get(), 7).size());
    CPPUNIT_ASSERT_EQUAL(ENOENT, e->Allow(8, kAccessA, {}).code());  // not exported here
    std::filesystem::remove_all(dir);
  }

  // "each leg's thin device exists (created only if `create`, else ENOENT
  // naming the leg)": the ACL is not given either.
  void LegIsCreatedOnlyWhenAsked() {
    const std::string dir = TempDir();
    auto devices = std::make_shared<FakeLegDevices>();
    std::unique_ptr<Exports> e = Open(dir, "kernel", devices);
    CPPUNIT_ASSERT(e->Export(7, dir + "/disk").ok());
    Status st = e->Allow(7, kAccessA, {OldLeg(5, 9)});
    CPPUNIT_ASSERT_EQUAL(ENOENT, st.code());
    CPPUNIT_ASSERT(st.message().find("dext-00000005") != std::string::npos);
    CPPUNIT_ASSERT(Initiators(e.get(), 7).empty());
    CPPUNIT_ASSERT(devices->thins.empty());
    CPPUNIT_ASSERT(e->Allow(7, kAccessA, {NewLeg(5, 9)}).ok());
    CPPUNIT_ASSERT(e->Allow(7, kAccessA, {NewLeg(5, 9)}).ok());  // the same again: created once
    CPPUNIT_ASSERT_EQUAL(1, devices->creates);
    std::filesystem::remove_all(dir);
  }

  // PROTOCOL.md, "Snapshots of legs": "recorded in state_dir/legs, with a
  // LUN number but no LUN: a later allowInitiator with create: false finds
  // them, listExports lists them, a restart exports them as any leg".
  void RecordedSnapshotLegIsListedWithoutALun() {
    const std::string dir = TempDir();
    auto devices = std::make_shared<FakeLegDevices>();
    std::unique_ptr<Exports> e = Open(dir, "kernel", devices);
    CPPUNIT_ASSERT_EQUAL(ENOENT, e->RecordLegs(7, {OldLeg(6, 12)}).code());
    CPPUNIT_ASSERT(e->Export(7, dir + "/disk").ok());
    CPPUNIT_ASSERT(e->Allow(7, kAccessA, {NewLeg(5, 9)}).ok());
    devices->thins[{7, 12}] = 64;  // snapshotLegs made it
    CPPUNIT_ASSERT(e->RecordLegs(7, {OldLeg(6, 12)}).ok());
    CPPUNIT_ASSERT(e->RecordLegs(7, {OldLeg(6, 12)}).ok());
    CPPUNIT_ASSERT_EQUAL(EEXIST, e->RecordLegs(7, {OldLeg(6, 13)}).code());
    CPPUNIT_ASSERT((Legs(e.get(), 7) == std::set<int64_t>{5, 6}));
    CPPUNIT_ASSERT((KernelLuns(dir, "kernel") == std::map<int64_t, int>{{5, kFirstLegLun}}));
    CPPUNIT_ASSERT(e->Allow(7, kAccessA, {OldLeg(5, 9), OldLeg(6, 12)}).ok());
    CPPUNIT_ASSERT((Mapped(e.get(), 7, kHeadA) == std::set<int64_t>{5, 6}));
    CPPUNIT_ASSERT_EQUAL(kFirstLegLun + 1, KernelLuns(dir, "kernel")[6]);
    e = Open(dir, "kernel2", devices);
    CPPUNIT_ASSERT(e->Export(7, dir + "/disk").ok());
    CPPUNIT_ASSERT((Mapped(e.get(), 7, kHeadA) == std::set<int64_t>{5, 6}));
    CPPUNIT_ASSERT_EQUAL(1, devices->creates);  // the snapshot leg never created
    std::filesystem::remove_all(dir);
  }

  void ChunkWithAnotherThinIdIsRefused() {
    const std::string dir = TempDir();
    std::unique_ptr<Exports> e = Open(dir, "kernel");
    CPPUNIT_ASSERT(e->Export(7, dir + "/disk").ok());
    CPPUNIT_ASSERT(e->Allow(7, kAccessA, {NewLeg(5, 9)}).ok());
    CPPUNIT_ASSERT_EQUAL(EEXIST, e->Allow(7, kAccessA, {NewLeg(5, 10)}).code());
    CPPUNIT_ASSERT((Mapped(e.get(), 7, kHeadA) == std::set<int64_t>{5}));
    std::filesystem::remove_all(dir);
  }

  // state_dir: "new `legs` file (pdsk, chunk, thin_id, size_mib) to
  // re-activate and re-export after a reboot": the thin devices are
  // provided again, never created, and each head sees its legs again.
  void RebootBringsBackLegsAndMaps() {
    const std::string dir = TempDir();
    auto devices = std::make_shared<FakeLegDevices>();
    Granted(dir, "kernel-1", devices, {NewLeg(1, 1), NewLeg(2, 2)}, {NewLeg(3, 3)});
    std::unique_ptr<Exports> after = Open(dir, "kernel-2", devices);
    CPPUNIT_ASSERT(after->Export(7, dir + "/disk").ok());
    CPPUNIT_ASSERT_EQUAL(3, devices->creates);
    CPPUNIT_ASSERT((Mapped(after.get(), 7, kHeadA) == std::set<int64_t>{1, 2}));
    CPPUNIT_ASSERT((Mapped(after.get(), 7, kHeadB) == std::set<int64_t>{3}));
    CPPUNIT_ASSERT((Legs(after.get(), 7) == std::set<int64_t>{1, 2, 3}));
    std::filesystem::remove_all(dir);
  }

  // A leg whose thin device is gone (a pool repaired without it) does not
  // keep the disk's other legs from coming back.
  void RebootLeavesOutALegWhoseDeviceIsGone() {
    const std::string dir = TempDir();
    auto devices = std::make_shared<FakeLegDevices>();
    Granted(dir, "kernel-1", devices, {NewLeg(1, 1), NewLeg(2, 2)}, {});
    devices->thins.erase({7, 1});
    std::unique_ptr<Exports> after = Open(dir, "kernel-2", devices);
    CPPUNIT_ASSERT(after->Export(7, dir + "/disk").ok());
    CPPUNIT_ASSERT((Mapped(after.get(), 7, kHeadA) == std::set<int64_t>{2}));
    CPPUNIT_ASSERT(!devices->thins.count({7, 1}));  // never created again
    // PROTOCOL.md listExports: "legs ... less those whose thin device it
    // found missing": the manager tells the lost leg of an ENOENT grant so.
    CPPUNIT_ASSERT((Legs(after.get(), 7) == std::set<int64_t>{2}));
    CPPUNIT_ASSERT_EQUAL(ENOENT, after->Allow(7, kAccessA, {OldLeg(1, 1), OldLeg(2, 2)}).code());
    CPPUNIT_ASSERT((Legs(after.get(), 7) == std::set<int64_t>{2}));
    CPPUNIT_ASSERT(after->Allow(7, kAccessA, {NewLeg(1, 1), OldLeg(2, 2)}).ok());
    CPPUNIT_ASSERT((Legs(after.get(), 7) == std::set<int64_t>{1, 2}));
    std::filesystem::remove_all(dir);
  }

  // The same for a leg whose device goes while the agent runs.
  void LegWhoseDeviceIsGoneIsNotListed() {
    const std::string dir = TempDir();
    auto devices = std::make_shared<FakeLegDevices>();
    std::unique_ptr<Exports> e = Granted(dir, "kernel-1", devices, {NewLeg(1, 1), NewLeg(2, 2)}, {});
    devices->thins.erase({7, 2});
    CPPUNIT_ASSERT_EQUAL(ENOENT, e->Allow(7, kAccessA, {OldLeg(1, 1), OldLeg(2, 2)}).code());
    CPPUNIT_ASSERT((Legs(e.get(), 7) == std::set<int64_t>{1}));
    std::filesystem::remove_all(dir);
  }

  // deleteLegs: "per leg: LUN unmapped everywhere and removed, thin device
  // deactivated and deleted from the pool. Absent is fine."; a reboot does
  // not bring it back.
  void DeleteLegsUnmapsEverywhereAndFrees() {
    const std::string dir = TempDir();
    auto devices = std::make_shared<FakeLegDevices>();
    {
      std::unique_ptr<Exports> e = Granted(dir, "kernel-1", devices, {NewLeg(1, 1), NewLeg(2, 2)}, {NewLeg(2, 2)});
      CPPUNIT_ASSERT(e->DeleteLegs(7, {Leg{2, 2, 0, false}, Leg{4, 4, 0, false}}).ok());
      CPPUNIT_ASSERT((Mapped(e.get(), 7, kHeadA) == std::set<int64_t>{1}));
      CPPUNIT_ASSERT(Mapped(e.get(), 7, kHeadB).empty());
      CPPUNIT_ASSERT((Legs(e.get(), 7) == std::set<int64_t>{1}));
      CPPUNIT_ASSERT(!devices->thins.count({7, 2}));
      CPPUNIT_ASSERT(e->DeleteLegs(7, {Leg{2, 2, 0, false}}).ok());  // again: absent is fine
      CPPUNIT_ASSERT_EQUAL(ENOENT, e->DeleteLegs(8, {}).code());
    }
    std::unique_ptr<Exports> after = Open(dir, "kernel-2", devices);
    CPPUNIT_ASSERT(after->Export(7, dir + "/disk").ok());
    CPPUNIT_ASSERT((Mapped(after.get(), 7, kHeadA) == std::set<int64_t>{1}));
    CPPUNIT_ASSERT((Legs(after.get(), 7) == std::set<int64_t>{1}));
    std::filesystem::remove_all(dir);
  }

  // PROTOCOL.md, storage agent step 5: "a leg keeps its LUN number for
  // life": after a middle leg is deleted, a reboot (a fresh kernel, the
  // same state_dir) gives every remaining leg its old number, and a new leg
  // takes the freed one only then.
  void LunNumbersSurviveARebootAfterAMiddleLegIsDeleted() {
    const std::string dir = TempDir();
    auto devices = std::make_shared<FakeLegDevices>();
    std::map<int64_t, int> before;
    {
      std::unique_ptr<Exports> e =
          Granted(dir, "kernel-1", devices, {NewLeg(1, 1), NewLeg(2, 2), NewLeg(3, 3)}, {NewLeg(3, 3)});
      CPPUNIT_ASSERT((KernelLuns(dir, "kernel-1") == std::map<int64_t, int>{{1, 1}, {2, 2}, {3, 3}}));
      CPPUNIT_ASSERT(e->DeleteLegs(7, {Leg{2, 2, 0, false}}).ok());
      before = KernelLuns(dir, "kernel-1");
    }
    CPPUNIT_ASSERT((before == std::map<int64_t, int>{{1, 1}, {3, 3}}));
    std::unique_ptr<Exports> after = Open(dir, "kernel-2", devices);
    CPPUNIT_ASSERT(after->Export(7, dir + "/disk").ok());
    CPPUNIT_ASSERT((KernelLuns(dir, "kernel-2") == before));
    CPPUNIT_ASSERT((Mapped(after.get(), 7, kHeadA) == std::set<int64_t>{1, 3}));
    CPPUNIT_ASSERT(after->Allow(7, kAccessB, {NewLeg(3, 3), NewLeg(4, 4)}).ok());
    CPPUNIT_ASSERT_EQUAL(2, KernelLuns(dir, "kernel-2")[4]);
    std::map<int, int64_t> numbers;  // recorded, as listExports gives them
    for (const Leg& l : Disk(after.get(), 7).legs) numbers[l.lun] = l.chunk_id;
    CPPUNIT_ASSERT((numbers == std::map<int, int64_t>{{1, 1}, {2, 4}, {3, 3}}));
    std::filesystem::remove_all(dir);
  }

  // "the mapped LUN number of a leg in every ACL equals its target LUN
  // number": head B, given only the leg at target LUN 3, sees it at 3.
  void AclMapsALegAtItsTargetNumber() {
    const std::string dir = TempDir();
    Granted(dir, "kernel", std::make_shared<FakeLegDevices>(), {NewLeg(1, 1), NewLeg(2, 2), NewLeg(3, 3)},
            {NewLeg(3, 3)});
    std::vector<TargetInfo> all;
    CPPUNIT_ASSERT(NewSimTarget(dir + "/kernel")->List(&all).ok());
    std::map<std::string, int> target;
    for (const LunSpec& l : all.at(0).luns) target[l.serial] = l.lun;
    size_t maps = 0;
    for (const InitiatorInfo& i : all.at(0).initiators)
      for (size_t j = 0; j < i.serials.size(); ++j, ++maps) CPPUNIT_ASSERT_EQUAL(target[i.serials[j]], i.luns.at(j));
    CPPUNIT_ASSERT_EQUAL(size_t{4}, maps);
    CPPUNIT_ASSERT_EQUAL(3, target[LegSerial(3)]);
    std::filesystem::remove_all(dir);
  }

  // A legs file from before numbers were kept stays readable: an agent
  // restart (the kernel keeps its LUNs) records the numbers the kernel has,
  // and the file is rewritten with them.
  void LegsLineWithoutANumberGetsTheKernelsOne() {
    const std::string dir = TempDir();
    auto devices = std::make_shared<FakeLegDevices>();
    Granted(dir, "kernel", devices, {NewLeg(1, 1), NewLeg(2, 2), NewLeg(3, 3)}, {});
    std::unique_ptr<IscsiTarget> kernel = NewSimTarget(dir + "/kernel");
    CPPUNIT_ASSERT(kernel->RemoveLun(DiskIqn(7), LegSerial(1)).ok());  // the old agent's numbers: 3 at 1
    CPPUNIT_ASSERT(kernel->RemoveLun(DiskIqn(7), LegSerial(3)).ok());
    CPPUNIT_ASSERT(kernel->AddLun(DiskIqn(7), {LegSerial(3), "/dev/mapper/thin-7-3", 1}).ok());
    CPPUNIT_ASSERT(WriteStateFile(dir + "/legs", "7 1 1 64\n7 2 2 64\n7 3 3 64\n", 0600).ok());
    std::unique_ptr<Exports> e = Open(dir, "kernel", devices);
    CPPUNIT_ASSERT(e->Export(7, dir + "/disk").ok());
    CPPUNIT_ASSERT((KernelLuns(dir, "kernel") == std::map<int64_t, int>{{1, 3}, {2, 2}, {3, 1}}));
    std::string text;
    CPPUNIT_ASSERT(ReadStateFile(dir + "/legs", &text).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("7 1 1 64 3\n7 2 2 64 2\n7 3 3 64 1\n"), text);
    // An old line never takes a number another leg has recorded: leg 4
    // (thin device gone) keeps 4; leg 5 takes 5, the smallest free.
    devices->thins[{7, 5}] = 64;
    CPPUNIT_ASSERT(WriteStateFile(dir + "/legs", text + "7 4 4 64 4\n7 5 5 64\n", 0600).ok());
    std::unique_ptr<Exports> next = Open(dir, "kernel", devices);
    CPPUNIT_ASSERT(next->Export(7, dir + "/disk").ok());
    CPPUNIT_ASSERT_EQUAL(5, KernelLuns(dir, "kernel").at(5));
    CPPUNIT_ASSERT(ReadStateFile(dir + "/legs", &text).ok());
    CPPUNIT_ASSERT(text.find("7 5 5 64 5\n") != std::string::npos);
    std::filesystem::remove_all(dir);
  }

  // "a LUN already present ... at a different number than recorded is an
  // error logged loudly and the leg left unexported": not renumbered, and
  // unmapped; the other legs come back.
  void LunAtAnotherNumberThanRecordedIsLeftUnexported() {
    const std::string dir = TempDir();
    auto devices = std::make_shared<FakeLegDevices>();
    Granted(dir, "kernel", devices, {NewLeg(1, 1), NewLeg(2, 2)}, {});
    std::unique_ptr<IscsiTarget> kernel = NewSimTarget(dir + "/kernel");
    CPPUNIT_ASSERT(kernel->RemoveLun(DiskIqn(7), LegSerial(2)).ok());
    CPPUNIT_ASSERT(kernel->AddLun(DiskIqn(7), {LegSerial(2), "/dev/mapper/thin-7-2", 6}).ok());
    std::unique_ptr<Exports> e = Open(dir, "kernel", devices);
    CPPUNIT_ASSERT(e->Export(7, dir + "/disk").ok());
    CPPUNIT_ASSERT((KernelLuns(dir, "kernel") == std::map<int64_t, int>{{1, 1}, {2, 6}}));
    CPPUNIT_ASSERT((Mapped(e.get(), 7, kHeadA) == std::set<int64_t>{1}));
    CPPUNIT_ASSERT_EQUAL(EEXIST, e->Allow(7, kAccessA, {OldLeg(1, 1), OldLeg(2, 2)}).code());
    std::filesystem::remove_all(dir);
  }

  // Calls from two threads on one link (the storage agent's heartbeat and
  // scrub report) take turns; under ThreadSanitizer (make SAN=thread) a
  // link without its lock is a reported race.
  void ManagerLinkIsSharedByThreads() {
    RpcService service;
    service.Add("heartbeat", [](const Params&, xmlrpc_c::value* r) {
      *r = xmlrpc_c::value_int(0);
      return Status::OK();
    });
    HttpOptions http;
    http.listen = "127.0.0.1:0";
    http.secret = "test-secret-0123456789";
    HttpServer server;
    CPPUNIT_ASSERT(server.Start(http, [&service](const Caller& caller, const std::string& body) { return service.Handle(caller, body); }).ok());
    // The first URL refuses: every call moves preferred_ on to the second.
    ManagerLink link({"http://127.0.0.1:1/RPC2", "http://127.0.0.1:" + std::to_string(server.port()) + "/RPC2"},
                     "admin", http.secret, "", 5000);
    int failures[2] = {0, 0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t)
      threads.emplace_back([&link, &failures, t] {
        for (int i = 0; i < 20; ++i) {
          xmlrpc_c::value r;
          if (!link.Call("heartbeat", {}, &r).ok()) ++failures[t];
        }
      });
    for (std::thread& t : threads) t.join();
    server.Stop();
    CPPUNIT_ASSERT_EQUAL(0, failures[0] + failures[1]);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(StorageExportsTest);
