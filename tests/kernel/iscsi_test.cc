// The storage agent's targets (LIO; tgt) and the head agent's open-iscsi
// initiator against the real kernel (VM lab only: root, configfs, iscsid
// running). One target, two leg LUNs over the two VASTSKY_TEST_DEVS (serials
// LegSerial of two chunk ids), and a login: LIO on 127.0.0.1:3260; tgt
// through the tgtd that kernel-tests.sh started on 127.0.0.2:3260 with
// control port VASTSKY_TGT_PORT. The test finds a leg's SCSI disk by its
// serial (vpd_pg80 in sysfs), as the head does. LIO's suites also prove the
// per-initiator LUN masking tgt does not have (agents/PROTOCOL.md, "per-leg
// isolation: LIO only"), and LioScaleTest times 2,000 LUNs on one target.
#include <cppunit/extensions/HelperMacros.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "agents/host/iscsi_initiator.h"
#include "agents/host/iscsi_target.h"
#include "lib/subprocess.h"
#include "lib/state_file.h"

using namespace vastsky;

namespace {
const char kIqn[] = "iqn.2010-10.org.vastsky:pdsk-7e570001";
const char kPatternA[] = "vastsky-iscsi-leg-a", kPatternB[] = "vastsky-iscsi-leg-b";
const std::string kSerialA = LegSerial(0x7e57a), kSerialB = LegSerial(0x7e57b);

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

void WritePattern(const std::string& dev, const std::string& pattern) {
  int fd = open(dev.c_str(), O_WRONLY);
  CPPUNIT_ASSERT(fd >= 0);
  CPPUNIT_ASSERT(pwrite(fd, pattern.data(), pattern.size(), 0) == static_cast<ssize_t>(pattern.size()));
  fsync(fd);
  close(fd);
}

std::vector<std::string> Entries(const std::string& dir) { return DirEntries(dir); }

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The unit serial of VPD page 0x80 as sysfs keeps it (a 4-byte header, then
// the serial; tgt pads it with leading spaces).
std::string VpdSerial(const std::string& path) {
  std::string page = ReadText(path);
  if (page.size() < 4) return "";
  std::string s = page.substr(4);
  const size_t a = s.find_first_not_of(" \0", 0, 2), b = s.find_last_not_of(" \0", std::string::npos, 2);
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

struct SeenLun {
  std::string device;  // "/dev/sdc", empty until attached
  std::string sysdir;  // the SCSI device in sysfs (H:C:T:L)
};

// The session to iqn in sysfs ("/sys/class/iscsi_session/session3"), "" if none.
std::string SessionDir(const std::string& iqn) {
  const std::string root = "/sys/class/iscsi_session";
  for (const std::string& s : Entries(root)) {
    std::string name = ReadText(root + "/" + s + "/targetname");
    while (!name.empty() && name.back() == '\n') name.pop_back();
    if (name == iqn) return root + "/" + s;
  }
  return "";
}

// The LUNs iqn's session shows now, by serial.
std::map<std::string, SeenLun> Seen(const std::string& iqn) {
  std::map<std::string, SeenLun> out;
  const std::string session = SessionDir(iqn);
  if (session.empty()) return out;
  for (const std::string& target : Entries(session + "/device")) {
    if (target.compare(0, 6, "target") != 0) continue;
    for (const std::string& lun : Entries(session + "/device/" + target)) {
      if (std::count(lun.begin(), lun.end(), ':') != 3) continue;
      SeenLun s;
      s.sysdir = session + "/device/" + target + "/" + lun;
      for (const std::string& block : Entries(s.sysdir + "/block")) s.device = "/dev/" + block;
      out[VpdSerial(s.sysdir + "/vpd_pg80")] = s;
    }
  }
  return out;
}

void Rescan(const std::string& iqn) {
  const std::string session = SessionDir(iqn);
  CPPUNIT_ASSERT(!session.empty());
  SubprocessResult r;
  CPPUNIT_ASSERT(RunProgram({"iscsiadm", "-m", "session", "-r", session.substr(session.rfind("session") + 7),
                             "--rescan"},
                            20000, &r)
                     .ok());
}

// Rescans iqn's session until the LUN with this serial has a disk; its path.
std::string DeviceOf(const std::string& iqn, const std::string& serial) {
  for (int i = 0; i < 100; ++i) {
    Rescan(iqn);
    auto seen = Seen(iqn);
    auto it = seen.find(serial);
    if (it != seen.end() && !it->second.device.empty() && access(it->second.device.c_str(), F_OK) == 0)
      return it->second.device;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  CPPUNIT_FAIL("no disk with serial " + serial + " in the session to " + iqn);
  return "";
}

// Asks the SCSI host of iqn's session to probe LUN numbers 0..n-1 by hand,
// as an initiator trying to reach LUNs it was not given would.
void ProbeLuns(const std::string& iqn, int n) {
  char real[PATH_MAX];
  CPPUNIT_ASSERT(realpath((SessionDir(iqn) + "/device").c_str(), real) != nullptr);
  const std::string path = real;
  const size_t at = path.find("/host");
  CPPUNIT_ASSERT(at != std::string::npos);
  const std::string host = path.substr(at + 1, path.find('/', at + 1) - at - 1);
  for (int lun = 0; lun < n; ++lun) {
    std::ofstream scan("/sys/class/scsi_host/" + host + "/scan");
    scan << "0 0 " << lun << std::flush;
  }
}

bool Has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// The serials initiator is mapped to on iqn, per the target's List.
std::vector<std::string> ListedSerials(IscsiTarget* t, const std::string& iqn, const std::string& initiator) {
  std::vector<TargetInfo> all;
  CPPUNIT_ASSERT(t->List(&all).ok());
  for (const TargetInfo& i : all)
    if (i.iqn == iqn)
      for (const InitiatorInfo& a : i.initiators)
        if (a.initiator == initiator) return a.serials;
  return {};
}

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

// The checks every target passes; a fixture per target names its portal.
class IscsiKernelChecks : public CppUnit::TestFixture {
 protected:
  std::unique_ptr<IscsiTarget> target_;
  std::unique_ptr<IscsiInitiator> initiator_;
  std::string me_, dev_a_, dev_b_, portal_;

  virtual std::unique_ptr<IscsiTarget> MakeTarget() = 0;

  // Allows this host with CHAP and maps it the given legs, then logs in.
  void LoginWith(const std::vector<std::string>& serials) {
    CPPUNIT_ASSERT(target_->Allow(kIqn, {me_, "head1", "secret-0123456"}).ok());
    CPPUNIT_ASSERT(target_->Map(kIqn, me_, serials).ok());
    Status st = initiator_->Login({kIqn, portal_, "head1", "secret-0123456"});
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
  }

 public:
  void setUp() override {
    target_ = MakeTarget();
    initiator_ = NewOpenIscsiInitiator(20000);
    dev_a_ = TestDevice(0);
    dev_b_ = TestDevice(1);
    CPPUNIT_ASSERT_MESSAGE("set VASTSKY_TEST_DEVS (two devices)", !dev_b_.empty());
    CPPUNIT_ASSERT(initiator_->InitiatorName(&me_).ok());
    WritePattern(dev_a_, kPatternA);
    WritePattern(dev_b_, kPatternB);
    // Each step twice: a replay after an agent restart changes nothing.
    for (int i = 0; i < 2; ++i) {
      Status st = target_->Export({kIqn, {portal_}});
      CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
      st = target_->AddLun(kIqn, {kSerialA, dev_a_});
      CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
      CPPUNIT_ASSERT(target_->AddLun(kIqn, {kSerialB, dev_b_}).ok());
    }
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
    LoginWith({kSerialA});
    const std::string disk = DeviceOf(kIqn, kSerialA);
    CPPUNIT_ASSERT(ReadBack(disk, kPatternA));
    CPPUNIT_ASSERT(initiator_->Login({kIqn, portal_, "head1", "secret-0123456"}).ok());
    std::vector<TargetInfo> targets;
    CPPUNIT_ASSERT(target_->List(&targets).ok());
    bool listed = false;
    for (const TargetInfo& t : targets)
      if (t.iqn == kIqn) {
        std::map<std::string, std::string> luns;
        for (const LunSpec& l : t.luns) luns[l.serial] = l.device;
        listed = luns.size() == 2 && luns[kSerialA] == dev_a_ && luns[kSerialB] == dev_b_ &&
                 t.initiators.size() == 1 && t.initiators[0].initiator == me_ && Has(t.initiators[0].serials, kSerialA);
      }
    CPPUNIT_ASSERT(listed);
    CPPUNIT_ASSERT(initiator_->Logout(kIqn).ok());
    CPPUNIT_ASSERT(initiator_->Logout(kIqn).ok());  // nothing left: still fine
  }

  // "The head finds a leg by serial (rescanning its session) and, once the
  // leg leaves, deletes its SCSI device so the kernel forgets the LUN."
  void LunIsFoundBySerialAndForgotten() {
    LoginWith({kSerialA});
    std::string disk, again;
    Status st = initiator_->LunDevice(kIqn, kSerialA, &disk);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    // /sys/class/block, not /sys/block: the kernel adds the class link
    // before the /dev node, the /sys/block link only after (a race seen).
    const std::string sysfs = "/sys/class/block/" + disk.substr(5);
    CPPUNIT_ASSERT_EQUAL(0, access(sysfs.c_str(), F_OK));
    st = initiator_->ForgetLun(kIqn, kSerialA);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT(access(sysfs.c_str(), F_OK) != 0);
    CPPUNIT_ASSERT(initiator_->ForgetLun(kIqn, kSerialA).ok());  // absent: fine
    // Still mapped: a rescan finds it again, with the data.
    st = initiator_->LunDevice(kIqn, kSerialA, &again);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT(ReadBack(again, kPatternA));
    // A serial the target does not have never shows up: bounded.
    std::unique_ptr<IscsiInitiator> quick = NewOpenIscsiInitiator(3000);
    const std::string absent = LegSerial(0xbadbeef);
    st = quick->LunDevice(kIqn, absent, &disk);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), ETIMEDOUT, st.code());
    CPPUNIT_ASSERT(st.message().find(absent) != std::string::npos);
    CPPUNIT_ASSERT(initiator_->Logout(kIqn).ok());
    CPPUNIT_ASSERT_EQUAL(ENOENT, initiator_->LunDevice(kIqn, kSerialA, &disk).code());
    CPPUNIT_ASSERT(initiator_->ForgetLun(kIqn, kSerialA).ok());
  }

  void WrongChapSecretIsRefused() {
    CPPUNIT_ASSERT(target_->Allow(kIqn, {me_, "head1", "secret-0123456"}).ok());
    CPPUNIT_ASSERT(target_->Map(kIqn, me_, {kSerialA}).ok());
    Status st = initiator_->Login({kIqn, portal_, "head1", "wrong-secret-99"});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), EACCES, st.code());
    std::vector<IscsiSession> sessions;
    CPPUNIT_ASSERT(initiator_->Sessions(&sessions).ok());
    for (const IscsiSession& s : sessions) CPPUNIT_ASSERT(s.iqn != kIqn);
  }

