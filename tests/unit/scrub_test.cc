// The storage agent's scrub (agents/storage/scrub.h): every GiB that does
// not read is reported once, at the rate asked, and a stop ends it at once.
#include <cppunit/extensions/HelperMacros.h>

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

#include "agents/storage/scrub.h"

using vastsky::ScrubDisk;
using vastsky::ScrubOptions;
using vastsky::Scrubber;
using vastsky::Status;

namespace {
constexpr int64_t kMib = 1 << 20, kGib = int64_t{1} << 30;

// A sparse file of `bytes` standing in for a disk.
std::string TempDisk(int64_t bytes) {
  char path[] = "/tmp/vastsky-scrub-XXXXXX";
  int fd = mkstemp(path);
  CPPUNIT_ASSERT(fd >= 0);
  CPPUNIT_ASSERT_EQUAL(0, ftruncate(fd, bytes));
  close(fd);
  return path;
}
}  // namespace

class ScrubTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ScrubTest);
  CPPUNIT_TEST(BadGibsAreReportedOnceEach);
  CPPUNIT_TEST(ReadsKeepTheRate);
  CPPUNIT_TEST(StopEndsAPass);
  CPPUNIT_TEST(RunReportsAndRetriesAFailedReport);
  CPPUNIT_TEST(ReadDirectReadsAFileAndNamesAMissingOne);
  CPPUNIT_TEST_SUITE_END();

 public:
  void BadGibsAreReportedOnceEach() {
    int64_t reads = 0;
    Scrubber s(ScrubOptions{1 << 20, 1}, [&](const std::string&, int64_t at, int64_t length) {
      ++reads;
      CPPUNIT_ASSERT_EQUAL(kMib, length);
      // Two bad spots in GiB 1, one in GiB 3.
      if (at == kGib + 5 * kMib || at == kGib + 7 * kMib || at == 3 * kGib + 1000 * kMib)
        return Status::Error(EIO, "medium error");
      return Status::OK();
    }, nullptr, nullptr);
    std::vector<int64_t> bad;
    CPPUNIT_ASSERT(s.ScrubOne(ScrubDisk{7, "/dev/x"}, 4 * kGib, &bad).ok());
    CPPUNIT_ASSERT(bad == std::vector<int64_t>({1, 3}));
    // The rest of a bad GiB is skipped: it moves anyway.
    CPPUNIT_ASSERT_EQUAL(int64_t{4096 - (1024 - 6) - (1024 - 1001)}, reads);
  }

  void ReadsKeepTheRate() {
    Scrubber s(ScrubOptions{64, 1}, [](const std::string&, int64_t, int64_t) { return Status::OK(); }, nullptr,
               nullptr);
    std::vector<int64_t> bad;
    const auto start = std::chrono::steady_clock::now();
    CPPUNIT_ASSERT(s.ScrubOne(ScrubDisk{1, "/dev/x"}, 8 * kMib, &bad).ok());
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    CPPUNIT_ASSERT(ms >= 110);  // 8 MiB at 64 MiB/s: 125 ms, never less
  }

  void StopEndsAPass() {
    Scrubber s(ScrubOptions{1, 1}, [](const std::string&, int64_t, int64_t) { return Status::OK(); }, nullptr,
               nullptr);
    std::thread stopper([&s] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      s.Stop();
    });
    std::vector<int64_t> bad;
    const auto start = std::chrono::steady_clock::now();
    CPPUNIT_ASSERT_EQUAL(ECANCELED, s.ScrubOne(ScrubDisk{1, "/dev/x"}, kGib, &bad).code());
    stopper.join();
    CPPUNIT_ASSERT(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  }

  void RunReportsAndRetriesAFailedReport() {
    const std::string path = TempDisk(2 * kGib);
    std::mutex mu;
    std::vector<std::vector<int64_t>> reports;
    std::atomic<int> calls{0};
    Scrubber* self = nullptr;
    Scrubber s(
        ScrubOptions{1 << 20, 1},
        [](const std::string&, int64_t at, int64_t) {
          return at == kGib ? Status::Error(EIO, "medium error") : Status::OK();
        },
        [&] { return std::vector<ScrubDisk>{{9, path}}; },
        [&](int64_t pdsk, const std::vector<int64_t>& bad) {
          CPPUNIT_ASSERT_EQUAL(int64_t{9}, pdsk);
          std::lock_guard<std::mutex> l(mu);
          reports.push_back(bad);
          // The first report fails: the next pass sends both passes' findings.
          if (++calls == 1) return Status::Error(ECONNREFUSED, "manager down");
          self->Stop();
          return Status::OK();
        });
    self = &s;
    std::thread run([&s] { s.Run(); });
    run.join();
    unlink(path.c_str());
    CPPUNIT_ASSERT_EQUAL(size_t{2}, reports.size());
    CPPUNIT_ASSERT(reports[0] == std::vector<int64_t>({1}));
    CPPUNIT_ASSERT(reports[1] == std::vector<int64_t>({1, 1}));
  }

  void ReadDirectReadsAFileAndNamesAMissingOne() {
    const std::string path = TempDisk(4 * kMib);
    CPPUNIT_ASSERT(Scrubber::ReadDirect(path, kMib, kMib).ok());
    unlink(path.c_str());
    Status st = Scrubber::ReadDirect(path, 0, kMib);
    CPPUNIT_ASSERT_EQUAL(ENOENT, st.code());
    CPPUNIT_ASSERT(st.message().find(path) != std::string::npos);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ScrubTest);
