// The XCP driver's pure parts: the SMAPIv1 wire format as xapi sends it and
// as Python SM answers it, the SR/VDI naming scheme, device-config checking,
// and the changed-block bitmap xapi's list_changed_blocks returns. (The
// driver as a whole: tests/integration/test_sm_driver.py.)
#include <cppunit/extensions/HelperMacros.h>

#include "lib/ids.h"
#include "sm_plugin/changed_blocks.h"
#include "sm_plugin/faults.h"
#include "sm_plugin/naming.h"
#include "sm_plugin/sr_config.h"
#include "xapi/smapi_wire.h"

using namespace vastsky;

class SmPluginTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SmPluginTest);
  CPPUNIT_TEST(ParsesXapisCompactCall);
  CPPUNIT_TEST(RefusesWhatIsNotACall);
  CPPUNIT_TEST(AnswersAsPythonSmDoes);
  CPPUNIT_TEST(SrTagsRoundTripAndFitVolumeNames);
  CPPUNIT_TEST(SizesAndNames);
  CPPUNIT_TEST(DeviceConfig);
  CPPUNIT_TEST(CbtBitmapIsXapisFormat);
  CPPUNIT_TEST(CbtBitmapMarksPartlyCoveredBlocks);
  CPPUNIT_TEST(CbtBitmapRefusesNonsense);
  CPPUNIT_TEST(ManagerTimes);
  CPPUNIT_TEST_SUITE_END();

  static std::vector<unsigned char> Bitmap(int64_t bytes, int64_t kib, std::vector<int64_t> ranges) {
    std::vector<unsigned char> out;
    sm::ChangedRuns runs;
    runs.block_kib = kib;
    runs.ranges = std::move(ranges);
    CPPUNIT_ASSERT(sm::CbtBitmap(bytes, runs, &out).ok());
    return out;
  }

 public:
  void ParsesXapisCompactCall() {
    // What sm_exec.ml sends: bare strings, <value/> for "", SRmaster inside.
    const std::string call =
        "<methodCall><methodName>vdi_create</methodName><params><param><value><struct>"
        "<member><name>host_ref</name><value>OpaqueRef:h</value></member>"
        "<member><name>command</name><value>vdi_create</value></member>"
        "<member><name>args</name><value><array><data><value>1073741824</value><value>a &amp; b</value>"
        "<value/></data></array></value></member>"
        "<member><name>device_config</name><value><struct><member><name>SRmaster</name><value>true</value>"
        "</member></struct></value></member>"
        "<member><name>session_ref</name><value>OpaqueRef:s</value></member>"
        "<member><name>vdi_sm_config</name><value><struct/></value></member>"
        "<member><name>local_cache_sr</name><value>ignored</value></member>"
        "</struct></value></param></params></methodCall>";
    SmRequest r;
    CPPUNIT_ASSERT(ParseSmRequest(call, &r).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("vdi_create"), r.command);
    CPPUNIT_ASSERT_EQUAL(size_t(3), r.args.size());
    CPPUNIT_ASSERT_EQUAL(std::string("a & b"), r.args[1]);
    CPPUNIT_ASSERT_EQUAL(std::string(""), r.args[2]);
    CPPUNIT_ASSERT(r.master());
    CPPUNIT_ASSERT_EQUAL(std::string("OpaqueRef:s"), r.session_ref);
  }

  void RefusesWhatIsNotACall() {
    SmRequest r;
    CPPUNIT_ASSERT_EQUAL(EINVAL, ParseSmRequest("nonsense", &r).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, ParseSmRequest("<methodCall><methodName>x</methodName><params/></methodCall>", &r).code());
    // command must agree with the method; args must be strings
    CPPUNIT_ASSERT_EQUAL(EINVAL, ParseSmRequest("<methodCall><methodName>x</methodName><params><param><value><struct>"
                                                "<member><name>command</name><value>y</value></member>"
                                                "</struct></value></param></params></methodCall>",
                                                &r)
                                     .code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, ParseSmRequest("<methodCall><methodName>x</methodName><params><param><value><struct>"
                                                "<member><name>args</name><value><array><data><value><int>1</int>"
                                                "</value></data></array></value></member>"
                                                "</struct></value></param></params></methodCall>",
                                                &r)
                                     .code());
  }

  void AnswersAsPythonSmDoes() {
    // xmlrpc.client.dumps((None,), "", True, allow_none=True)
    CPPUNIT_ASSERT_EQUAL(std::string("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n"
                                     "<value><nil/></value></param>\n</params>\n</methodResponse>\n"),
                         FormatResponse(xmlrpc_c::value_nil()));
    CPPUNIT_ASSERT_EQUAL(std::string("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><struct>\n"
                                     "<member>\n<name>location</name>\n<value><string>a&lt;b</string></value>\n"
                                     "</member>\n</struct></value>\n</param>\n</params>\n</methodResponse>\n"),
                         FormatResponse(StringStruct({{"location", "a<b"}})));
    CPPUNIT_ASSERT_EQUAL(std::string("<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n"
                                     "<name>faultCode</name>\n<value><int>24</int></value>\n</member>\n<member>\n"
                                     "<name>faultString</name>\n<value><string>in use</string></value>\n</member>\n"
                                     "</struct></value>\n</fault>\n</methodResponse>\n"),
                         FormatFault(24, "in use"));
  }

  void SrTagsRoundTripAndFitVolumeNames() {
    const std::string sr = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", vdi = "12345678-9ABC-def0-1234-56789abcdef0";
    const std::string tag = sm::SrTag(sr);
    CPPUNIT_ASSERT_EQUAL(size_t(22), tag.size());
    std::string back;
    CPPUNIT_ASSERT(sm::SrUuidOfTag(tag, &back));
    CPPUNIT_ASSERT_EQUAL(sr, back);
    const std::string name = sm::LvolName(sr, vdi);
    std::string why, uuid, t;
    CPPUNIT_ASSERT_MESSAGE(why, ValidVolumeName(name, &why));
    CPPUNIT_ASSERT(sm::InSr(name, sr, &uuid));
    CPPUNIT_ASSERT_EQUAL(std::string("12345678-9abc-def0-1234-56789abcdef0"), uuid);
    CPPUNIT_ASSERT(sm::TagOf(name, &t) && t == tag);
    CPPUNIT_ASSERT(!sm::InSr(name, "00000000-4b5a-6978-8796-a5b4c3d2e1f0"));
    CPPUNIT_ASSERT(!sm::TagOf("plain-volume", &t));
    CPPUNIT_ASSERT(!sm::SrUuidOfTag("short", &back));
    std::string fresh;
    CPPUNIT_ASSERT(sm::NewUuid(&fresh).ok() && sm::ValidUuid(fresh) && fresh[14] == '4');
  }

  void SizesAndNames() {
    int64_t b = 0;
    CPPUNIT_ASSERT(sm::ParseBytes("1073741825", &b) && sm::GiBFor(b) == 2);
    CPPUNIT_ASSERT(!sm::ParseBytes("-1", &b) && !sm::ParseBytes("1e9", &b) && !sm::ParseBytes("", &b));
    CPPUNIT_ASSERT(!sm::ParseBytes("99999999999999999999", &b));
    CPPUNIT_ASSERT(sm::LegalXml("disk\twith tab, é"));
    CPPUNIT_ASSERT(!sm::LegalXml("nul\x01"));
    CPPUNIT_ASSERT(!sm::LegalXml("c1 \xc2\x85"));
  }

  void DeviceConfig() {
    HostSettings host;
    host.secret_file = "/nonexistent/secret";
    sm::SrConfig c;
    CPPUNIT_ASSERT_EQUAL(int(sm::kConfigParamsMissing), sm::ParseSrConfig({}, host, nullptr, &c).code());
    StringMap dc = {{"manager", "https://a:8881/RPC2, https://b:8881/RPC2"}, {"password", "0123456789abcdef"}};
    CPPUNIT_ASSERT(sm::ParseSrConfig(dc, host, nullptr, &c).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(2), c.managers.size());
    CPPUNIT_ASSERT_EQUAL(3, c.redundancy);
    // lib/rpc_client.h: plain HTTP only to loopback, for every manager listed.
    dc["manager"] = "https://a:8881/RPC2,http://10.0.0.5:8881/RPC2";
    Status plain = sm::ParseSrConfig(dc, host, nullptr, &c);
    CPPUNIT_ASSERT_EQUAL(int(sm::kConfigInvalid), plain.code());
    CPPUNIT_ASSERT(plain.message().find("device-config manager 'http://10.0.0.5:8881/RPC2'") == 0);
    dc["manager"] = "http://127.0.0.1:8881/RPC2";
    CPPUNIT_ASSERT(sm::ParseSrConfig(dc, host, nullptr, &c).ok());
    dc["manager"] = "https://a:8881/RPC2, https://b:8881/RPC2";
    dc["redundancy"] = "10";
    CPPUNIT_ASSERT_EQUAL(int(sm::kConfigInvalid), sm::ParseSrConfig(dc, host, nullptr, &c).code());
    dc["redundancy"] = "2";
    dc["placement"] = "domain";
    CPPUNIT_ASSERT(sm::ParseSrConfig(dc, host, nullptr, &c).ok() && c.placement == sm::Placement::kDomain);
    dc["password_secret"] = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";  // no xapi to ask
    CPPUNIT_ASSERT_EQUAL(int(sm::kConfigInvalid), sm::ParseSrConfig(dc, host, nullptr, &c).code());
    dc.erase("password_secret");
    dc.erase("password");  // and no secret file either
    CPPUNIT_ASSERT_EQUAL(int(sm::kConfigParamsMissing), sm::ParseSrConfig(dc, host, nullptr, &c).code());
  }

  // xapi: one bit per 64 KiB block, the most significant bit of a byte
  // first (xcp-ng/sm VDI.list_changed_blocks), whole bytes, base64.
  void CbtBitmapIsXapisFormat() {
    const int64_t kKiB = 1024;
    CPPUNIT_ASSERT_EQUAL(size_t(2048), Bitmap(int64_t(1) << 30, 64, {}).size());  // 16384 blocks, nothing changed
    CPPUNIT_ASSERT(Bitmap(int64_t(1) << 30, 64, {}) == std::vector<unsigned char>(2048, 0));
    CPPUNIT_ASSERT_EQUAL(size_t(2), Bitmap(100 * 64 * kKiB / 10, 64, {}).size());  // 10 blocks: two bytes
    CPPUNIT_ASSERT((Bitmap(24 * 64 * kKiB, 64, {0, 1}) == std::vector<unsigned char>{0x80, 0, 0}));
    CPPUNIT_ASSERT((Bitmap(24 * 64 * kKiB, 64, {9, 1}) == std::vector<unsigned char>{0, 0x40, 0}));
    CPPUNIT_ASSERT((Bitmap(24 * 64 * kKiB, 64, {3, 14}) == std::vector<unsigned char>{0x1f, 0xff, 0x80}));
    CPPUNIT_ASSERT((Bitmap(24 * 64 * kKiB, 64, {0, 2, 7, 1, 23, 1}) == std::vector<unsigned char>{0xc1, 0, 0x01}));
    sm::ChangedRuns runs;
    runs.block_kib = 64;
    runs.ranges = {0, 1};
    std::string b64;
    CPPUNIT_ASSERT(sm::CbtBitmapBase64(24 * 64 * kKiB, runs, &b64).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("gAAA"), b64);
    runs.ranges = {1, 1};
    CPPUNIT_ASSERT(sm::CbtBitmapBase64(2 * 64 * kKiB, runs, &b64).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("QA=="), b64);  // padded, as Python's b64encode
  }

  // Smaller manager blocks: a 64 KiB block any changed byte falls in is marked.
  void CbtBitmapMarksPartlyCoveredBlocks() {
    const int64_t k64 = 64 * 1024;
    CPPUNIT_ASSERT((Bitmap(8 * k64, 4, {15, 2}) == std::vector<unsigned char>{0xc0}));   // 60..68 KiB
    CPPUNIT_ASSERT((Bitmap(8 * k64, 4, {16, 16}) == std::vector<unsigned char>{0x40}));  // exactly block 1
    CPPUNIT_ASSERT((Bitmap(8 * k64, 16, {3, 1}) == std::vector<unsigned char>{0x80}));   // 48..64 KiB
    // A VDI that is no whole number of blocks, and runs past its end (cut).
    CPPUNIT_ASSERT((Bitmap(100 * 1024, 4, {20, 1}) == std::vector<unsigned char>{0x40}));
    CPPUNIT_ASSERT((Bitmap(2 * k64, 64, {1, 100}) == std::vector<unsigned char>{0x40}));
    CPPUNIT_ASSERT((Bitmap(2 * k64, 64, {5, 1, 0, 0}) == std::vector<unsigned char>{0x00}));
    CPPUNIT_ASSERT((Bitmap(2 * k64, 64, {0, int64_t(1) << 62}) == std::vector<unsigned char>{0xc0}));
    CPPUNIT_ASSERT(Bitmap(0, 64, {0, 1}).empty());
  }

  void CbtBitmapRefusesNonsense() {
    std::vector<unsigned char> out;
    sm::ChangedRuns runs;
    runs.ranges = {0, 1};
    CPPUNIT_ASSERT_EQUAL(EPROTO, sm::CbtBitmap(1 << 20, runs, &out).code());  // block_kib 0
    runs.block_kib = 64;
    runs.ranges = {0, 1, 2};
    CPPUNIT_ASSERT_EQUAL(EPROTO, sm::CbtBitmap(1 << 20, runs, &out).code());
    runs.ranges = {-1, 1};
    CPPUNIT_ASSERT_EQUAL(EPROTO, sm::CbtBitmap(1 << 20, runs, &out).code());
    runs.ranges = {0, -1};
    CPPUNIT_ASSERT_EQUAL(EPROTO, sm::CbtBitmap(1 << 20, runs, &out).code());
  }

  void ManagerTimes() {
    CPPUNIT_ASSERT_EQUAL(time_t(1796397708), sm::ParseUtc("2026-12-04T15:21:48"));
    CPPUNIT_ASSERT_EQUAL(time_t(0), sm::ParseUtc("yesterday"));
    CPPUNIT_ASSERT_EQUAL(time_t(0), sm::ParseUtc("2026-12-04T15:21:48Z"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SmPluginTest);
