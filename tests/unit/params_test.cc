// API validation before any state is touched: the 3.0 envelope (one struct,
// ver 5), member types, ids, and the shared parsers for sizes, ids and names.
#include <cppunit/extensions/HelperMacros.h>

#include <cerrno>

#include "lib/ids.h"
#include "lib/units.h"
#include "lib/api_params.h"

using namespace vastsky;

namespace {
using Struct = std::map<std::string, xmlrpc_c::value>;

xmlrpc_c::paramList One(Struct s) {
  xmlrpc_c::paramList p;
  p.add(xmlrpc_c::value_struct(s));
  return p;
}
Struct WithVer(Struct s) {
  s["ver"] = xmlrpc_c::value_int(5);
  return s;
}
}  // namespace

class ParamsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ParamsTest);
  CPPUNIT_TEST(EnvelopeRules);
  CPPUNIT_TEST(MemberTypes);
  CPPUNIT_TEST(VolumeRefIdWins);
  CPPUNIT_TEST(SizesWithUnits);
  CPPUNIT_TEST(IdsAndNames);
  CPPUNIT_TEST_SUITE_END();

 public:
  void EnvelopeRules() {
    Params p;
    CPPUNIT_ASSERT_EQUAL(EINVAL, Params::From(xmlrpc_c::paramList(), &p).code());
    xmlrpc_c::paramList two = One(WithVer({}));
    two.add(xmlrpc_c::value_int(1));
    CPPUNIT_ASSERT_EQUAL(EINVAL, Params::From(two, &p).code());
    xmlrpc_c::paramList notstruct;
    notstruct.add(xmlrpc_c::value_int(5));
    CPPUNIT_ASSERT_EQUAL(EINVAL, Params::From(notstruct, &p).code());
    CPPUNIT_ASSERT_EQUAL(EPROTO, Params::From(One({}), &p).code());
    CPPUNIT_ASSERT_EQUAL(EPROTO, Params::From(One({{"ver", xmlrpc_c::value_int(4)}}), &p).code());
    CPPUNIT_ASSERT_EQUAL(EPROTO, Params::From(One({{"ver", xmlrpc_c::value_string("5")}}), &p).code());
    CPPUNIT_ASSERT(Params::From(One(WithVer({})), &p).ok());
  }

  void MemberTypes() {
    Params p;
    CPPUNIT_ASSERT(Params::From(One(WithVer({{"n", xmlrpc_c::value_int(7)},
                                             {"b", xmlrpc_c::value_boolean(true)},
                                             {"s", xmlrpc_c::value_string("x")},
                                             {"big", xmlrpc_c::value_i8(1LL << 40)},
                                             {"neg", xmlrpc_c::value_int(-3)},
                                             {"a", xmlrpc_c::value_array({xmlrpc_c::value_string("1.2.3.4"), xmlrpc_c::value_int(1)})}})),
                                &p).ok());
    int64_t n;
    std::string s;
    CPPUNIT_ASSERT(p.Int("n", &n).ok());
    CPPUNIT_ASSERT_EQUAL(EINVAL, p.Int("b", &n).code());  // a boolean is not an int
    CPPUNIT_ASSERT_EQUAL(EINVAL, p.Int("s", &n).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, p.Int("missing", &n).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, p.String("n", &s).code());
    CPPUNIT_ASSERT(p.Int("big", &n).ok());
    CPPUNIT_ASSERT_EQUAL(EINVAL, p.Id("big", &n).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, p.Id("neg", &n).code());
    std::vector<std::string> ips;
    CPPUNIT_ASSERT_EQUAL(EINVAL, p.StringArray("a", 8, &ips).code());  // mixed types
    std::vector<std::string> one;
    CPPUNIT_ASSERT_EQUAL(EINVAL, p.StringArray("a", 1, &one).code());  // too many
    double d;
    CPPUNIT_ASSERT(p.Double("n", &d).ok());
    CPPUNIT_ASSERT_EQUAL(7.0, d);
  }

  void VolumeRefIdWins() {
    Params p;
    CPPUNIT_ASSERT(Params::From(One(WithVer({{"lvolid", xmlrpc_c::value_int(9)}, {"lvolname", xmlrpc_c::value_string("x")}})), &p).ok());
    VolumeRef ref;
    CPPUNIT_ASSERT(p.Volume("lvol", &ref).ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(9), ref.id);
    Params q;
    CPPUNIT_ASSERT(Params::From(One(WithVer({})), &q).ok());
    CPPUNIT_ASSERT_EQUAL(EINVAL, q.Volume("lvol", &ref).code());
  }

  void SizesWithUnits() {
    uint64_t b;
    std::string why;
    CPPUNIT_ASSERT(ParseSize("10G", &b, &why) && b == 10ull << 30);
    CPPUNIT_ASSERT(ParseSize("1T", &b, &why) && b == 1ull << 40);
    CPPUNIT_ASSERT(ParseSize("1.5t", &b, &why) && b == 1536ull << 30);
    CPPUNIT_ASSERT(ParseSize("20GiB", &b, &why) && b == 20ull << 30);
    CPPUNIT_ASSERT(ParseSize("512", &b, &why) && b == 512ull << 20);
    CPPUNIT_ASSERT(!ParseSize("-1G", &b, &why));
    CPPUNIT_ASSERT(!ParseSize("G", &b, &why));
    CPPUNIT_ASSERT(!ParseSize("10X", &b, &why));
    CPPUNIT_ASSERT(!ParseSize("1.2.3G", &b, &why));
    CPPUNIT_ASSERT(!ParseSize("99999999999P", &b, &why));
    CPPUNIT_ASSERT_EQUAL(std::string("1.50 TiB"), FormatBytes(1536ull << 30));
  }

  void IdsAndNames() {
    int64_t id;
    CPPUNIT_ASSERT(ParseId("lvol-0000002a", "lvol", &id) && id == 42);
    CPPUNIT_ASSERT(ParseId("0000002A", "lvol", &id) && id == 42);
    CPPUNIT_ASSERT(!ParseId("lvol-2a", "lvol", &id));
    CPPUNIT_ASSERT(!ParseId("00000000", "lvol", &id));
    CPPUNIT_ASSERT_EQUAL(std::string("pdsk-000000ff"), FormatId("pdsk", 255));
    std::string why;
    CPPUNIT_ASSERT(ValidVolumeName("db-1.data_x", &why));
    CPPUNIT_ASSERT(!ValidVolumeName("", &why));
    CPPUNIT_ASSERT(!ValidVolumeName(std::string(65, 'a'), &why));
    CPPUNIT_ASSERT(ValidVolumeName(std::string(64, 'a'), &why));
    CPPUNIT_ASSERT(!ValidVolumeName("..", &why));
    CPPUNIT_ASSERT(!ValidVolumeName("x'); DROP TABLE lvol;--", &why));
    CPPUNIT_ASSERT(!ValidVolumeName("lvol-0000002a", &why));
    CPPUNIT_ASSERT(!ValidVolumeName("deadbeef", &why));
    CPPUNIT_ASSERT(!ValidVolumeName("caf\xc3\xa9", &why));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ParamsTest);
