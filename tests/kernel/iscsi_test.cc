// The storage agent's LIO target and the head agent's open-iscsi initiator
// against the real kernel (VM lab only: root, configfs, iscsid running).
// Exports the first of VASTSKY_TEST_DEVS on 127.0.0.1:3260 and logs in.
#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "agents/host/iscsi_initiator.h"
#include "agents/host/iscsi_target.h"

using namespace vastsky;

namespace {
const char kIqn[] = "iqn.2010-10.org.vastsky:pdsk-7e570001";
const char kPortal[] = "127.0.0.1:3260";

std::string FirstTestDevice() {
  const char* env = getenv("VASTSKY_TEST_DEVS");
  std::istringstream in(env ? env : "");
  std::string d;
  in >> d;
  return d;
}

bool ReadBack(const std::string& dev, const std::string& expect) {
  int fd = open(dev.c_str(), O_RDONLY | O_DIRECT);
  if (fd < 0) return false;
  void* buf = nullptr;
  if (posix_memalign(&buf, 4096, 4096) != 0) return false;
  bool ok = pread(fd, buf, 4096, 0) == 4096 && memcmp(buf, expect.data(), expect.size()) == 0;
  free(buf);
  close(fd);
  return ok;
}
}  // namespace

class IscsiKernelTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(IscsiKernelTest);
  CPPUNIT_TEST(AuthorisedInitiatorLogsInAndSeesTheData);
  CPPUNIT_TEST(WrongChapSecretIsRefused);
  CPPUNIT_TEST(UnlistedInitiatorIsRefused);
  CPPUNIT_TEST(RevokeFencesALoggedInHead);
  CPPUNIT_TEST_SUITE_END();

  std::unique_ptr<IscsiTarget> target_;
  std::unique_ptr<IscsiInitiator> initiator_;
  std::string me_, dev_;

 public:
  void setUp() override {
    target_ = NewLioTarget();
    initiator_ = NewOpenIscsiInitiator(20000);
    dev_ = FirstTestDevice();
    CPPUNIT_ASSERT_MESSAGE("set VASTSKY_TEST_DEVS", !dev_.empty());
    CPPUNIT_ASSERT(initiator_->InitiatorName(&me_).ok());
    // A known pattern at the start of the disk, read back over iSCSI.
    int fd = open(dev_.c_str(), O_WRONLY);
    CPPUNIT_ASSERT(fd >= 0);
    std::string pattern = "vastsky-iscsi-check";
    CPPUNIT_ASSERT(pwrite(fd, pattern.data(), pattern.size(), 0) == static_cast<ssize_t>(pattern.size()));
    fsync(fd);
    close(fd);
    CPPUNIT_ASSERT(target_->Export({kIqn, dev_, "7e570001", {kPortal}}).ok());
    // Idempotent: a replay after an agent restart changes nothing.
    CPPUNIT_ASSERT(target_->Export({kIqn, dev_, "7e570001", {kPortal}}).ok());
  }

  void tearDown() override {
    initiator_->Logout(kIqn);
    Status st = target_->Unexport(kIqn);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    std::vector<TargetInfo> left;
    target_->List(&left);
    for (const TargetInfo& t : left) CPPUNIT_ASSERT(t.iqn != kIqn);
  }

  void AuthorisedInitiatorLogsInAndSeesTheData() {
    CPPUNIT_ASSERT(target_->Allow(kIqn, {me_, "head1", "secret-0123456"}).ok());
    std::string disk, again;
    Status st = initiator_->Login({kIqn, kPortal, "head1", "secret-0123456"}, &disk);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT(ReadBack(disk, "vastsky-iscsi-check"));
    CPPUNIT_ASSERT(initiator_->Login({kIqn, kPortal, "head1", "secret-0123456"}, &again).ok());
    CPPUNIT_ASSERT_EQUAL(disk, again);
    std::vector<TargetInfo> targets;
    CPPUNIT_ASSERT(target_->List(&targets).ok());
    bool listed = false;
    for (const TargetInfo& t : targets)
      if (t.iqn == kIqn) listed = t.device == dev_ && t.initiators.size() == 1 && t.initiators[0] == me_;
    CPPUNIT_ASSERT(listed);
    CPPUNIT_ASSERT(initiator_->Logout(kIqn).ok());
    CPPUNIT_ASSERT(initiator_->Logout(kIqn).ok());  // nothing left: still fine
  }

  void WrongChapSecretIsRefused() {
    CPPUNIT_ASSERT(target_->Allow(kIqn, {me_, "head1", "secret-0123456"}).ok());
    std::string disk;
    Status st = initiator_->Login({kIqn, kPortal, "head1", "wrong-secret-99"}, &disk);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), EACCES, st.code());
    std::vector<IscsiSession> sessions;
    CPPUNIT_ASSERT(initiator_->Sessions(&sessions).ok());
    for (const IscsiSession& s : sessions) CPPUNIT_ASSERT(s.iqn != kIqn);
  }

  void UnlistedInitiatorIsRefused() {
    CPPUNIT_ASSERT(target_->Allow(kIqn, {"iqn.1993-08.org.debian:01:someone-else", "head1", "secret-0123456"}).ok());
    std::string disk;
    Status st = initiator_->Login({kIqn, kPortal, "head1", "secret-0123456"}, &disk);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), EACCES, st.code());
  }

  void RevokeFencesALoggedInHead() {
    CPPUNIT_ASSERT(target_->Allow(kIqn, {me_, "head1", "secret-0123456"}).ok());
    std::string disk;
    CPPUNIT_ASSERT(initiator_->Login({kIqn, kPortal, "head1", "secret-0123456"}, &disk).ok());
    Status st = target_->Revoke(kIqn, me_);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT(target_->Revoke(kIqn, me_).ok());  // idempotent
    // The kernel dropped the session; reconnects are refused, so once the
    // initiator's replacement timeout passes, I/O to the disk fails.
    bool fenced = false;
    for (int i = 0; i < 60 && !fenced; ++i) {
      fenced = !ReadBack(disk, "vastsky-iscsi-check");
      if (!fenced) sleep(1);
    }
    CPPUNIT_ASSERT_MESSAGE("I/O through a revoked session must fail", fenced);
    CPPUNIT_ASSERT(initiator_->Logout(kIqn).ok());
    st = initiator_->Login({kIqn, kPortal, "head1", "secret-0123456"}, &disk);
    CPPUNIT_ASSERT_EQUAL(EACCES, st.code());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(IscsiKernelTest);
