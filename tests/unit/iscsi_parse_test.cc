// Reading open-iscsi's session report: which disk belongs to which target.
#include <cppunit/extensions/HelperMacros.h>

#include "agents/host/iscsi_initiator.h"

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
};

CPPUNIT_TEST_SUITE_REGISTRATION(IscsiParseTest);