  // agents/PROTOCOL.md: "The CHAP secret never appears in iscsiadm's argv".
  // Every iscsiadm the initiator runs goes through a wrapper on PATH that
  // logs its arguments; the login succeeds (so the secret did reach
  // iscsiadm) and the secret is in none of them.
  void ChapSecretNeverInArgv() {
    const std::string real = access("/usr/sbin/iscsiadm", X_OK) == 0 ? "/usr/sbin/iscsiadm" : "/sbin/iscsiadm";
    char tmpl[] = "/tmp/vs-iscsiadm-XXXXXX";
    CPPUNIT_ASSERT(mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl, log = dir + "/argv";
    std::ofstream(dir + "/iscsiadm") << "#!/bin/sh\necho \"$*\" >> " << log << "\nexec " << real << " \"$@\"\n";
    CPPUNIT_ASSERT_EQUAL(0, chmod((dir + "/iscsiadm").c_str(), 0755));
    const std::string path = getenv("PATH") ? getenv("PATH") : "/usr/sbin:/usr/bin:/sbin:/bin";
    setenv("PATH", (dir + ":" + path).c_str(), 1);
    LoginWith({kSerialA});
    setenv("PATH", path.c_str(), 1);
    std::string argv;
    CPPUNIT_ASSERT(ReadStateFile(log, &argv).ok());
    std::filesystem::remove_all(dir);
    CPPUNIT_ASSERT_MESSAGE(argv, argv.find("--login") != std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(argv, argv.find("secret-0123456") == std::string::npos);
    CPPUNIT_ASSERT(ReadBack(DeviceOf(kIqn, kSerialA), kPatternA));
  }

  void UnlistedInitiatorIsRefused() {
    const std::string other = "iqn.1993-08.org.debian:01:someone-else";
    CPPUNIT_ASSERT(target_->Allow(kIqn, {other, "head1", "secret-0123456"}).ok());
    CPPUNIT_ASSERT(target_->Map(kIqn, other, {kSerialA}).ok());
    Status st = initiator_->Login({kIqn, portal_, "head1", "secret-0123456"});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), EACCES, st.code());
  }

