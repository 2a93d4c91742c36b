// Reading open-iscsi's session report: which disk belongs to which target;
// sysfs: which SCSI disk of a session is the LUN with a given serial; and
// the node record that carries the CHAP credentials instead of argv.
#include <cppunit/extensions/HelperMacros.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>

#include "agents/host/iscsi_initiator.h"
#include "lib/state_file.h"

using namespace vastsky;

namespace {
const char kReport[] =
    "iSCSI Transport Class version 2.0-870\n"
    "version 2.1.8\n"
    "Target: iqn.2010-10.org.vastsky:pdsk-00000001 (non-flash)\n"
    "\tCurrent Portal: 10.99.0.1:3260,1\n"
    "\tPersistent Portal: 10.99.0.1:3260,1\n"
    "\t\t**********\n"
    "\t\tInterface:\n"
    "\t\t**********\n"
    "\t\tIface Name: default\n"
    "\t\tIface Initiatorname: iqn.1993-08.org.debian:01:head\n"
    "\t\tiSCSI Session State: LOGGED_IN\n"
    "\t\t************************\n"
    "\t\tAttached SCSI devices:\n"
    "\t\t************************\n"
    "\t\tHost Number: 2\tState: running\n"
    "\t\tscsi2 Channel 00 Id 0 Lun: 0\n"
    "\t\t\tAttached scsi disk sda\t\tState: running\n"
    "Target: iqn.2010-10.org.vastsky:pdsk-00000002 (non-flash)\n"
    "\tCurrent Portal: [fd00::2]:3260,1\n"
    "\tPersistent Portal: [fd00::2]:3260,1\n"
    "\t\tiSCSI Session State: LOGGED_IN\n"
    "Target: iqn.2010-10.org.vastsky:pdsk-00000003 (non-flash)\n"
    "\tCurrent Portal: 10.99.0.3:3260,1\n"
    "\t\t\tAttached scsi disk sdab\t\tState: running\n";
}  // namespace

class IscsiParseTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(IscsiParseTest);
  CPPUNIT_TEST(SessionsWithAndWithoutDisks);
  CPPUNIT_TEST(EmptyReport);
  CPPUNIT_TEST(SysfsLunBySerial);
  CPPUNIT_TEST(NodeRecordPlace);
  CPPUNIT_TEST(ChapCredentialsReplaceOnlyTheirLines);
  CPPUNIT_TEST_SUITE_END();

 public:
  void SessionsWithAndWithoutDisks() {
    std::vector<IscsiSession> s = ParseSessionDetails(kReport);
    CPPUNIT_ASSERT_EQUAL(size_t(3), s.size());
    CPPUNIT_ASSERT_EQUAL(std::string("iqn.2010-10.org.vastsky:pdsk-00000001"), s[0].iqn);
    CPPUNIT_ASSERT_EQUAL(std::string("10.99.0.1:3260"), s[0].portal);
    CPPUNIT_ASSERT_EQUAL(std::string("/dev/sda"), s[0].device);
    CPPUNIT_ASSERT_EQUAL(std::string("[fd00::2]:3260"), s[1].portal);
    CPPUNIT_ASSERT_EQUAL(std::string(""), s[1].device);  // LUN not scanned yet
    CPPUNIT_ASSERT_EQUAL(std::string("/dev/sdab"), s[2].device);
  }

  void EmptyReport() { CPPUNIT_ASSERT(ParseSessionDetails("").empty()); }

  // sysfs as the 6.1 kernel lays it out: session<N>/targetname, and the
  // session's SCSI devices under session<N>/device/target<H:C:T>/<H:C:T:L>,
  // each with its raw VPD page 0x80 and, once attached, block/<sdX>.
  void SysfsLunBySerial() {
    char tmpl[] = "/tmp/vastsky-sysfs-XXXXXX";
    const std::string root = mkdtemp(tmpl);
    const std::string s3 = root + "/class/iscsi_session/session3", s4 = root + "/class/iscsi_session/session4";
    const std::string iqn = "iqn.2010-10.org.vastsky:pdsk-00000001";
    CPPUNIT_ASSERT(MakeStateDir(s4).ok());
    std::ofstream(s4 + "/targetname") << "iqn.2010-10.org.vastsky:pdsk-00000002\n";
    SysfsLun lun;
    CPPUNIT_ASSERT_EQUAL(ENOENT, FindSysfsLun(root, iqn, "leg-0000002a", &lun).code());
    CPPUNIT_ASSERT(MakeStateDir(s3 + "/device/target2:0:0").ok());
    std::ofstream(s3 + "/targetname") << iqn << "\n";
    CPPUNIT_ASSERT(FindSysfsLun(root, iqn, "leg-0000002a", &lun).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("3"), lun.session);
    CPPUNIT_ASSERT_EQUAL(std::string(""), lun.scsi_dir);  // not scanned yet
    // LUN 0 is another leg; LUN 5 ours, its serial padded as tgt pads it.
    Lun(s3 + "/device/target2:0:0/2:0:0:0", "leg-0000002b", "sdb");
    Lun(s3 + "/device/target2:0:0/2:0:0:5", "    leg-0000002a", "");
    CPPUNIT_ASSERT(FindSysfsLun(root, iqn, "leg-0000002a", &lun).ok());
    CPPUNIT_ASSERT_EQUAL(s3 + "/device/target2:0:0/2:0:0:5", lun.scsi_dir);
    CPPUNIT_ASSERT_EQUAL(std::string(""), lun.block);  // the disk is not attached yet
    CPPUNIT_ASSERT(MakeStateDir(lun.scsi_dir + "/block/sdc").ok());
    CPPUNIT_ASSERT(FindSysfsLun(root, iqn, "leg-0000002a", &lun).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("sdc"), lun.block);
    CPPUNIT_ASSERT(FindSysfsLun(root, iqn, "leg-0000002b", &lun).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("sdb"), lun.block);
    CPPUNIT_ASSERT_EQUAL(0, system(("rm -rf '" + root + "'").c_str()));
  }

 private:
  // A SCSI device whose VPD page 0x80 holds `serial`.
  void NodeRecordPlace() {
    CPPUNIT_ASSERT_EQUAL(std::string("10.0.0.1,3260,1"), NodeRecordDir("10.0.0.1:3260"));
    CPPUNIT_ASSERT_EQUAL(std::string("fd00::1,3261,1"), NodeRecordDir("[fd00::1]:3261"));
    CPPUNIT_ASSERT_EQUAL(std::string(""), NodeRecordDir("10.0.0.1"));
  }

  // The credentials go in before "# END RECORD", once, whatever was there;
  // the mutual (_in) credentials and every other line stay.
  void ChapCredentialsReplaceOnlyTheirLines() {
    const std::string record =
        "# BEGIN RECORD 2.1.8\n"
        "node.name = iqn.2010-10.org.vastsky:pdsk-00000001\n"
        "node.session.auth.authmethod = CHAP\n"
        "node.session.auth.username = old-user\n"
        "node.session.auth.password = old-secret-0001\n"
        "node.session.auth.username_in = keep-in\n"
        "node.conn[0].address = 10.0.0.1\n"
        "# END RECORD\n";
    const std::string want =
        "# BEGIN RECORD 2.1.8\n"
        "node.name = iqn.2010-10.org.vastsky:pdsk-00000001\n"
        "node.session.auth.authmethod = CHAP\n"
        "node.session.auth.username_in = keep-in\n"
        "node.conn[0].address = 10.0.0.1\n"
        "node.session.auth.username = hsvr-00000002\n"
        "node.session.auth.password = new-secret-0002\n"
        "# END RECORD\n";
    CPPUNIT_ASSERT_EQUAL(want, WithChapCredentials(record, "hsvr-00000002", "new-secret-0002"));
    CPPUNIT_ASSERT_EQUAL(want, WithChapCredentials(want, "hsvr-00000002", "new-secret-0002"));
    // A record without its end line (an older iscsiadm) gets them at the end.
    CPPUNIT_ASSERT_EQUAL(std::string("node.startup = manual\nnode.session.auth.username = u\n"
                                     "node.session.auth.password = s\n"),
                         WithChapCredentials("node.startup = manual\n", "u", "s"));
  }

  static void Lun(const std::string& dir, const std::string& serial, const std::string& block) {
    CPPUNIT_ASSERT(MakeStateDir(block.empty() ? dir : dir + "/block/" + block).ok());
    std::string page = {0, '\x80', 0, static_cast<char>(serial.size())};
    std::ofstream(dir + "/vpd_pg80", std::ios::binary) << page + serial;
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(IscsiParseTest);
