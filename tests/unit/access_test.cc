// Who may call what (manager/API.md, "Roles"), through Api::Handle with
// each kind of Caller, over a real Store: the role table names only methods
// the manager serves, and every method a role may not call is refused with
// EACCES before anything is read or changed.
#include <cppunit/extensions/HelperMacros.h>
#include <xmlrpc-c/xml.hpp>

#include <algorithm>
#include <cerrno>
#include <map>
#include <string>

#include "lib/version.h"
#include "manager/access.h"
#include "manager/api.h"
#include "tests/unit/api_calls.h"
#include "tests/unit/store_fixture.h"

using namespace vastsky;
using vastsky::testing::Call;
using vastsky::testing::FaultOf;

namespace {

Caller As(Role role) { return Caller{role, role == Role::kTenant ? 0 : 1, role == Role::kTenant ? "pool-a" : "", "t"}; }

}  // namespace

class AccessTest : public StoreFixture {
  CPPUNIT_TEST_SUITE(AccessTest);
  CPPUNIT_TEST(RoleTableNamesServedMethods);
  CPPUNIT_TEST(EachRoleRefusedWhatItMayNotCall);
  CPPUNIT_TEST(RefusedCallsChangeNothing);
  CPPUNIT_TEST(AllowedCallsGoThrough);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    StoreFixture::setUp();
    Cluster(2, 1, int64_t(64) << 21);
    AgentOptions agents;
    agents.secret = "unit-secret-0123456789";
    agents.timeout_ms = agents.quick_timeout_ms = 200;
    api_ = new Api(store_, agents, RecoveryOptions());
  }
  void tearDown() override {
    delete api_;
    StoreFixture::tearDown();
  }

  // A typo in the table would silently refuse a method a role needs.
  void RoleTableNamesServedMethods() {
    const std::vector<std::string>& served = api_->Methods();
    CPPUNIT_ASSERT(served.size() >= 37);
    for (Role role : {Role::kStorage, Role::kHead, Role::kTenant})
      for (const std::string& m : MethodsOf(role))
        CPPUNIT_ASSERT_MESSAGE(m, std::find(served.begin(), served.end(), m) != served.end());
  }

  // API.md: "A call a role may not make is refused with EACCES, whatever
  // its parameters, and changes nothing."
  void EachRoleRefusedWhatItMayNotCall() {
    int refused = 0;
    for (Role role : {Role::kNone, Role::kManager, Role::kStorage, Role::kHead, Role::kTenant}) {
      const std::vector<std::string>& allowed = MethodsOf(role);
      for (const std::string& m : api_->Methods()) {
        const int code = FaultOf(api_->Handle(As(role), Call(m, {})));
        const bool may = std::find(allowed.begin(), allowed.end(), m) != allowed.end();
        CPPUNIT_ASSERT_MESSAGE(std::string(RoleName(role)) + " " + m, may ? code != EACCES : code == EACCES);
        refused += !may;
      }
    }
    // Admin is refused nothing (its faults here are about the missing
    // parameters).
    for (const std::string& m : api_->Methods()) CPPUNIT_ASSERT(FaultOf(api_->Handle(AdminCaller(), Call(m, {}))) != EACCES);
    CPPUNIT_ASSERT(refused > 100);
  }

  void RefusedCallsChangeNothing() {
    const std::string before = State();
    const Caller tenant = As(Role::kTenant), storage = As(Role::kStorage), head = As(Role::kHead);
    const std::string del = Call("deleteStorageServer", {{"ssvrid", xmlrpc_c::value_int(int(ssvrs_[0]))}});
    const std::string create = Call("createLogicalVolume", {{"lvolname", xmlrpc_c::value_string("x1")},
                                                            {"capacity", xmlrpc_c::value_int(1)},
                                                            {"redundancy", xmlrpc_c::value_int(2)}});
    const std::string drain = Call("drainStorageServer", {{"ssvrid", xmlrpc_c::value_int(int(ssvrs_[0]))}});
    const std::string setting = Call("setClusterSetting", {{"name", xmlrpc_c::value_string("failure_grace")},
                                                           {"value", xmlrpc_c::value_string("1")}});
    for (const Caller& c : {tenant, storage, head}) {
      CPPUNIT_ASSERT_EQUAL(EACCES, FaultOf(api_->Handle(c, del)));
      CPPUNIT_ASSERT_EQUAL(EACCES, FaultOf(api_->Handle(c, drain)));
      CPPUNIT_ASSERT_EQUAL(EACCES, FaultOf(api_->Handle(c, setting)));
    }
    CPPUNIT_ASSERT_EQUAL(EACCES, FaultOf(api_->Handle(storage, create)));
    CPPUNIT_ASSERT_EQUAL(EACCES, FaultOf(api_->Handle(head, create)));
    CPPUNIT_ASSERT_EQUAL(before, State());
    Audit();
  }

  void AllowedCallsGoThrough() {
    CPPUNIT_ASSERT_EQUAL(0, FaultOf(api_->Handle(As(Role::kTenant), Call("listLogicalVolumes", {}))));
    CPPUNIT_ASSERT_EQUAL(0, FaultOf(api_->Handle(As(Role::kStorage), Call("getClusterStatus", {}))));
    CPPUNIT_ASSERT_EQUAL(0, FaultOf(api_->Handle(AdminCaller(), Call("listStorageServers", {}))));
  }

 private:
  // Everything an admin can list, and the events.
  std::string State() {
    std::string out;
    for (const char* m : {"listStorageServers", "listPhysicalDisks", "listHeadServers", "listLogicalVolumes",
                          "listEvents", "getClusterStatus"})
      out += api_->Handle(AdminCaller(), Call(m, {}));
    return out;
  }

  Api* api_ = nullptr;
};

CPPUNIT_TEST_SUITE_REGISTRATION(AccessTest);
