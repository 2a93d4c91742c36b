// ThinPools (agents/host/thin_pool.h) against the kernel's dm-thin and
// thin-provisioning-tools' thin_check and thin_dump (VM lab only: root,
// dm-thin-pool).
// The pool lives on the first of VASTSKY_TEST_DEVS (at least 64 MiB, which
// the test overwrites). agents/PROTOCOL.md, "Disk layout".
#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "agents/host/thin_pool.h"

using namespace vastsky;

namespace {

const char kCluster[] = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
const int64_t kPdsk = 0x7e57;
constexpr size_t kMib = 1 << 20;

std::string FirstTestDevice() {
  const char* env = getenv("VASTSKY_TEST_DEVS");
  std::istringstream in(env ? env : "");
  std::string d;
  in >> d;
  return d;
}

// Direct I/O, so what is read is what the device holds, not the page cache.
// Returns the errno of a failed write (0 if it went through).
int WritePattern(const std::string& dev, uint64_t offset, size_t bytes, uint32_t seed) {
  int fd = open(dev.c_str(), O_WRONLY | O_DIRECT);
  if (fd < 0) return errno;
  void* buf = nullptr;
  if (posix_memalign(&buf, 4096, bytes) != 0) return ENOMEM;
  uint32_t x = seed;
  for (size_t i = 0; i < bytes / 4; ++i) static_cast<uint32_t*>(buf)[i] = x = x * 1664525 + 1013904223;
  const ssize_t n = pwrite(fd, buf, bytes, static_cast<off_t>(offset));
  const int err = n < 0 ? errno : (n == static_cast<ssize_t>(bytes) ? 0 : EIO);
  free(buf);
  close(fd);
  return err;
}

// FNV-1a of bytes at offset; 0 stands for a read error.
uint64_t Checksum(const std::string& dev, uint64_t offset, size_t bytes, bool* all_zero = nullptr) {
  int fd = open(dev.c_str(), O_RDONLY | O_DIRECT);
  if (fd < 0) return 0;
  void* buf = nullptr;
  if (posix_memalign(&buf, 4096, bytes) != 0) return 0;
  const ssize_t n = pread(fd, buf, bytes, static_cast<off_t>(offset));
  close(fd);
  uint64_t h = 1469598103934665603ull;
  bool zero = true;
  for (ssize_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char*>(buf)[i];
    zero = zero && c == 0;
    h = (h ^ c) * 1099511628211ull;
  }
  free(buf);
  if (all_zero) *all_zero = zero;
  return n == static_cast<ssize_t>(bytes) ? h : 0;
}

void ZeroHead(const std::string& dev) {
  int fd = open(dev.c_str(), O_WRONLY | O_DIRECT);
  CPPUNIT_ASSERT(fd >= 0);
  void* buf = nullptr;
  CPPUNIT_ASSERT_EQUAL(0, posix_memalign(&buf, 4096, 20 * kMib));
  memset(buf, 0, 20 * kMib);
  CPPUNIT_ASSERT_EQUAL(static_cast<ssize_t>(20 * kMib), pwrite(fd, buf, 20 * kMib, 0));
  free(buf);
  close(fd);
}

// Returns the errno of a failed BLKDISCARD (0 if it went through).
int Discard(const std::string& dev, uint64_t offset, uint64_t bytes) {
  int fd = open(dev.c_str(), O_WRONLY);
  if (fd < 0) return errno;
  uint64_t range[2] = {offset, bytes};
  const int err = ioctl(fd, BLKDISCARD, range) == 0 ? 0 : errno;
  close(fd);
  return err;
}

}  // namespace

class ThinPoolKernelTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ThinPoolKernelTest);
  CPPUNIT_TEST(FormatOpenAndAdopt);
  CPPUNIT_TEST(ThinsHoldDataReadZerosAndGiveSpaceBack);
  CPPUNIT_TEST(FullPoolFailsWritesAtOnce);
  CPPUNIT_TEST(ThinCheckPassesCleanAndRefusesDamagedMetadata);
  CPPUNIT_TEST(MappedListsExactlyTheWrittenBlocks);
  CPPUNIT_TEST_SUITE_END();

  std::shared_ptr<DeviceMapper> dm_;
  std::string disk_;

  std::unique_ptr<ThinPools> Pools() { return std::unique_ptr<ThinPools>(new ThinPools(dm_, ThinPoolOptions())); }

  PoolLabel FormatAndOpen(ThinPools* pools) {
    PoolLabel label;
    Status st = pools->Format(disk_, kCluster, kPdsk, &label);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    st = pools->Open(disk_, label);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    return label;
  }

  // The pool's held metadata root (dm-thin's status): "-" without a snapshot.
  std::string HeldRoot() {
    std::vector<DmTarget> status;
    CPPUNIT_ASSERT(dm_->GetStatus(PoolName(kPdsk), &status).ok());
    std::istringstream in(status[0].params);
    std::string field;
    for (int i = 0; i < 4; ++i) in >> field;  // "<transaction> <meta> <data> <held root> ..."
    return field;
  }

  // What a reboot leaves of the pool: nothing in device-mapper.
  void Deactivate() {
    std::vector<std::string> names;
    CPPUNIT_ASSERT(dm_->List(&names).ok());
    for (const std::string& n : names)
      if (n.rfind("vastsky-thin-", 0) == 0) CPPUNIT_ASSERT(dm_->Remove(n).ok());
    const std::string pool = PoolName(kPdsk);
    for (const std::string& n : {pool, pool + "-meta", pool + "-data"}) {
      DmInfo info;
      CPPUNIT_ASSERT(dm_->GetInfo(n, &info).ok());
      if (info.exists) CPPUNIT_ASSERT_MESSAGE(n, dm_->Remove(n).ok());
    }
  }

 public:
  void setUp() override {
    dm_ = NewKernelDeviceMapper();
    disk_ = FirstTestDevice();
    CPPUNIT_ASSERT_MESSAGE("set VASTSKY_TEST_DEVS to scratch devices", !disk_.empty());
    ZeroHead(disk_);
  }
  void tearDown() override { Deactivate(); }

  void FormatOpenAndAdopt() {
    auto pools = Pools();
    PoolLabel label;
    CPPUNIT_ASSERT_EQUAL(ENOENT, pools->ReadLabel(disk_, &label).code());
    label = FormatAndOpen(pools.get());
    PoolLabel read;
    CPPUNIT_ASSERT(pools->ReadLabel(disk_, &read).ok());
    CPPUNIT_ASSERT_EQUAL(kPdsk, read.pdsk_id);
    CPPUNIT_ASSERT_EQUAL(label.data_mib, read.data_mib);
    // An agent restart: the active pool is adopted as it is.
    auto again = Pools();
    Status st = again->Open(disk_, read);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    PoolUsage u;
    CPPUNIT_ASSERT(again->Usage(kPdsk, &u).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("rw"), u.mode);
    CPPUNIT_ASSERT_EQUAL(label.data_mib, u.data_mib);
    CPPUNIT_ASSERT_EQUAL(label.meta_mib * 1024, u.meta_kib);
    std::vector<DmTarget> status;
    CPPUNIT_ASSERT(dm_->GetStatus(PoolName(kPdsk), &status).ok());
    CPPUNIT_ASSERT_MESSAGE(status[0].params, status[0].params.find("error_if_no_space") != std::string::npos);
  }

  // "Fresh space reads as zeros"; "Deleting ... the space goes back to the pool".
  void ThinsHoldDataReadZerosAndGiveSpaceBack() {
    auto pools = Pools();
    FormatAndOpen(pools.get());
    std::string dev, again;
    Status st = pools->CreateThin(kPdsk, 1, 16, &dev);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT(pools->CreateThin(kPdsk, 1, 16, &again).ok());
    CPPUNIT_ASSERT_EQUAL(dev, again);
    bool zero = false;
    CPPUNIT_ASSERT(Checksum(dev, 0, 16 * kMib, &zero) != 0);
    CPPUNIT_ASSERT_MESSAGE("a fresh thin reads zeros", zero);
    CPPUNIT_ASSERT_EQUAL(0, WritePattern(dev, 4 * kMib, 8 * kMib, 42));
    const uint64_t sum = Checksum(dev, 4 * kMib, 8 * kMib);
    CPPUNIT_ASSERT(sum != 0);
    PoolUsage u;
    CPPUNIT_ASSERT(pools->Usage(kPdsk, &u).ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(8), u.data_used_mib);
    // The data outlives the pool's deactivation (a reboot).
    Deactivate();
    auto after = Pools();
    PoolLabel label;
    CPPUNIT_ASSERT(after->ReadLabel(disk_, &label).ok());
    st = after->Open(disk_, label);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    st = after->ActivateThin(kPdsk, 1, 16, &dev);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT_EQUAL(sum, Checksum(dev, 4 * kMib, 8 * kMib));
    // CreateThin of an id the pool has (dm-thin: EEXIST) activates it as it is.
    CPPUNIT_ASSERT(dm_->Remove(ThinName(kPdsk, 1)).ok());
    st = after->CreateThin(kPdsk, 1, 16, &dev);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT_EQUAL(sum, Checksum(dev, 4 * kMib, 8 * kMib));
    st = after->ActivateThin(kPdsk, 2, 16, &again);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), ENOENT, st.code());
    int fd = open(dev.c_str(), O_RDONLY);
    CPPUNIT_ASSERT_EQUAL(EBUSY, after->DeleteThin(kPdsk, 1).code());
    close(fd);
    st = after->DeleteThin(kPdsk, 1);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT(after->DeleteThin(kPdsk, 1).ok());
    CPPUNIT_ASSERT(after->Usage(kPdsk, &u).ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(0), u.data_used_mib);
    CPPUNIT_ASSERT_EQUAL(ENOENT, after->ActivateThin(kPdsk, 1, 16, &dev).code());
    // The same id made again is a new, zeroed thin.
    CPPUNIT_ASSERT(after->CreateThin(kPdsk, 1, 16, &dev).ok());
    CPPUNIT_ASSERT(Checksum(dev, 4 * kMib, 8 * kMib, &zero) != 0);
    CPPUNIT_ASSERT(zero);
  }

  // "Full pool: error_if_no_space (a write that finds no space fails at
  // once)": the kernel's errno is ENOSPC (BLK_STS_NOSPC), an I/O error to dm raid.
  void FullPoolFailsWritesAtOnce() {
    auto pools = Pools();
    PoolLabel label = FormatAndOpen(pools.get());
    std::string dev;
    CPPUNIT_ASSERT(pools->CreateThin(kPdsk, 9, static_cast<int64_t>(label.data_mib) * 2, &dev).ok());
    int err = 0;
    uint64_t mib = 0;
    const auto start = std::chrono::steady_clock::now();
    for (; mib < label.data_mib * 2 && err == 0; ++mib) err = WritePattern(dev, mib * kMib, kMib, 7);
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start).count();
    CPPUNIT_ASSERT_EQUAL(ENOSPC, err);
    CPPUNIT_ASSERT_EQUAL(label.data_mib + 1, mib);
    CPPUNIT_ASSERT_MESSAGE("the full pool failed the write at once, not after a queue timeout", secs < 60);
    PoolUsage u;
    CPPUNIT_ASSERT(pools->Usage(kPdsk, &u).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("out_of_data_space"), u.mode);
    CPPUNIT_ASSERT_EQUAL(u.data_mib, u.data_used_mib);
    std::string other;
    CPPUNIT_ASSERT_EQUAL(ENOSPC, pools->CreateThin(kPdsk, 10, 4, &other).code());
    // Space given back takes the pool out of that mode.
    CPPUNIT_ASSERT(pools->DeleteThin(kPdsk, 9).ok());
    CPPUNIT_ASSERT(pools->Usage(kPdsk, &u).ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(0), u.data_used_mib);
  }

  // "At start-up, before activating: thin_check on the metadata device".
  void ThinCheckPassesCleanAndRefusesDamagedMetadata() {
    PoolLabel label;
    {
      auto pools = Pools();
      label = FormatAndOpen(pools.get());
      std::string dev;
      CPPUNIT_ASSERT(pools->CreateThin(kPdsk, 3, 8, &dev).ok());
      CPPUNIT_ASSERT_EQUAL(0, WritePattern(dev, 0, kMib, 3));
    }
    Deactivate();
    Status st = Pools()->Open(disk_, label);  // metadata written by dm-thin: thin_check runs and passes
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    Deactivate();
    // Damage the superblock (its checksum no longer matches).
    int fd = open(disk_.c_str(), O_RDWR | O_DIRECT);
    void* buf = nullptr;
    CPPUNIT_ASSERT_EQUAL(0, posix_memalign(&buf, 4096, 4096));
    CPPUNIT_ASSERT_EQUAL(ssize_t(4096), pread(fd, buf, 4096, static_cast<off_t>(label.meta_offset_mib * kMib)));
    static_cast<char*>(buf)[100] ^= 0x5a;
    CPPUNIT_ASSERT_EQUAL(ssize_t(4096), pwrite(fd, buf, 4096, static_cast<off_t>(label.meta_offset_mib * kMib)));
    free(buf);
    close(fd);
    auto pools = Pools();
    st = pools->Open(disk_, label);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), EUCLEAN, st.code());
    CPPUNIT_ASSERT(st.message().find("thin_repair") != std::string::npos);
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo(PoolName(kPdsk), &info).ok());
    CPPUNIT_ASSERT_MESSAGE("a pool that failed thin_check is not activated", !info.exists);
  }

  // PROTOCOL.md, legMap: "the thin's mapped blocks now ..., adjacent ones
  // coalesced; a block in none reads zeros", from a metadata snapshot of
  // the live pool, "release_metadata_snap, always"; "A snapshot already
  // held ... is released and the reserve retried once".
  void MappedListsExactlyTheWrittenBlocks() {
    using Ranges = std::vector<std::pair<int64_t, int64_t>>;
    auto pools = Pools();
    FormatAndOpen(pools.get());
    std::string dev, other;
    CPPUNIT_ASSERT(pools->CreateThin(kPdsk, 4, 16, &dev).ok());
    CPPUNIT_ASSERT(pools->CreateThin(kPdsk, 5, 16, &other).ok());
    ThinMap map;
    Status st = pools->Mapped(kPdsk, 4, &map);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(128), map.block_sectors);
    CPPUNIT_ASSERT(map.ranges.empty());
    const uint64_t block = 64 << 10;
    for (uint64_t b : {0, 1, 5, 200}) CPPUNIT_ASSERT_EQUAL(0, WritePattern(dev, b * block, 4096, static_cast<uint32_t>(b)));
    CPPUNIT_ASSERT_EQUAL(0, WritePattern(other, 3 * block, 4096, 9));
    st = pools->Mapped(kPdsk, 4, &map);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT((map.ranges == Ranges{{0, 2}, {5, 1}, {200, 1}}));
    CPPUNIT_ASSERT_EQUAL(std::string("-"), HeldRoot());
    // A discarded block goes back to the pool: no longer mapped, reads zeros.
    CPPUNIT_ASSERT_EQUAL(0, Discard(dev, 5 * block, block));
    st = pools->Mapped(kPdsk, 4, &map);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT((map.ranges == Ranges{{0, 2}, {200, 1}}));
    bool zero = false;
    CPPUNIT_ASSERT(Checksum(dev, 5 * block, block, &zero) != 0);
    CPPUNIT_ASSERT(zero);
    // A snapshot left held (taken by hand here, as a crash would leave it).
    st = dm_->Message(PoolName(kPdsk), "reserve_metadata_snap");
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT_EQUAL(EBUSY, dm_->Message(PoolName(kPdsk), "reserve_metadata_snap").code());
    CPPUNIT_ASSERT(HeldRoot() != "-");
    st = pools->Mapped(kPdsk, 4, &map);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT((map.ranges == Ranges{{0, 2}, {200, 1}}));
    CPPUNIT_ASSERT_EQUAL(std::string("-"), HeldRoot());
    st = pools->Mapped(kPdsk, 6, &map);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), ENOENT, st.code());
    CPPUNIT_ASSERT_EQUAL(std::string("-"), HeldRoot());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ThinPoolKernelTest);
