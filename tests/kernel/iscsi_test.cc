// The storage agent's targets (LIO; tgt) and the head agent's open-iscsi
// initiator against the real kernel (VM lab only: root, configfs, iscsid
// running). Exports the first of VASTSKY_TEST_DEVS and logs in: LIO on
// 127.0.0.1:3260; tgt through the tgtd that kernel-tests.sh started on
// 127.0.0.2:3260 with control port VASTSKY_TGT_PORT. The same checks run
// against both; tgt's disk is LUN 1 (LUN 0 is its controller), which the
// initiator must find all the same: the head finds a LUN by its unit
// serial, never by number.
#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "agents/host/iscsi_initiator.h"
#include "agents/host/iscsi_target.h"
#include "lib/subprocess.h"

using namespace vastsky;

namespace {
const char kIqn[] = "iqn.2010-10.org.vastsky:pdsk-7e570001";
const char kSerial[] = "7e570001";

std::string TestDevice(int n) {
  const char* env = getenv("VASTSKY_TEST_DEVS");
  std::istringstream in(env ? env : "");
  std::string d;
  for (int i = 0; i <= n; ++i) {
    d.clear();
    in >> d;
  }
  return d;
}

int TgtPort() {
  const char* env = getenv("VASTSKY_TGT_PORT");
  return env ? atoi(env) : 0;
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

// The checks every target passes; a fixture per target names its portal.
class IscsiKernelChecks : public CppUnit::TestFixture {
 protected:
  std::unique_ptr<IscsiTarget> target_;
  std::unique_ptr<IscsiInitiator> initiator_;
  std::string me_, dev_, portal_;

  virtual std::unique_ptr<IscsiTarget> MakeTarget() = 0;

  // Logs in as head1 and finds the exported disk by its serial.
  Status LogIn(const std::string& secret, std::string* disk) {
    VS_RETURN_IF_ERROR(initiator_->Login({kIqn, portal_, "head1", secret}));
    return initiator_->LunDevice(kIqn, kSerial, disk);
  }

 public:
  void setUp() override {
    target_ = MakeTarget();
    initiator_ = NewOpenIscsiInitiator(20000);
    dev_ = TestDevice(0);
    CPPUNIT_ASSERT_MESSAGE("set VASTSKY_TEST_DEVS", !dev_.empty());
    CPPUNIT_ASSERT(initiator_->InitiatorName(&me_).ok());
    // A known pattern at the start of the disk, read back over iSCSI.
    int fd = open(dev_.c_str(), O_WRONLY);
    CPPUNIT_ASSERT(fd >= 0);
    std::string pattern = "vastsky-iscsi-check";
    CPPUNIT_ASSERT(pwrite(fd, pattern.data(), pattern.size(), 0) == static_cast<ssize_t>(pattern.size()));
    fsync(fd);
    close(fd);
    CPPUNIT_ASSERT(target_->Export({kIqn, dev_, "7e570001", {portal_}}).ok());
    // Idempotent: a replay after an agent restart changes nothing.
    CPPUNIT_ASSERT(target_->Export({kIqn, dev_, "7e570001", {portal_}}).ok());
  }

  void tearDown() override {
    CPPUNIT_ASSERT(initiator_->Logout(kIqn).ok());
    Status st = target_->Unexport(kIqn);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    std::vector<TargetInfo> left;
    CPPUNIT_ASSERT(target_->List(&left).ok());
    for (const TargetInfo& t : left) CPPUNIT_ASSERT(t.iqn != kIqn);
  }

  void AuthorisedInitiatorLogsInAndSeesTheData() {
    CPPUNIT_ASSERT(target_->Allow(kIqn, {me_, "head1", "secret-0123456"}).ok());
    std::string disk, again;
    Status st = LogIn("secret-0123456", &disk);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT(ReadBack(disk, "vastsky-iscsi-check"));
    CPPUNIT_ASSERT(LogIn("secret-0123456", &again).ok());
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

  // "The head finds a leg by serial (rescanning its session) and, once the
  // leg leaves, deletes its SCSI device so the kernel forgets the LUN."
  void LunIsFoundBySerialAndForgotten() {
    CPPUNIT_ASSERT(target_->Allow(kIqn, {me_, "head1", "secret-0123456"}).ok());
    std::string disk, again;
    Status st = LogIn("secret-0123456", &disk);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    const std::string sysfs = "/sys/block/" + disk.substr(5);
    CPPUNIT_ASSERT_EQUAL(0, access(sysfs.c_str(), F_OK));
    st = initiator_->ForgetLun(kIqn, kSerial);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT(access(sysfs.c_str(), F_OK) != 0);
    CPPUNIT_ASSERT(initiator_->ForgetLun(kIqn, kSerial).ok());  // absent: fine
    // Still mapped: a rescan finds it again, with the data.
    st = initiator_->LunDevice(kIqn, kSerial, &again);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT(ReadBack(again, "vastsky-iscsi-check"));
    // A serial the target does not have never shows up: bounded.
    std::unique_ptr<IscsiInitiator> quick = NewOpenIscsiInitiator(3000);
    st = quick->LunDevice(kIqn, "leg-0badbeef", &disk);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), ETIMEDOUT, st.code());
    CPPUNIT_ASSERT(st.message().find("leg-0badbeef") != std::string::npos);
    CPPUNIT_ASSERT(initiator_->Logout(kIqn).ok());
    CPPUNIT_ASSERT_EQUAL(ENOENT, initiator_->LunDevice(kIqn, kSerial, &disk).code());
    CPPUNIT_ASSERT(initiator_->ForgetLun(kIqn, kSerial).ok());
  }

  void WrongChapSecretIsRefused() {
    CPPUNIT_ASSERT(target_->Allow(kIqn, {me_, "head1", "secret-0123456"}).ok());
    std::string disk;
    Status st = LogIn("wrong-secret-99", &disk);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), EACCES, st.code());
    std::vector<IscsiSession> sessions;
    CPPUNIT_ASSERT(initiator_->Sessions(&sessions).ok());
    for (const IscsiSession& s : sessions) CPPUNIT_ASSERT(s.iqn != kIqn);
  }

  void UnlistedInitiatorIsRefused() {
    CPPUNIT_ASSERT(target_->Allow(kIqn, {"iqn.1993-08.org.debian:01:someone-else", "head1", "secret-0123456"}).ok());
    std::string disk;
    Status st = LogIn("secret-0123456", &disk);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), EACCES, st.code());
  }

  void RevokeFencesALoggedInHead() {
    CPPUNIT_ASSERT(target_->Allow(kIqn, {me_, "head1", "secret-0123456"}).ok());
    std::string disk;
    CPPUNIT_ASSERT(LogIn("secret-0123456", &disk).ok());
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
    st = LogIn("secret-0123456", &disk);
    CPPUNIT_ASSERT_EQUAL(EACCES, st.code());
  }
};