  void RevokeFencesALoggedInHead() {
    LoginWith({kSerialA});
    const std::string disk = DeviceOf(kIqn, kSerialA);
    Status st = target_->Revoke(kIqn, me_);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT(target_->Revoke(kIqn, me_).ok());  // idempotent
    // The kernel dropped the session; reconnects are refused, so once the
    // initiator's replacement timeout passes, I/O to the disk fails.
    bool fenced = false;
    for (int i = 0; i < 60 && !fenced; ++i) {
      fenced = !ReadBack(disk, kPatternA);
      if (!fenced) sleep(1);
    }
    CPPUNIT_ASSERT_MESSAGE("I/O through a revoked session must fail", fenced);
    CPPUNIT_ASSERT(initiator_->Logout(kIqn).ok());
    st = initiator_->Login({kIqn, portal_, "head1", "secret-0123456"});
    CPPUNIT_ASSERT_EQUAL(EACCES, st.code());
  }

  // A serial serves one device; Map names only ACLs and LUNs that exist.
  void LunAndMapRulesHold() {
    CPPUNIT_ASSERT_EQUAL(EEXIST, target_->AddLun(kIqn, {kSerialA, dev_b_}).code());
    CPPUNIT_ASSERT_EQUAL(ENOENT, target_->Map(kIqn, me_, {kSerialA}).code());  // no ACL yet
    CPPUNIT_ASSERT(target_->Allow(kIqn, {me_, "head1", "secret-0123456"}).ok());
    CPPUNIT_ASSERT_EQUAL(ENOENT, target_->Map(kIqn, me_, {LegSerial(0x7e57c)}).code());
    CPPUNIT_ASSERT(target_->Map(kIqn, me_, {kSerialA, kSerialB}).ok());
    CPPUNIT_ASSERT(target_->RemoveLun(kIqn, kSerialB).ok());  // mapped: unmapped first
    CPPUNIT_ASSERT(target_->RemoveLun(kIqn, kSerialB).ok());  // absent is fine
    CPPUNIT_ASSERT(!Has(ListedSerials(target_.get(), kIqn, me_), kSerialB));
    std::vector<TargetInfo> all;
    CPPUNIT_ASSERT(target_->List(&all).ok());
    for (const TargetInfo& t : all)
      if (t.iqn == kIqn) CPPUNIT_ASSERT_EQUAL(size_t{1}, t.luns.size());
  }
};

