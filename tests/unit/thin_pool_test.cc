// A storage server's disks as thin pools (agents/host/thin_pool.h) against
// the simulated device-mapper and regular files as disks: agents/PROTOCOL.md,
// "Disk layout".
#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>

#include "agents/host/thin_pool.h"
#include "tests/unit/temp_db.h"
#include "tests/unit/thin_test_files.h"

using namespace vastsky;
using namespace vastsky::thin_test;

namespace {

void MakeDisk(const std::string& path, uint64_t mib) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CPPUNIT_ASSERT(fd >= 0);
  CPPUNIT_ASSERT_EQUAL(0, ftruncate(fd, static_cast<off_t>(mib << 20)));
  close(fd);
}

}  // namespace

class ThinPoolTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ThinPoolTest);
  CPPUNIT_TEST(MetadataSizeFollowsTheRuleOfThumb);
  CPPUNIT_TEST(BlankDiskIsFormattedWithALabel);
  CPPUNIT_TEST(OldSliceLayoutIsRefused);
  CPPUNIT_TEST(ForeignDataIsRefused);
  CPPUNIT_TEST(UnknownFormatIsRefused);
  CPPUNIT_TEST(OtherClusterIsRefused);
  CPPUNIT_TEST(OpenAdoptsAnActivePool);
  CPPUNIT_TEST(ThinCheckFailureKeepsThePoolDown);
  CPPUNIT_TEST(ThinsAreCreatedAndDeletedIdempotently);
  CPPUNIT_TEST(ThinDataOutlivesARestart);
  CPPUNIT_TEST(FailingPoolShowsItsModeAndNeedsCheck);
  CPPUNIT_TEST(RepairOfAHealthyPoolIsRefused);
  CPPUNIT_TEST(RepairBringsAFailingPoolBack);
  CPPUNIT_TEST(RepairOfDamagedMetadataLeavesThePoolDown);
  CPPUNIT_TEST(RepairStopsWhereAStepFails);
  CPPUNIT_TEST_SUITE_END();

  std::unique_ptr<TempDb> tmp_;
  std::string disk_;
  std::shared_ptr<DeviceMapper> dm_;

  std::unique_ptr<ThinPools> Pools(const std::string& thin_check = "true") {
    ThinPoolOptions o;
    o.thin_check = thin_check;
    return std::unique_ptr<ThinPools>(new ThinPools(dm_, o));
  }

  // Checked by the sim's thin_check (needs_check cleared, damage seen).
  std::unique_ptr<ThinPools> SimCheckedPools() {
    return std::unique_ptr<ThinPools>(
        new ThinPools(dm_, ThinPoolOptions(), nullptr, NewSimThinChecker(tmp_->dir + "/dm")));
  }

  // The sim's file for the one pool's metadata: ".needs_check" (its mode
  // after I/O errors) or ".damaged" (sim_host.cc).
  std::string PoolFile(const std::string& suffix) {
    for (const auto& e : std::filesystem::directory_iterator(tmp_->dir + "/dm/thin"))
      if (e.is_directory()) return e.path().string() + suffix;
    CPPUNIT_FAIL("no pool in the sim");
    return "";
  }

  PoolLabel FormatAndOpen(ThinPools* pools) {
    PoolLabel label;
    CPPUNIT_ASSERT(pools->Format(disk_, kCluster, 7, &label).ok());
    CPPUNIT_ASSERT(pools->Open(disk_, label).ok());
    return label;
  }

  // What a reboot leaves: no dm device, the disk as it was.
  void Reboot() {
    std::vector<std::string> names;
    CPPUNIT_ASSERT(dm_->List(&names).ok());
    for (const std::string& n : names)
      if (n.find("vastsky-thin-") == 0) CPPUNIT_ASSERT(dm_->Remove(n).ok());
    for (const char* n : {"vastsky-pool-00000007", "vastsky-pool-00000007-meta", "vastsky-pool-00000007-data"})
      CPPUNIT_ASSERT(dm_->Remove(n).ok());
  }

 public:
  void setUp() override {
    tmp_.reset(new TempDb);
    disk_ = tmp_->dir + "/disk";
    MakeDisk(disk_, 256);
    dm_ = NewSimDeviceMapper(tmp_->dir + "/dm");
  }
  void tearDown() override { tmp_.reset(); }

  // "pool metadata (48 bytes per data block, at least 16 MiB, at most 16320 MiB)"
  void MetadataSizeFollowsTheRuleOfThumb() {
    PoolLabel l;
    const uint64_t tib16 = uint64_t(16) << 31;  // sectors
    CPPUNIT_ASSERT(PlanPool(tib16, 128, &l).ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(12288), l.meta_mib);
    CPPUNIT_ASSERT(PlanPool(tib16, 2048, &l).ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(768), l.meta_mib);
    CPPUNIT_ASSERT_EQUAL(uint64_t(1 + 768), l.data_offset_mib);
    CPPUNIT_ASSERT_EQUAL(uint64_t(16) * 1024 * 1024 - 1 - 768, l.data_mib);
    CPPUNIT_ASSERT(PlanPool(uint64_t(64) << 31, 128, &l).ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(16320), l.meta_mib);
    CPPUNIT_ASSERT(PlanPool(256 * 2048, 128, &l).ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(16), l.meta_mib);
    CPPUNIT_ASSERT_EQUAL(uint64_t(256 - 17), l.data_mib);
    // Data is a whole number of blocks.
    CPPUNIT_ASSERT(PlanPool(256 * 2048, 8192, &l).ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(236), l.data_mib);
    CPPUNIT_ASSERT_EQUAL(EINVAL, PlanPool(256 * 2048, 192, &l).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, PlanPool(17 * 2048, 128, &l).code());
  }

  // "A disk with no label whose first MiB is all zeros may be formatted."
  void BlankDiskIsFormattedWithALabel() {
    auto pools = Pools();
    PoolLabel label;
    CPPUNIT_ASSERT_EQUAL(ENOENT, pools->ReadLabel(disk_, &label).code());
    PoolLabel made;
    CPPUNIT_ASSERT(pools->Format(disk_, kCluster, 7, &made).ok());
    CPPUNIT_ASSERT(pools->ReadLabel(disk_, &label).ok());
    CPPUNIT_ASSERT_EQUAL(std::string(kCluster), label.cluster);
    CPPUNIT_ASSERT_EQUAL(int64_t(7), label.pdsk_id);
    CPPUNIT_ASSERT_EQUAL(uint64_t(128), label.block_sectors);
    CPPUNIT_ASSERT_EQUAL(made.data_mib, label.data_mib);
    CPPUNIT_ASSERT_EQUAL(uint64_t(16), label.meta_mib);
    CPPUNIT_ASSERT(ReadBytes(disk_, 0, 40).find("[vastsky-pool]\nformat = 1\n") == 0);
    CPPUNIT_ASSERT_EQUAL(EEXIST, pools->Format(disk_, kCluster, 8, &made).code());
  }

  // "sector 0 holds a dm-raid superblock ... refused with EMEDIUMTYPE"
  void OldSliceLayoutIsRefused() {
    WriteBytes(disk_, 0, std::string("DmRd\x01\0\0\0", 8));
    auto pools = Pools();
    PoolLabel label;
    Status st = pools->ReadLabel(disk_, &label);
    CPPUNIT_ASSERT_EQUAL(EMEDIUMTYPE, st.code());
    CPPUNIT_ASSERT(st.message().find("old slice layout") != std::string::npos);
    CPPUNIT_ASSERT(st.message().find("wipe") != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(EMEDIUMTYPE, pools->Format(disk_, kCluster, 7, &label).code());
    CPPUNIT_ASSERT_EQUAL(std::string("DmRd"), ReadBytes(disk_, 0, 4));
  }

  // "Anything else non-zero: refused (EMEDIUMTYPE), never formatted."
  void ForeignDataIsRefused() {
    WriteBytes(disk_, 1000000, "ext4?");
    auto pools = Pools();
    PoolLabel label;
    CPPUNIT_ASSERT_EQUAL(EMEDIUMTYPE, pools->ReadLabel(disk_, &label).code());
    CPPUNIT_ASSERT_EQUAL(EMEDIUMTYPE, pools->Format(disk_, kCluster, 7, &label).code());
    CPPUNIT_ASSERT_EQUAL(std::string(5, '\0'), ReadBytes(disk_, 0, 5));
  }

  // "`format` != 1: refused."
  void UnknownFormatIsRefused() {
    auto pools = Pools();
    PoolLabel label;
    CPPUNIT_ASSERT(pools->Format(disk_, kCluster, 7, &label).ok());
    label.format = 2;
    WriteBytes(disk_, 0, FormatPoolLabel(label));
    CPPUNIT_ASSERT_EQUAL(EPROTO, pools->ReadLabel(disk_, &label).code());
    // A label that does not fit the disk is not trusted either.
    label.format = 1;
    label.data_mib = 1024;
    WriteBytes(disk_, 0, FormatPoolLabel(label));
    CPPUNIT_ASSERT_EQUAL(EPROTO, pools->ReadLabel(disk_, &label).code());
  }

  // "Other cluster: refused (EXDEV)."
  void OtherClusterIsRefused() {
    auto pools = Pools();
    PoolLabel label;
    CPPUNIT_ASSERT(pools->Format(disk_, kCluster, 7, &label).ok());
    CPPUNIT_ASSERT(CheckPoolCluster(label, kCluster, disk_).ok());
    CPPUNIT_ASSERT_EQUAL(EXDEV, CheckPoolCluster(label, "11111111-2222-3333-4444-555555555555", disk_).code());
  }

  // "thin_check + activate (idempotent: adopts an active pool with the same table)"
  void OpenAdoptsAnActivePool() {
    // New metadata is not checked (thin_check would call it damaged).
    auto pools = Pools("false");
    PoolLabel label = FormatAndOpen(pools.get());
    CPPUNIT_ASSERT(pools->Open(disk_, label).ok());
    auto again = Pools("false");  // an agent restart: the pool is active, not checked
    CPPUNIT_ASSERT(again->Open(disk_, label).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), again->Opened().size());
    std::vector<DmTarget> table;
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-pool-00000007", &table).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("thin-pool"), table[0].type);
    CPPUNIT_ASSERT(table[0].params.find(" 128 0 1 error_if_no_space") != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(label.data_mib * 2048, table[0].length);
    // Another table under the pool's name is not taken over.
    PoolLabel other = label;
    other.data_mib -= 1;
    CPPUNIT_ASSERT_EQUAL(EBUSY, again->Open(disk_, other).code());
  }

  // "thin_check on the metadata device ... failure -> the disk is not exported"
  void ThinCheckFailureKeepsThePoolDown() {
    PoolLabel label = FormatAndOpen(Pools().get());
    Reboot();
    auto pools = Pools("false");
    Status st = pools->Open(disk_, label);
    CPPUNIT_ASSERT_EQUAL(EUCLEAN, st.code());
    CPPUNIT_ASSERT(st.message().find("thin_repair") != std::string::npos);
    CPPUNIT_ASSERT(st.message().find(disk_) != std::string::npos);
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo("vastsky-pool-00000007", &info).ok());
    CPPUNIT_ASSERT(!info.exists);
    CPPUNIT_ASSERT(pools->Opened().empty());
    std::string device;
    CPPUNIT_ASSERT_EQUAL(ENOENT, pools->CreateThin(7, 1, 4, &device).code());
    CPPUNIT_ASSERT(Pools("true")->Open(disk_, label).ok());
  }

  // "CreateThin: the same id twice is fine"; "DeleteThin: absent is fine;
  // EBUSY if the dm device is open"; deleting gives the space back.
  void ThinsAreCreatedAndDeletedIdempotently() {
    auto pools = Pools();
    PoolLabel label = FormatAndOpen(pools.get());
    std::string dev, again;
    CPPUNIT_ASSERT(pools->CreateThin(7, 5, 8, &dev).ok());
    CPPUNIT_ASSERT(pools->CreateThin(7, 5, 8, &again).ok());
    CPPUNIT_ASSERT_EQUAL(dev, again);
    PoolUsage u;
    CPPUNIT_ASSERT(pools->Usage(7, &u).ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(0), u.data_used_mib);
    CPPUNIT_ASSERT_EQUAL(label.data_mib, u.data_mib);
    CPPUNIT_ASSERT_EQUAL(uint64_t(16 * 1024), u.meta_kib);
    CPPUNIT_ASSERT(u.meta_used_kib > 0);
    CPPUNIT_ASSERT_EQUAL(std::string("rw"), u.mode);
    WriteBytes(dev, 0, std::string(2 << 20, 'x'));
    CPPUNIT_ASSERT(pools->Usage(7, &u).ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(2), u.data_used_mib);
    CPPUNIT_ASSERT_EQUAL(ENOENT, pools->ActivateThin(7, 6, 8, &again).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, pools->CreateThin(7, kMaxThinId + 1, 8, &again).code());
    std::ofstream(dev + ".open").put('1');
    CPPUNIT_ASSERT_EQUAL(EBUSY, pools->DeleteThin(7, 5).code());
    unlink((dev + ".open").c_str());
    CPPUNIT_ASSERT(pools->DeleteThin(7, 5).ok());
    CPPUNIT_ASSERT(pools->DeleteThin(7, 5).ok());
    CPPUNIT_ASSERT(pools->Usage(7, &u).ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(0), u.data_used_mib);
    CPPUNIT_ASSERT_EQUAL(ENOENT, pools->ActivateThin(7, 5, 8, &again).code());
  }

  // A reboot forgets the dm devices, not the pool's thins: ActivateThin
  // finds the data the leg had; a larger size grows the device.
  void ThinDataOutlivesARestart() {
    PoolLabel label;
    std::string dev;
    {
      auto pools = Pools();
      label = FormatAndOpen(pools.get());
      CPPUNIT_ASSERT(pools->CreateThin(7, 3, 4, &dev).ok());
      WriteBytes(dev, 4096, "leg data");
    }
    Reboot();
    auto pools = Pools();
    PoolLabel read;
    CPPUNIT_ASSERT(pools->ReadLabel(disk_, &read).ok());
    CPPUNIT_ASSERT(pools->Open(disk_, read).ok());
    CPPUNIT_ASSERT(pools->ActivateThin(7, 3, 6, &dev).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("leg data"), ReadBytes(dev, 4096, 8));
    std::vector<DmTarget> table;
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-thin-00000007-3", &table).ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(6 * 2048), table[0].length);
  }

  // PROTOCOL.md, heartbeat: "`mode` is `rw`, `out_of_data_space`, `ro`, or
  // `fail`"; dm-thin's needs_check flag is read from its status.
  void FailingPoolShowsItsModeAndNeedsCheck() {
    auto pools = Pools();
    FormatAndOpen(pools.get());
    PoolUsage u;
    CPPUNIT_ASSERT(pools->Usage(7, &u).ok());
    CPPUNIT_ASSERT(!u.needs_check);
    std::ofstream(PoolFile(".needs_check")) << "ro\n";
    CPPUNIT_ASSERT(pools->Usage(7, &u).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("ro"), u.mode);
    CPPUNIT_ASSERT(u.needs_check);
    CPPUNIT_ASSERT(u.data_mib > 0);
    std::ofstream(PoolFile(".needs_check")) << "fail\n";
    CPPUNIT_ASSERT(pools->Usage(7, &u).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("fail"), u.mode);
    CPPUNIT_ASSERT(u.needs_check);
  }

  // PROTOCOL.md, "Repairing a pool": "A pool in mode `rw` or
  // `out_of_data_space` without needs_check is refused with EBUSY (nothing
  // to repair), its LUNs untouched".
  void RepairOfAHealthyPoolIsRefused() {
    auto pools = SimCheckedPools();
    FormatAndOpen(pools.get());
    bool withdrawn = false;
    Status st = pools->Repair(7, [&] {
      withdrawn = true;
      return Status::OK();
    });
    CPPUNIT_ASSERT_EQUAL(EBUSY, st.code());
    CPPUNIT_ASSERT(st.message().find("nothing to repair") != std::string::npos);
    CPPUNIT_ASSERT(!withdrawn);
    CPPUNIT_ASSERT_EQUAL(ENOENT, pools->Repair(8, [] { return Status::OK(); }).code());
  }

  // PROTOCOL.md, "Repairing a pool": "its LUNs are removed first ..., then
  // its thin devices and the pool are deactivated, `thin_check -q
  // --clear-needs-check-flag` runs on the metadata ..., and the pool is
  // activated again".
  void RepairBringsAFailingPoolBack() {
    auto pools = SimCheckedPools();
    FormatAndOpen(pools.get());
    std::string dev;
    CPPUNIT_ASSERT(pools->CreateThin(7, 3, 4, &dev).ok());
    WriteBytes(dev, 4096, "leg data");
    std::ofstream(PoolFile(".needs_check")) << "fail\n";
    bool withdrawn = false;
    Status st = pools->Repair(7, [&] {
      // Users go before anything is deactivated; meanwhile the pool is
      // reported failing and its thins are not handed out.
      DmInfo info;
      CPPUNIT_ASSERT(dm_->GetInfo("vastsky-thin-00000007-3", &info).ok() && info.exists);
      PoolUsage u;
      CPPUNIT_ASSERT(pools->Usage(7, &u).ok());
      CPPUNIT_ASSERT_EQUAL(std::string("fail"), u.mode);
      std::string again;
      CPPUNIT_ASSERT_EQUAL(EBUSY, pools->ActivateThin(7, 3, 4, &again).code());
      CPPUNIT_ASSERT_EQUAL(EBUSY, pools->Repair(7, [] { return Status::OK(); }).code());
      withdrawn = true;
      return Status::OK();
    });
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT(withdrawn);
    // The sim's thin_check refuses an active pool: it ran with the pool
    // down, and cleared needs_check.
    CPPUNIT_ASSERT(access(PoolFile(".needs_check").c_str(), F_OK) != 0);
    PoolUsage u;
    CPPUNIT_ASSERT(pools->Usage(7, &u).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("rw"), u.mode);
    CPPUNIT_ASSERT(!u.needs_check);
    // Thins are the caller's to activate again, with their data.
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo("vastsky-thin-00000007-3", &info).ok());
    CPPUNIT_ASSERT(!info.exists);
    CPPUNIT_ASSERT(pools->ActivateThin(7, 3, 4, &dev).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("leg data"), ReadBytes(dev, 4096, 8));
  }

  // PROTOCOL.md, "Repairing a pool": "If thin_check finds damage the pool
  // stays down (heartbeats report it `fail`) and the answer is EUCLEAN
  // naming the thin_repair to do"; "a repair may run again".
  void RepairOfDamagedMetadataLeavesThePoolDown() {
    auto pools = SimCheckedPools();
    FormatAndOpen(pools.get());
    std::string dev;
    CPPUNIT_ASSERT(pools->CreateThin(7, 3, 4, &dev).ok());
    std::ofstream(PoolFile(".needs_check")) << "ro\n";
    std::ofstream(PoolFile(".damaged")) << "bad checksum in superblock\n";
    Status st = pools->Repair(7, [] { return Status::OK(); });
    CPPUNIT_ASSERT_EQUAL(EUCLEAN, st.code());
    CPPUNIT_ASSERT(st.message().find("thin_repair -i") != std::string::npos);
    CPPUNIT_ASSERT(st.message().find("bad checksum in superblock") != std::string::npos);
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo("vastsky-pool-00000007", &info).ok());
    CPPUNIT_ASSERT(!info.exists);
    PoolUsage u;
    CPPUNIT_ASSERT(pools->Usage(7, &u).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("fail"), u.mode);
    CPPUNIT_ASSERT(u.needs_check);
    CPPUNIT_ASSERT_EQUAL(size_t(1), pools->Opened().size());
    CPPUNIT_ASSERT_EQUAL(ENXIO, pools->ActivateThin(7, 3, 4, &dev).code());
    // Repaired by hand: the same call brings it back.
    unlink(PoolFile(".damaged").c_str());
    CPPUNIT_ASSERT(pools->Repair(7, [] { return Status::OK(); }).ok());
    CPPUNIT_ASSERT(pools->Usage(7, &u).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("rw"), u.mode);
    CPPUNIT_ASSERT(pools->ActivateThin(7, 3, 4, &dev).ok());
  }

  // ThinPools::Repair: "Faults: withdraw's, the device-mapper's (EBUSY: a
  // thin device still open)": a failed withdraw changes nothing; a thin
  // still open leaves the pool down until a repair gets through.
  void RepairStopsWhereAStepFails() {
    auto pools = SimCheckedPools();
    FormatAndOpen(pools.get());
    std::string dev;
    CPPUNIT_ASSERT(pools->CreateThin(7, 3, 4, &dev).ok());
    std::ofstream(PoolFile(".needs_check")) << "fail\n";
    CPPUNIT_ASSERT_EQUAL(EIO, pools->Repair(7, [] { return Status::Error(EIO, "configfs said no"); }).code());
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo("vastsky-thin-00000007-3", &info).ok() && info.exists);
    std::ofstream(dev + ".open").put('1');
    Status st = pools->Repair(7, [] { return Status::OK(); });
    CPPUNIT_ASSERT_EQUAL(EBUSY, st.code());
    CPPUNIT_ASSERT(st.message().find("still open") != std::string::npos);
    PoolUsage u;
    CPPUNIT_ASSERT(pools->Usage(7, &u).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("fail"), u.mode);
    unlink((dev + ".open").c_str());
    CPPUNIT_ASSERT(pools->Repair(7, [] { return Status::OK(); }).ok());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ThinPoolTest);