#define VS_ISCSI_KERNEL_CHECKS                        \
  CPPUNIT_TEST(AuthorisedInitiatorLogsInAndSeesTheData); \
  CPPUNIT_TEST(LunIsFoundBySerialAndForgotten);          \
  CPPUNIT_TEST(WrongChapSecretIsRefused);                \
  CPPUNIT_TEST(UnlistedInitiatorIsRefused);              \
  CPPUNIT_TEST(RevokeFencesALoggedInHead)

class IscsiKernelTest : public IscsiKernelChecks {  // LIO
  CPPUNIT_TEST_SUITE(IscsiKernelTest);
  VS_ISCSI_KERNEL_CHECKS;
  CPPUNIT_TEST_SUITE_END();

 protected:
  std::unique_ptr<IscsiTarget> MakeTarget() override {
    portal_ = "127.0.0.1:3260";
    return NewLioTarget();
  }
};

class TgtKernelTest : public IscsiKernelChecks {
  CPPUNIT_TEST_SUITE(TgtKernelTest);
  VS_ISCSI_KERNEL_CHECKS;
  CPPUNIT_TEST(ExportKeepsItsDeviceTidAndSerial);
  CPPUNIT_TEST(AnotherHeadsAccountSurvivesARevoke);
  CPPUNIT_TEST(NoTgtdIsExplained);
  CPPUNIT_TEST_SUITE_END();

