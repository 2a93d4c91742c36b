// The head agent's device-mapper layer against the real kernel (VM lab only:
// needs root, dm-mod and dm-raid). Devices come from VASTSKY_TEST_DEVS, two
// block devices of at least 64 MiB that the test may overwrite.
#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <algorithm>
#include <atomic>
#include <sstream>
#include <thread>

#include "agents/host/device_mapper.h"

using namespace vastsky;

namespace {
std::vector<std::string> TestDevices() {
  std::vector<std::string> out;
  const char* env = getenv("VASTSKY_TEST_DEVS");
  std::istringstream in(env ? env : "");
  std::string d;
  while (in >> d) out.push_back(d);
  return out;
}

DmTarget Linear(uint64_t start, uint64_t len, const std::string& dev, uint64_t offset) {
  return {start, len, "linear", dev + " " + std::to_string(offset)};
}

bool WaitFor(const std::function<bool()>& cond, int seconds) {
  for (int i = 0; i < seconds * 10; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}
}  // namespace

class DeviceMapperKernelTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(DeviceMapperKernelTest);
  CPPUNIT_TEST(CreateInspectRemove);
  CPPUNIT_TEST(EmptyTableIsRefused);
  CPPUNIT_TEST(Raid1WithMetadataSyncsAndRefusesRemoveWhileOpen);
  CPPUNIT_TEST(ReplaceSwapsTableUnderData);
  CPPUNIT_TEST(SuspendHoldsWritesAndDiscardZeroes);
  CPPUNIT_TEST(ReadOnlyRefusesWritesUntilReloadedWritable);
  CPPUNIT_TEST_SUITE_END();

  std::unique_ptr<DeviceMapper> dm_;
  std::vector<std::string> devs_;

 public:
  void setUp() override {
    dm_ = NewKernelDeviceMapper();
    devs_ = TestDevices();
    CPPUNIT_ASSERT_MESSAGE("set VASTSKY_TEST_DEVS to two scratch devices", devs_.size() >= 2);
  }

  void tearDown() override {
    std::vector<std::string> names;
    CPPUNIT_ASSERT(dm_->List(&names).ok());
    for (const std::string& n : names)
      if (n.rfind("vstest-", 0) == 0) CPPUNIT_ASSERT(dm_->Remove(n).ok());
  }

