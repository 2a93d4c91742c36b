// RunProgram: output captured, exit codes passed through, deadlines kept
// even when the program (or a child it left behind) hangs.
#include <cppunit/extensions/HelperMacros.h>

#include <cerrno>
#include <chrono>

#include "lib/subprocess.h"

using namespace vastsky;

class SubprocessTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SubprocessTest);
  CPPUNIT_TEST(CapturesOutputAndExitCode);
  CPPUNIT_TEST(MissingProgramIsEnoent);
  CPPUNIT_TEST(DeadlineKillsAHang);
  CPPUNIT_TEST(DeadlineHoldsWhenOutputIsClosedEarly);
  CPPUNIT_TEST_SUITE_END();

 public:
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
