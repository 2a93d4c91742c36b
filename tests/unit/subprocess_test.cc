// RunProgram: output captured, exit codes passed through, deadlines kept
// even when the program (or a child it left behind) hangs; RunProgramToFile:
// stdout whole in a file, stderr captured.
#include <cppunit/extensions/HelperMacros.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>

#include "lib/state_file.h"
#include "lib/subprocess.h"

using namespace vastsky;

class SubprocessTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SubprocessTest);
  CPPUNIT_TEST(CapturesOutputAndExitCode);
  CPPUNIT_TEST(MissingProgramIsEnoent);
  CPPUNIT_TEST(DeadlineKillsAHang);
  CPPUNIT_TEST(DeadlineHoldsWhenOutputIsClosedEarly);
  CPPUNIT_TEST(StdoutToAFileIsWhole);
  CPPUNIT_TEST_SUITE_END();

 public:
  // Over the 1 MiB that RunProgram keeps (thin_delta's XML may be tens).
  void StdoutToAFileIsWhole() {
    char dir[] = "/tmp/vastsky-subprocess-XXXXXX";
    CPPUNIT_ASSERT(mkdtemp(dir) != nullptr);
    const std::string path = std::string(dir) + "/out";
    SubprocessResult r;
    CPPUNIT_ASSERT(RunProgramToFile({"sh", "-c", "head -c 3000000 /dev/zero; echo err >&2; exit 2"}, 5000, path, &r).ok());
    CPPUNIT_ASSERT_EQUAL(2, r.exit_code);
    CPPUNIT_ASSERT_EQUAL(std::string("err\n"), r.output);
    std::string out;
    CPPUNIT_ASSERT(ReadStateFile(path, &out).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(3000000), out.size());
    CPPUNIT_ASSERT_EQUAL(ENOENT, RunProgramToFile({"true"}, 5000, std::string(dir) + "/no/such/dir", &r).code());
    CPPUNIT_ASSERT_EQUAL(0, system(("rm -rf " + std::string(dir)).c_str()));
  }

  void CapturesOutputAndExitCode() {
    SubprocessResult r;
    CPPUNIT_ASSERT(RunProgram({"sh", "-c", "echo out; echo err >&2; exit 3"}, 5000, &r).ok());
    CPPUNIT_ASSERT_EQUAL(3, r.exit_code);
    CPPUNIT_ASSERT(r.output.find("out") != std::string::npos);
    CPPUNIT_ASSERT(r.output.find("err") != std::string::npos);
  }

  void MissingProgramIsEnoent() {
    SubprocessResult r;
    CPPUNIT_ASSERT_EQUAL(ENOENT, RunProgram({"/nonexistent/tool"}, 5000, &r).code());
  }

  void DeadlineKillsAHang() {
    SubprocessResult r;
    auto t0 = std::chrono::steady_clock::now();
    CPPUNIT_ASSERT_EQUAL(ETIMEDOUT, RunProgram({"sleep", "30"}, 300, &r).code());
    CPPUNIT_ASSERT(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  }

  void DeadlineHoldsWhenOutputIsClosedEarly() {
    SubprocessResult r;
    auto t0 = std::chrono::steady_clock::now();
    CPPUNIT_ASSERT_EQUAL(ETIMEDOUT, RunProgram({"sh", "-c", "exec >/dev/null 2>&1; sleep 30"}, 300, &r).code());
    CPPUNIT_ASSERT(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SubprocessTest);
