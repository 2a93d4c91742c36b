// Reading tgtadm's reports (tgt 1.0.85, as captured in the VM lab): targets
// with their LUNs, sessions, accounts and ACLs; connections; accounts.
#include <cppunit/extensions/HelperMacros.h>

#include "agents/host/iscsi_target.h"

using namespace vastsky;

namespace {
// Two targets: the first with a logged-in head, the agent's LUN 1, a head
// account and the lock account; the second bare (LUN 0 only) with an
// address ACL, an initiator name and an outgoing account.
const char kShow[] =
    "Target 10: iqn.2010-10.org.vastsky:pdsk-0000000a\n"
    "    System information:\n"
    "        Driver: iscsi\n"
    "        State: ready\n"
    "    I_T nexus information:\n"
    "        I_T nexus: 1\n"
    "            Initiator: iqn.2024-01.org.vastsky.vmlab:head alias: vmlab\n"
    "            Connection: 0\n"
    "                IP Address: 10.99.0.254\n"
    "        I_T nexus: 7\n"
    "            Initiator: iqn.2024-01.org.vastsky.vmlab:other alias: none\n"
    "            Connection: 3\n"
    "                IP Address: fd00::9\n"
    "    LUN information:\n"
    "        LUN: 0\n"
    "            Type: controller\n"
    "            SCSI ID: IET     000a0000\n"
    "            SCSI SN: beaf100\n"
    "            Size: 0 MB, Block size: 1\n"
    "            Online: Yes\n"
    "            Removable media: No\n"
    "            Prevent removal: No\n"
    "            Readonly: No\n"
    "            SWP: No\n"
    "            Thin-provisioning: No\n"
    "            Backing store type: null\n"
    "            Backing store path: None\n"
    "            Backing store flags: \n"
    "        LUN: 1\n"
    "            Type: disk\n"
    "            SCSI ID: IET     000a0001\n"
    "            SCSI SN: pdsk-0000000a\n"
    "            Size: 105 MB, Block size: 512\n"
    "            Online: Yes\n"
    "            Removable media: No\n"
    "            Prevent removal: No\n"
    "            Readonly: No\n"
    "            SWP: No\n"
    "            Thin-provisioning: No\n"
    "            Backing store type: rdwr\n"
    "            Backing store path: /dev/disk/by-id/wwn-0x5000c500a1b2c3d4\n"
    "            Backing store flags: \n"
    "    Account information:\n"
    "        vastsky-head\n"
    "        vastsky-tgt-lock\n"
    "    ACL information:\n"
    "        iqn.2024-01.org.vastsky.vmlab:head\n"
    "Target 3: iqn.2001-04.com.example:other\n"
    "    System information:\n"
    "        Driver: iscsi\n"
    "        State: ready\n"
    "        Nop interval: 5\n"
    "        Nop count: 3\n"
    "    I_T nexus information:\n"
    "    LUN information:\n"
    "        LUN: 0\n"
    "            Type: controller\n"
    "            SCSI SN: beaf30\n"
    "            Backing store path: None\n"
    "    Account information:\n"
    "        mutual (outgoing)\n"
    "    ACL information:\n"
    "        192.0.2.0/24\n"
    "        ALL\n"
    "        iqn.1993-08.org.debian:01:abc\n";
}  // namespace

class TgtParseTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(TgtParseTest);
  CPPUNIT_TEST(TargetsLunsAndAccess);
  CPPUNIT_TEST(Sessions);
  CPPUNIT_TEST(BareTarget);
  CPPUNIT_TEST(EmptyAndForeignText);
  CPPUNIT_TEST(Connections);
  CPPUNIT_TEST(Accounts);
  CPPUNIT_TEST_SUITE_END();

 public:
  void TargetsLunsAndAccess() {
    std::vector<TgtTargetShow> all = ParseTgtShow(kShow);
    CPPUNIT_ASSERT_EQUAL(size_t(2), all.size());
    const TgtTargetShow& t = all[0];
    CPPUNIT_ASSERT_EQUAL(10, t.tid);
    CPPUNIT_ASSERT_EQUAL(std::string("iqn.2010-10.org.vastsky:pdsk-0000000a"), t.iqn);
    CPPUNIT_ASSERT_EQUAL(size_t(2), t.luns.size());
    CPPUNIT_ASSERT_EQUAL(0, t.luns[0].lun);
    CPPUNIT_ASSERT_EQUAL(std::string("controller"), t.luns[0].type);
    CPPUNIT_ASSERT_EQUAL(std::string(""), t.luns[0].path);  // "None"
    CPPUNIT_ASSERT_EQUAL(1, t.luns[1].lun);
    CPPUNIT_ASSERT_EQUAL(std::string("disk"), t.luns[1].type);
    CPPUNIT_ASSERT_EQUAL(std::string("pdsk-0000000a"), t.luns[1].serial);
    CPPUNIT_ASSERT_EQUAL(std::string("/dev/disk/by-id/wwn-0x5000c500a1b2c3d4"), t.luns[1].path);
    CPPUNIT_ASSERT_EQUAL(size_t(2), t.accounts.size());
    CPPUNIT_ASSERT_EQUAL(std::string("vastsky-head"), t.accounts[0]);
    CPPUNIT_ASSERT_EQUAL(std::string("vastsky-tgt-lock"), t.accounts[1]);
    CPPUNIT_ASSERT_EQUAL(size_t(1), t.acls.size());
    CPPUNIT_ASSERT_EQUAL(std::string("iqn.2024-01.org.vastsky.vmlab:head"), t.acls[0]);
  }

  void Sessions() {
    const TgtTargetShow t = ParseTgtShow(kShow)[0];
    CPPUNIT_ASSERT_EQUAL(size_t(2), t.sessions.size());
    CPPUNIT_ASSERT_EQUAL(uint64_t(1), t.sessions[0].sid);
    CPPUNIT_ASSERT_EQUAL(std::string("iqn.2024-01.org.vastsky.vmlab:head"), t.sessions[0].initiator);  // no alias
    CPPUNIT_ASSERT_EQUAL(size_t(1), t.sessions[0].cids.size());
    CPPUNIT_ASSERT_EQUAL(uint32_t(0), t.sessions[0].cids[0]);
    CPPUNIT_ASSERT_EQUAL(uint64_t(7), t.sessions[1].sid);
    CPPUNIT_ASSERT_EQUAL(std::string("iqn.2024-01.org.vastsky.vmlab:other"), t.sessions[1].initiator);
    CPPUNIT_ASSERT_EQUAL(uint32_t(3), t.sessions[1].cids[0]);
  }

  void BareTarget() {
    const TgtTargetShow t = ParseTgtShow(kShow)[1];
    CPPUNIT_ASSERT_EQUAL(3, t.tid);
    CPPUNIT_ASSERT_EQUAL(std::string("iqn.2001-04.com.example:other"), t.iqn);
    CPPUNIT_ASSERT(t.sessions.empty());
    CPPUNIT_ASSERT_EQUAL(size_t(1), t.luns.size());
    CPPUNIT_ASSERT(t.accounts.empty());  // the outgoing account is not an incoming one
    CPPUNIT_ASSERT_EQUAL(size_t(3), t.acls.size());
    CPPUNIT_ASSERT_EQUAL(std::string("192.0.2.0/24"), t.acls[0]);
    CPPUNIT_ASSERT_EQUAL(std::string("ALL"), t.acls[1]);
    CPPUNIT_ASSERT_EQUAL(std::string("iqn.1993-08.org.debian:01:abc"), t.acls[2]);
  }

  void EmptyAndForeignText() {
    CPPUNIT_ASSERT(ParseTgtShow("").empty());  // tgtd with no targets prints nothing
    CPPUNIT_ASSERT(ParseTgtShow("tgtadm: can't find the target\n").empty());
    // A target line whose tid is not a number is skipped with its body.
    std::vector<TgtTargetShow> all =
        ParseTgtShow("Target x: iqn.2001-04.com.example:a\n    ACL information:\n        ALL\n"
                     "Target 2: iqn.2001-04.com.example:b\r\n    ACL information:\r\n        ALL\r\n");
    CPPUNIT_ASSERT_EQUAL(size_t(1), all.size());
    CPPUNIT_ASSERT_EQUAL(2, all[0].tid);
    CPPUNIT_ASSERT_EQUAL(std::string("iqn.2001-04.com.example:b"), all[0].iqn);
    CPPUNIT_ASSERT_EQUAL(size_t(1), all[0].acls.size());
    CPPUNIT_ASSERT_EQUAL(std::string("ALL"), all[0].acls[0]);
  }

  void Connections() {
    std::vector<TgtConnection> c = ParseTgtConnections(
        "Session: 1\n"
        "    Connection: 0\n"
        "        Initiator: iqn.2024-01.org.vastsky.vmlab:head\n"
        "        IP Address: 10.99.0.254\n"
        "Session: 4\n"
        "    Connection: 0\n"
        "        Initiator: iqn.2024-01.org.vastsky.vmlab:other\n"
        "        IP Address: 10.99.0.253\n"
        "    Connection: 1\n"
        "        Initiator: iqn.2024-01.org.vastsky.vmlab:other\n"
        "        IP Address: 10.99.0.253\n");
    CPPUNIT_ASSERT_EQUAL(size_t(3), c.size());
    CPPUNIT_ASSERT_EQUAL(uint64_t(1), c[0].sid);
    CPPUNIT_ASSERT_EQUAL(uint32_t(0), c[0].cid);
    CPPUNIT_ASSERT_EQUAL(std::string("iqn.2024-01.org.vastsky.vmlab:head"), c[0].initiator);
    CPPUNIT_ASSERT_EQUAL(uint64_t(4), c[2].sid);
    CPPUNIT_ASSERT_EQUAL(uint32_t(1), c[2].cid);
    CPPUNIT_ASSERT_EQUAL(std::string("iqn.2024-01.org.vastsky.vmlab:other"), c[2].initiator);
    CPPUNIT_ASSERT(ParseTgtConnections("").empty());
  }

  void Accounts() {
    std::vector<std::string> a = ParseTgtAccounts("Account list:\n    vastsky-tgt-lock\n    vastsky-head\n");
    CPPUNIT_ASSERT_EQUAL(size_t(2), a.size());
    CPPUNIT_ASSERT_EQUAL(std::string("vastsky-tgt-lock"), a[0]);
    CPPUNIT_ASSERT_EQUAL(std::string("vastsky-head"), a[1]);
    CPPUNIT_ASSERT(ParseTgtAccounts("Account list:\n").empty());
    CPPUNIT_ASSERT(ParseTgtAccounts("").empty());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(TgtParseTest);