#define VS_ISCSI_KERNEL_CHECKS                           \
  CPPUNIT_TEST(AuthorisedInitiatorLogsInAndSeesTheData); \
  CPPUNIT_TEST(LunIsFoundBySerialAndForgotten);          \
  CPPUNIT_TEST(WrongChapSecretIsRefused);                \
  CPPUNIT_TEST(ChapSecretNeverInArgv);                   \
  CPPUNIT_TEST(UnlistedInitiatorIsRefused);              \
  CPPUNIT_TEST(RevokeFencesALoggedInHead);               \
  CPPUNIT_TEST(LunAndMapRulesHold)

class IscsiKernelTest : public IscsiKernelChecks {  // LIO
  CPPUNIT_TEST_SUITE(IscsiKernelTest);
  VS_ISCSI_KERNEL_CHECKS;
  CPPUNIT_TEST(AclSeesOnlyItsLuns);
  CPPUNIT_TEST(NarrowingRemovesALunFromALiveSession);
  CPPUNIT_TEST(HeadDiscardsOnALegLun);
  CPPUNIT_TEST_SUITE_END();

 protected:
  std::unique_ptr<IscsiTarget> MakeTarget() override {
    portal_ = "127.0.0.1:3260";
    return NewLioTarget();
  }

 public:
  // Issue 13: "A head attached to volume A cannot read any LUN of volume B
  // on the same disk, even with A's CHAP credentials": logged in with the
  // ACL that maps only leg A, probing LUN numbers by hand finds no B.
  void AclSeesOnlyItsLuns() {
    LoginWith({kSerialA});
    CPPUNIT_ASSERT(ReadBack(DeviceOf(kIqn, kSerialA), kPatternA));
    ProbeLuns(kIqn, 8);
    Rescan(kIqn);
    const auto seen = Seen(kIqn);
    CPPUNIT_ASSERT_EQUAL(size_t{1}, seen.count(kSerialA));
    CPPUNIT_ASSERT_EQUAL(size_t{0}, seen.count(kSerialB));
    for (const auto& s : seen) CPPUNIT_ASSERT(s.second.device.empty() || !ReadBack(s.second.device, kPatternB));
    CPPUNIT_ASSERT((ListedSerials(target_.get(), kIqn, me_) == std::vector<std::string>{kSerialA}));
  }