 protected:
  std::unique_ptr<IscsiTarget> MakeTarget() override {
    portal_ = "127.0.0.2:3260";
    CPPUNIT_ASSERT_MESSAGE("set VASTSKY_TGT_PORT (tgtd's control port)", TgtPort() > 0);
    return NewTgtTarget(TgtPort());
  }

  std::string Show() {
    SubprocessResult r;
    CPPUNIT_ASSERT(RunProgram({"tgtadm", "-C", std::to_string(TgtPort()), "--lld", "iscsi", "--mode", "target", "--op",
                               "show"},
                              10000, &r)
                       .ok());
    CPPUNIT_ASSERT_EQUAL(0, r.exit_code);
    return r.output;
  }

  const TgtTargetShow* Find(const std::vector<TgtTargetShow>& all) {
    for (const TgtTargetShow& t : all)
      if (t.iqn == kIqn) return &t;
    return nullptr;
  }

 public:
  void ExportKeepsItsDeviceTidAndSerial() {
    std::vector<TgtTargetShow> all = ParseTgtShow(Show());
    const TgtTargetShow* t = Find(all);
    CPPUNIT_ASSERT(t);
    CPPUNIT_ASSERT_EQUAL(0x7e570001, t->tid);  // the pdsk id
    CPPUNIT_ASSERT_EQUAL(size_t(2), t->luns.size());
    CPPUNIT_ASSERT_EQUAL(std::string("controller"), t->luns[0].type);
    CPPUNIT_ASSERT_EQUAL(1, t->luns[1].lun);
    CPPUNIT_ASSERT_EQUAL(dev_, t->luns[1].path);
    CPPUNIT_ASSERT_EQUAL(std::string("7e570001"), t->luns[1].serial);
    CPPUNIT_ASSERT(t->acls.empty());
    // Another device under the same name is refused, and changes nothing.
    const std::string other = TestDevice(1);
    CPPUNIT_ASSERT(!other.empty());
    Status st = target_->Export({kIqn, other, "7e570001", {portal_}});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), EEXIST, st.code());
    std::vector<TargetInfo> targets;
    CPPUNIT_ASSERT(target_->List(&targets).ok());
    bool same = false;
    for (const TargetInfo& i : targets) same |= i.iqn == kIqn && i.device == dev_;
    CPPUNIT_ASSERT(same);
  }

  // Accounts are per target in tgt: revoking one head unbinds its account
  // but not another head's, and that head still logs in.
  void AnotherHeadsAccountSurvivesARevoke() {
    const std::string other = "iqn.1993-08.org.debian:01:someone-else";
    CPPUNIT_ASSERT(target_->Allow(kIqn, {other, "head2", "secret-9876543"}).ok());
    CPPUNIT_ASSERT(target_->Allow(kIqn, {me_, "head1", "secret-0123456"}).ok());
    CPPUNIT_ASSERT(target_->Revoke(kIqn, other).ok());
    const TgtTargetShow* t;
    std::vector<TgtTargetShow> all = ParseTgtShow(Show());
    CPPUNIT_ASSERT((t = Find(all)) != nullptr);
    CPPUNIT_ASSERT_EQUAL(size_t(1), t->acls.size());
    CPPUNIT_ASSERT_EQUAL(me_, t->acls[0]);
    CPPUNIT_ASSERT_EQUAL(size_t(2), t->accounts.size());  // head1 and the lock
    std::string disk;
    Status st = LogIn("secret-0123456", &disk);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT(ReadBack(disk, "vastsky-iscsi-check"));
    // A new secret for head1 replaces the old one: the old is refused.
    CPPUNIT_ASSERT(initiator_->Logout(kIqn).ok());
    CPPUNIT_ASSERT(target_->Allow(kIqn, {me_, "head1", "secret-new-7777"}).ok());
    st = LogIn("secret-0123456", &disk);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), EACCES, st.code());
    st = LogIn("secret-new-7777", &disk);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
  }

  void NoTgtdIsExplained() {
    std::vector<TargetInfo> targets;
    Status st = NewTgtTarget(TgtPort() + 100)->List(&targets);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), ECONNREFUSED, st.code());
    CPPUNIT_ASSERT_MESSAGE(st.message(), st.message().find("tgtd is not running: start it (systemctl start tgt)") == 0);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(IscsiKernelTest);
CPPUNIT_TEST_SUITE_REGISTRATION(TgtKernelTest);