  void CreateInspectRemove() {
    CPPUNIT_ASSERT(dm_->Create("vstest-lin", {Linear(0, 8192, devs_[0], 2048)}).ok());
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo("vstest-lin", &info).ok());
    CPPUNIT_ASSERT(info.exists);
    struct stat st;
    CPPUNIT_ASSERT_EQUAL(0, stat("/dev/mapper/vstest-lin", &st));
    std::vector<DmTarget> table;
    CPPUNIT_ASSERT(dm_->GetTable("vstest-lin", &table).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), table.size());
    CPPUNIT_ASSERT_EQUAL(uint64_t(8192), table[0].length);
    CPPUNIT_ASSERT_EQUAL(std::string("linear"), table[0].type);
    CPPUNIT_ASSERT_EQUAL(EEXIST, dm_->Create("vstest-lin", {Linear(0, 8, devs_[0], 0)}).code());
    std::vector<std::string> names;
    CPPUNIT_ASSERT(dm_->List(&names).ok());
    CPPUNIT_ASSERT(std::find(names.begin(), names.end(), "vstest-lin") != names.end());
    CPPUNIT_ASSERT(dm_->Remove("vstest-lin").ok());
    CPPUNIT_ASSERT_EQUAL(ENOENT, dm_->Remove("vstest-lin").code());
    CPPUNIT_ASSERT(dm_->GetInfo("vstest-lin", &info).ok());
    CPPUNIT_ASSERT(!info.exists);
  }

  void EmptyTableIsRefused() {
    CPPUNIT_ASSERT_EQUAL(EINVAL, dm_->Create("vstest-empty", {}).code());
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo("vstest-empty", &info).ok());
    CPPUNIT_ASSERT(!info.exists);
    CPPUNIT_ASSERT(!dm_->Create("vstest-bad", {{0, 8, "no-such-target", ""}}).ok());
    CPPUNIT_ASSERT(dm_->GetInfo("vstest-bad", &info).ok());
    CPPUNIT_ASSERT_MESSAGE("a failed create leaves nothing behind", !info.exists);
  }

  void Raid1WithMetadataSyncsAndRefusesRemoveWhileOpen() {
    // Per leg: 1 MiB metadata slice then 32 MiB data, as VastSky lays out chunks.
    const uint64_t meta = 2048, data = 32 * 2048;
    for (int i = 0; i < 2; ++i) {
      CPPUNIT_ASSERT(dm_->Create("vstest-m" + std::to_string(i), {Linear(0, meta, devs_[i], 0)}).ok());
      CPPUNIT_ASSERT(dm_->Create("vstest-d" + std::to_string(i), {Linear(0, data, devs_[i], meta)}).ok());
    }
    DmTarget raid{0, data, "raid",
                  "raid1 1 0 2 /dev/mapper/vstest-m0 /dev/mapper/vstest-d0 /dev/mapper/vstest-m1 /dev/mapper/vstest-d1"};
    CPPUNIT_ASSERT(dm_->Create("vstest-raid", {raid}).ok());
    bool synced = WaitFor([&] {
      std::vector<DmTarget> st;
      return dm_->GetStatus("vstest-raid", &st).ok() && st.size() == 1 &&
             st[0].params.find(" AA ") != std::string::npos && st[0].params.find("idle") != std::string::npos;
    }, 120);
    CPPUNIT_ASSERT_MESSAGE("raid1 reaches AA idle", synced);
    int fd = open("/dev/mapper/vstest-raid", O_RDONLY);
    CPPUNIT_ASSERT(fd >= 0);
    CPPUNIT_ASSERT_EQUAL(EBUSY, dm_->Remove("vstest-raid").code());
    close(fd);
    CPPUNIT_ASSERT(dm_->Remove("vstest-raid").ok());
    // The slices under it are free again once the raid is gone.
    for (int i = 0; i < 2; ++i) {
      CPPUNIT_ASSERT(dm_->Remove("vstest-m" + std::to_string(i)).ok());
      CPPUNIT_ASSERT(dm_->Remove("vstest-d" + std::to_string(i)).ok());
    }
  }

  void ReplaceSwapsTableUnderData() {
    // Write a pattern at devs_[1] offset 0, map vstest-sw to devs_[0], then
    // swap it to devs_[1] and read the pattern through it.
    const char pattern[] = "vastsky-replace-check";
    int raw = open(devs_[1].c_str(), O_WRONLY);
    CPPUNIT_ASSERT(raw >= 0);
    CPPUNIT_ASSERT(pwrite(raw, pattern, sizeof pattern, 0) == static_cast<ssize_t>(sizeof pattern));
    fsync(raw);
    close(raw);
    CPPUNIT_ASSERT(dm_->Create("vstest-sw", {Linear(0, 2048, devs_[0], 4096)}).ok());
    CPPUNIT_ASSERT(dm_->Replace("vstest-sw", {Linear(0, 2048, devs_[1], 0)}).ok());
    int fd = open("/dev/mapper/vstest-sw", O_RDONLY | O_DIRECT);
    CPPUNIT_ASSERT(fd >= 0);
    void* buf = nullptr;
    CPPUNIT_ASSERT_EQUAL(0, posix_memalign(&buf, 4096, 4096));
    CPPUNIT_ASSERT_EQUAL(ssize_t(4096), pread(fd, buf, 4096, 0));
    close(fd);
    CPPUNIT_ASSERT_EQUAL(0, memcmp(buf, pattern, sizeof pattern));
    free(buf);
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo("vstest-sw", &info).ok());
    CPPUNIT_ASSERT(!info.suspended);
  }

  // A trim's steps (agents/PROTOCOL.md, "Rebuilt legs stay thin"): a
  // write waits while the device is suspended; a discard of a loop device
  // reads back zeros; one past the end is EINVAL.
  void SuspendHoldsWritesAndDiscardZeroes() {
    CPPUNIT_ASSERT(dm_->Create("vstest-trim", {Linear(0, 8192, devs_[0], 0)}).ok());
    void* buf = nullptr;
    CPPUNIT_ASSERT_EQUAL(0, posix_memalign(&buf, 4096, 4096));
    memset(buf, 'v', 4096);
    CPPUNIT_ASSERT(dm_->Suspend("vstest-trim").ok());
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo("vstest-trim", &info).ok());
    CPPUNIT_ASSERT(info.suspended);
    std::atomic<bool> written{false};
    std::thread writer([&] {
      int fd = open("/dev/mapper/vstest-trim", O_WRONLY | O_DIRECT);
      written = fd >= 0 && pwrite(fd, buf, 4096, 2048 * 512) == 4096;
      if (fd >= 0) close(fd);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    CPPUNIT_ASSERT_MESSAGE("a write waits while suspended", !written);
    CPPUNIT_ASSERT(dm_->Resume("vstest-trim").ok());
    writer.join();
    CPPUNIT_ASSERT(written);
    Status st = dm_->Discard("vstest-trim", 2048, 2048);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    int fd = open("/dev/mapper/vstest-trim", O_RDONLY | O_DIRECT);
    CPPUNIT_ASSERT(fd >= 0);
    CPPUNIT_ASSERT_EQUAL(ssize_t(4096), pread(fd, buf, 4096, 2048 * 512));
    close(fd);
    const std::string zeros(4096, '\0');
    CPPUNIT_ASSERT_EQUAL(0, memcmp(buf, zeros.data(), 4096));
    free(buf);
    CPPUNIT_ASSERT_EQUAL(EINVAL, dm_->Discard("vstest-trim", 8192, 8).code());
  }

  // A snapshot's top device (agents/PROTOCOL.md, `read_only`): "a write to
  // `/dev/vastsky/<lvolname>` fails (the kernel says EPERM; BLKROGET says
  // 1)"; the mode is each load's, and a suspend and resume keep it.
  void ReadOnlyRefusesWritesUntilReloadedWritable() {
    const std::string path = "/dev/mapper/vstest-ro";
    CPPUNIT_ASSERT(dm_->Create("vstest-ro", {Linear(0, 8192, devs_[0], 0)}, DmAccess::kReadOnly).ok());
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo("vstest-ro", &info).ok());
    CPPUNIT_ASSERT(info.read_only);
    CPPUNIT_ASSERT_EQUAL(1, BlkRoGet(path));
    CPPUNIT_ASSERT_MESSAGE("a write fails", !Writes(path));
    CPPUNIT_ASSERT(dm_->Suspend("vstest-ro").ok());
    CPPUNIT_ASSERT(dm_->Resume("vstest-ro").ok());
    CPPUNIT_ASSERT_EQUAL(1, BlkRoGet(path));
    CPPUNIT_ASSERT(dm_->Replace("vstest-ro", {Linear(0, 16384, devs_[0], 0)}, DmAccess::kReadOnly).ok());
    CPPUNIT_ASSERT_EQUAL(1, BlkRoGet(path));
    CPPUNIT_ASSERT(dm_->Replace("vstest-ro", {Linear(0, 16384, devs_[0], 0)}).ok());
    CPPUNIT_ASSERT(dm_->GetInfo("vstest-ro", &info).ok());
    CPPUNIT_ASSERT(!info.read_only);
    CPPUNIT_ASSERT_EQUAL(0, BlkRoGet(path));
    CPPUNIT_ASSERT_MESSAGE("writable again", Writes(path));
  }

 private:
  // BLKROGET of the device; -1 if it cannot be asked.
  static int BlkRoGet(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int ro = -1;
    if (ioctl(fd, BLKROGET, &ro) != 0) ro = -1;
    close(fd);
    return ro;
  }
  // True if 4 KiB written at 0 (O_DIRECT) went in; a refused open counts as a failed write.
  static bool Writes(const std::string& path) {
    int fd = open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) return false;
    void* buf = nullptr;
    if (posix_memalign(&buf, 4096, 4096) != 0) {
      close(fd);
      return false;
    }
    memset(buf, 'r', 4096);
    const bool written = pwrite(fd, buf, 4096, 0) == 4096;
    free(buf);
    close(fd);
    return written;
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(DeviceMapperKernelTest);