  // Narrowing (Map with fewer serials) takes a LUN away from a live
  // session: I/O to it fails at once, and once the head forgets the SCSI
  // device a rescan does not bring it back; the other LUN carries on.
  void NarrowingRemovesALunFromALiveSession() {
    LoginWith({kSerialA, kSerialB});
    const std::string a = DeviceOf(kIqn, kSerialA), b = DeviceOf(kIqn, kSerialB);
    CPPUNIT_ASSERT(ReadBack(b, kPatternB));
    CPPUNIT_ASSERT(target_->Map(kIqn, me_, {kSerialA}).ok());
    CPPUNIT_ASSERT_MESSAGE("I/O to an unmapped LUN must fail", !ReadBack(b, kPatternB));
    const std::string sysdir = Seen(kIqn)[kSerialB].sysdir;
    std::ofstream(sysdir + "/delete") << "1" << std::flush;
    Rescan(kIqn);
    CPPUNIT_ASSERT_EQUAL(size_t{0}, Seen(kIqn).count(kSerialB));
    CPPUNIT_ASSERT(ReadBack(a, kPatternA));
    // Mapped again: the rescan finds it (at a LUN number of this ACL's own).
    CPPUNIT_ASSERT(target_->Map(kIqn, me_, {kSerialA, kSerialB}).ok());
    CPPUNIT_ASSERT(ReadBack(DeviceOf(kIqn, kSerialB), kPatternB));
  }

  // PROTOCOL.md, LUN layout: "attrib/emulate_tpu = 1 (UNMAP: a head's or a
  // guest's discard reaches the thin device ...)".
  void HeadDiscardsOnALegLun() {
    std::ifstream tpu("/sys/kernel/config/target/core/iblock_0/vastsky-" + kSerialA + "/attrib/emulate_tpu");
    std::string value;
    tpu >> value;
    CPPUNIT_ASSERT_EQUAL(std::string("1"), value);
    LoginWith({kSerialA});
    const std::string dev = DeviceOf(kIqn, kSerialA);
    int fd = open(dev.c_str(), O_WRONLY);
    CPPUNIT_ASSERT(fd >= 0);
    uint64_t range[2] = {8 << 20, 1 << 20};
    const int rc = ioctl(fd, BLKDISCARD, range);
    const int err = errno;
    close(fd);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(strerror(err), 0, rc);
    CPPUNIT_ASSERT(ReadBack(dev, kPatternA));
  }
};

class TgtKernelTest : public IscsiKernelChecks {
  CPPUNIT_TEST_SUITE(TgtKernelTest);
  VS_ISCSI_KERNEL_CHECKS;
  CPPUNIT_TEST(ExportKeepsItsTidAndLunSerials);
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
  // LUN 0 is tgt's controller; the legs are LUNs 2 and 3 (kFirstLegLun + 1 on).
  // tgt cannot mask: List says the initiator sees every LUN (PROTOCOL.md,
  // "per-leg isolation: LIO only").
  void ExportKeepsItsTidAndLunSerials() {
    std::vector<TgtTargetShow> all = ParseTgtShow(Show());
    const TgtTargetShow* t = Find(all);
    CPPUNIT_ASSERT(t);
    CPPUNIT_ASSERT_EQUAL(0x7e570001, t->tid);  // the pdsk id
    CPPUNIT_ASSERT_EQUAL(size_t(3), t->luns.size());
    CPPUNIT_ASSERT_EQUAL(std::string("controller"), t->luns[0].type);
    CPPUNIT_ASSERT_EQUAL(2, t->luns[1].lun);
    CPPUNIT_ASSERT_EQUAL(dev_a_, t->luns[1].path);
    CPPUNIT_ASSERT_EQUAL(kSerialA, t->luns[1].serial);
    CPPUNIT_ASSERT_EQUAL(3, t->luns[2].lun);
    CPPUNIT_ASSERT_EQUAL(kSerialB, t->luns[2].serial);
    CPPUNIT_ASSERT(t->acls.empty());
    CPPUNIT_ASSERT(target_->Allow(kIqn, {me_, "head1", "secret-0123456"}).ok());
    CPPUNIT_ASSERT(target_->Map(kIqn, me_, {kSerialA}).ok());
    const std::vector<std::string> listed = ListedSerials(target_.get(), kIqn, me_);
    CPPUNIT_ASSERT(Has(listed, kSerialA) && Has(listed, kSerialB));
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
    Status st = initiator_->Login({kIqn, portal_, "head1", "secret-0123456"});
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT(ReadBack(DeviceOf(kIqn, kSerialA), kPatternA));
    // A new secret for head1 replaces the old one: the old is refused.
    CPPUNIT_ASSERT(initiator_->Logout(kIqn).ok());
    CPPUNIT_ASSERT(target_->Allow(kIqn, {me_, "head1", "secret-new-7777"}).ok());
    st = initiator_->Login({kIqn, portal_, "head1", "secret-0123456"});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), EACCES, st.code());
    st = initiator_->Login({kIqn, portal_, "head1", "secret-new-7777"});
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
  }

  void NoTgtdIsExplained() {
    std::vector<TargetInfo> targets;
    Status st = NewTgtTarget(TgtPort() + 100)->List(&targets);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), ECONNREFUSED, st.code());
    CPPUNIT_ASSERT_MESSAGE(st.message(), st.message().find("tgtd is not running: start it (systemctl start tgt)") == 0);
  }
};

// A LIO target iqn_ over sparse files in a temporary directory (fileio
// backstores): configfs's side only, no login.
class LioFileLegsFixture : public CppUnit::TestFixture {
 protected:
  explicit LioFileLegsFixture(std::string iqn) : iqn_(std::move(iqn)) {}
  const std::string iqn_;
  std::string dir_;

  // n LUNs of 1 MiB files, serials from LegSerial(first_chunk).
  std::vector<LunSpec> FileLegs(int n, int64_t first_chunk) {
    std::vector<LunSpec> out;
    for (int i = 0; i < n; ++i) {
      LunSpec l{LegSerial(first_chunk + i), dir_ + "/leg-" + std::to_string(i)};
      int fd = open(l.device.c_str(), O_WRONLY | O_CREAT, 0600);
      CPPUNIT_ASSERT(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
      close(fd);
      out.push_back(l);
    }
    return out;
  }

 public:
  void setUp() override {
    char path[] = "/tmp/vastsky-lio-legs-XXXXXX";
    CPPUNIT_ASSERT(mkdtemp(path) != nullptr);
    dir_ = path;
  }
  void tearDown() override {
    (void)NewLioTarget()->Unexport(iqn_);
    std::filesystem::remove_all(dir_);
  }
};

// Issue 13, scale: "one disk exporting at least 2,000 leg LUNs" and an ACL
// mapping 256 of them, through LIO's configfs from the agent's own code.
// Backed by sparse files (fileio): the cost measured is configfs's. Prints
// the times; asserts only the outcome.
class LioScaleTest : public LioFileLegsFixture {
  CPPUNIT_TEST_SUITE(LioScaleTest);
  CPPUNIT_TEST(TwoThousandLunsAndAMapOf256);
  CPPUNIT_TEST_SUITE_END();

  static constexpr int kLuns = 2000, kMapped = 256;
  const std::string head_ = "iqn.2024-01.org.vastsky.test:scale-head";

 public:
  LioScaleTest() : LioFileLegsFixture("iqn.2010-10.org.vastsky:pdsk-7e570002") {}

  void TwoThousandLunsAndAMapOf256() {
    const std::vector<LunSpec> luns = FileLegs(kLuns, 0x10000);
    std::vector<std::string> mapped, narrower;
    for (int i = 0; i < kMapped; ++i) mapped.push_back(luns[i * (kLuns / kMapped)].serial);
    narrower.assign(mapped.begin(), mapped.begin() + kMapped / 2);
    std::unique_ptr<IscsiTarget> t = NewLioTarget();
    CPPUNIT_ASSERT(t->Export({iqn_, {}}).ok());
    auto t0 = std::chrono::steady_clock::now();
    for (const LunSpec& l : luns) {
      Status st = t->AddLun(iqn_, l);
      CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    }
    const double add = Since(t0);
    CPPUNIT_ASSERT(t->Allow(iqn_, {head_, "scale", "secret-0123456"}).ok());
    t0 = std::chrono::steady_clock::now();
    CPPUNIT_ASSERT(t->Map(iqn_, head_, mapped).ok());
    const double map = Since(t0);
    // A restarted agent: a fresh index read from configfs, every call replayed.
    std::unique_ptr<IscsiTarget> again = NewLioTarget();
    t0 = std::chrono::steady_clock::now();
    for (const LunSpec& l : luns) CPPUNIT_ASSERT(again->AddLun(iqn_, l).ok());
    CPPUNIT_ASSERT(again->Map(iqn_, head_, mapped).ok());
    const double replay = Since(t0);
    t0 = std::chrono::steady_clock::now();
    std::vector<TargetInfo> all;
    CPPUNIT_ASSERT(NewLioTarget()->List(&all).ok());
    const double list = Since(t0);
    for (const TargetInfo& i : all)
      if (i.iqn == iqn_) {
        CPPUNIT_ASSERT_EQUAL(size_t{kLuns}, i.luns.size());
        CPPUNIT_ASSERT_EQUAL(size_t{1}, i.initiators.size());
        CPPUNIT_ASSERT((std::set<std::string>(mapped.begin(), mapped.end()) ==
                        std::set<std::string>(i.initiators[0].serials.begin(), i.initiators[0].serials.end())));
      }
    t0 = std::chrono::steady_clock::now();
    CPPUNIT_ASSERT(again->Map(iqn_, head_, narrower).ok());
    const double narrow = Since(t0);
    CPPUNIT_ASSERT_EQUAL(size_t{kMapped / 2}, ListedSerials(again.get(), iqn_, head_).size());
    t0 = std::chrono::steady_clock::now();
    CPPUNIT_ASSERT(again->Unexport(iqn_).ok());
    const double unexport = Since(t0);
    printf("\nbench: LIO scale: %d LUNs added in %.1f s (%.1f ms/LUN); %d mapped in %.1f s; replay of all (restart) "
           "%.1f s; List %.1f s; narrowed to %d in %.1f s; Unexport %.1f s\n",
           kLuns, add, add * 1000 / kLuns, kMapped, map, replay, list, kMapped / 2, narrow, unexport);
  }
};

// "A leg keeps its LUN number for life" (agents/PROTOCOL.md, storage agent
// step 5), in LIO's configfs: three legs, the middle one deleted, the
// target torn down (as a reboot does) and the other two added again with
// their recorded numbers: each ACL maps them at the numbers it had, which
// are their target numbers. (Backed by sparse files: no login needed.)
class LioLunNumberTest : public LioFileLegsFixture {
  CPPUNIT_TEST_SUITE(LioLunNumberTest);
  CPPUNIT_TEST(NumbersSurviveATeardownAfterAMiddleLegIsDeleted);
  CPPUNIT_TEST_SUITE_END();

  const std::string head_ = "iqn.2024-01.org.vastsky.test:numbers-head";
  const std::string root_ = "/sys/kernel/config/target/iscsi/" + iqn_ + "/tpgt_1";

  // The ACL's mapped LUN numbers in configfs, each with the target LUN it
  // links to ("lun_3" -> "lun_3").
  std::map<std::string, std::string> AclMaps() {
    std::map<std::string, std::string> out;
    const std::string acl = root_ + "/acls/" + head_;
    for (const std::string& lun : Entries(acl)) {
      if (lun.compare(0, 4, "lun_") != 0) continue;
      char buf[PATH_MAX];
      const ssize_t n = readlink((acl + "/" + lun + "/lun").c_str(), buf, sizeof buf - 1);
      const std::string to = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
      out[lun] = to.substr(to.rfind('/') + 1);
    }
    return out;
  }

  void Grant(IscsiTarget* t, const std::vector<std::string>& serials) {
    CPPUNIT_ASSERT(t->Allow(iqn_, {head_, "numbers", "secret-0123456"}).ok());
    Status st = t->Map(iqn_, head_, serials);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
  }

 public:
  LioLunNumberTest() : LioFileLegsFixture("iqn.2010-10.org.vastsky:pdsk-7e570003") {}

  void NumbersSurviveATeardownAfterAMiddleLegIsDeleted() {
    std::vector<LunSpec> legs = FileLegs(3, 0x20000);
    std::unique_ptr<IscsiTarget> t = NewLioTarget();
    CPPUNIT_ASSERT(t->Export({iqn_, {}}).ok());
    for (LunSpec& l : legs) {
      Status st = t->AddLun(iqn_, l, &l.lun);
      CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    }
    CPPUNIT_ASSERT(legs[0].lun == 1 && legs[1].lun == 2 && legs[2].lun == 3);  // never 0
    Grant(t.get(), {legs[0].serial, legs[1].serial, legs[2].serial});
    CPPUNIT_ASSERT(t->RemoveLun(iqn_, legs[1].serial).ok());
    const std::map<std::string, std::string> before = AclMaps();
    CPPUNIT_ASSERT((before == std::map<std::string, std::string>{{"lun_1", "lun_1"}, {"lun_3", "lun_3"}}));
    CPPUNIT_ASSERT_EQUAL(EEXIST, t->AddLun(iqn_, {legs[2].serial, legs[2].device, 1}).code());
    CPPUNIT_ASSERT_EQUAL(EEXIST, t->AddLun(iqn_, {legs[1].serial, legs[1].device, 3}).code());
    CPPUNIT_ASSERT(t->Unexport(iqn_).ok());
    CPPUNIT_ASSERT(!Exists(root_));
    // A restarted agent on the rebooted server: a fresh index, the target
    // made again, the legs given back in another order with their numbers.
    std::unique_ptr<IscsiTarget> again = NewLioTarget();
    CPPUNIT_ASSERT(again->Export({iqn_, {}}).ok());
    for (int i : {2, 0}) {
      int n = -1;
      Status st = again->AddLun(iqn_, legs[i], &n);
      CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
      CPPUNIT_ASSERT_EQUAL(legs[i].lun, n);
    }
    Grant(again.get(), {legs[2].serial, legs[0].serial});
    CPPUNIT_ASSERT((AclMaps() == before));
  }

  static bool Exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }
};

CPPUNIT_TEST_SUITE_REGISTRATION(IscsiKernelTest);
CPPUNIT_TEST_SUITE_REGISTRATION(LioLunNumberTest);
CPPUNIT_TEST_SUITE_REGISTRATION(TgtKernelTest);
// Minutes under TCG: `make bench` runs it (kernel-tests scale), make check not.
CPPUNIT_TEST_SUITE_NAMED_REGISTRATION(LioScaleTest, "scale");
