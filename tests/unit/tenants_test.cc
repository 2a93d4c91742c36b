// Tenants (manager/API.md, "Tenants"), through Api::Handle over a real
// Store: a tenant sees and touches only its own volumes, attaches them only
// to the heads it was given, and a refused call changes nothing.
#include <cppunit/extensions/HelperMacros.h>
#include <xmlrpc-c/xml.hpp>

#include <cerrno>
#include <map>
#include <string>
#include <vector>

#include "lib/version.h"
#include "manager/api.h"
#include "manager/credentials.h"
#include "manager/db.h"
#include "tests/unit/api_calls.h"
#include "tests/unit/store_fixture.h"

using namespace vastsky;
using vastsky::testing::Call;
using vastsky::testing::FaultOf;
using vastsky::testing::Outcome;

namespace {

using Members = std::map<std::string, xmlrpc_c::value>;

xmlrpc_c::value Str(const std::string& s) { return xmlrpc_c::value_string(s); }
xmlrpc_c::value Int(int64_t i) { return xmlrpc_c::value_int(static_cast<int>(i)); }

// m with key set to v (an xmlrpc_c::value cannot be assigned twice).
Members With(Members m, const std::string& key, const xmlrpc_c::value& v) {
  m.erase(key);
  m.emplace(key, v);
  return m;
}

}  // namespace

class TenantsTest : public StoreFixture {
  CPPUNIT_TEST_SUITE(TenantsTest);
  CPPUNIT_TEST(TenantListsOnlyItsOwnVolumes);
  CPPUNIT_TEST(AnotherTenantsVolumeDoesNotExistAndNothingChanges);
  CPPUNIT_TEST(TenantAttachesOnlyToItsHeads);
  CPPUNIT_TEST(TenantMakesOnlyItsOwnVolumes);
  CPPUNIT_TEST(CopiesBelongToTheirSourcesTenant);
  CPPUNIT_TEST(EnrollAgainVoidsTheOldSecret);
  CPPUNIT_TEST(UpgradeKeepsEveryCredential);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    StoreFixture::setUp();
    Cluster(3, 1, int64_t(64) << 21);
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &h1_).ok());
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.2"}, &h2_).ok());
    AgentOptions agents;
    agents.secret = "unit-secret-0123456789";
    agents.timeout_ms = agents.quick_timeout_ms = 200;
    api_ = new Api(store_, agents, RecoveryOptions());
    Enroll("pool-a", {h1_});
    Enroll("pool-b", {h2_});
    a1_ = Create(A(), "a1");
    b1_ = Create(B(), "b1");
    CPPUNIT_ASSERT(store_->CreateLogicalVolume("adm", 1, 2, &adm_).ok());
  }
  void tearDown() override {
    delete api_;
    StoreFixture::tearDown();
  }

  // API.md: "A tenant lists only its own volumes".
  void TenantListsOnlyItsOwnVolumes() {
    CPPUNIT_ASSERT(Names(A(), "listLogicalVolumes") == std::vector<std::string>{"a1"});
    CPPUNIT_ASSERT(Names(B(), "listLogicalVolumes") == std::vector<std::string>{"b1"});
    CPPUNIT_ASSERT_EQUAL(size_t(3), Names(AdminCaller(), "listLogicalVolumes").size());
    // Its heads only; the admin's list names every volume's tenant.
    CPPUNIT_ASSERT_EQUAL(size_t(1), Rows(A(), "listHeadServers").size());
    for (const xmlrpc_c::value& v : Rows(AdminCaller(), "listLogicalVolumes")) {
      const std::map<std::string, xmlrpc_c::value> m = xmlrpc_c::value_struct(v).cvalue();
      const std::string name = xmlrpc_c::value_string(m.at("lvolname")), tenant = xmlrpc_c::value_string(m.at("tenant"));
      CPPUNIT_ASSERT_EQUAL(std::string(name == "a1" ? "pool-a" : name == "b1" ? "pool-b" : ""), tenant);
    }
  }

  // API.md: "To a tenant, another tenant's volume (or an admin's) does not
  // exist: ENOENT, and nothing changes."
  void AnotherTenantsVolumeDoesNotExistAndNothingChanges() {
    const std::string before = State();
    const Members by_name{{"lvolname", Str("b1")}}, by_id{{"lvolid", Int(b1_)}}, adm{{"lvolname", Str("adm")}};
    for (const Members& ref : {by_name, by_id, adm}) {
      for (const char* m : {"listLogicalVolumes", "showLogicalVolume", "deleteLogicalVolume", "detachLogicalVolume",
                            "getVolumeFamily"})
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, ENOENT, FaultOf(api_->Handle(A(), Call(m, ref))));
      Members grow = ref, attach = ref, clone = ref, snap{{"snapshot_lvolname", Str("s")}};
      grow["capacity"] = Int(4);
      attach["hsvrid"] = Int(h1_);
      clone["clone_lvolname"] = Str("c");
      snap[ref.count("lvolid") ? "origin_lvolid" : "origin_lvolname"] = ref.begin()->second;
      CPPUNIT_ASSERT_EQUAL(ENOENT, FaultOf(api_->Handle(A(), Call("resizeLogicalVolume", grow))));
      CPPUNIT_ASSERT_EQUAL(ENOENT, FaultOf(api_->Handle(A(), Call("attachLogicalVolume", attach))));
      CPPUNIT_ASSERT_EQUAL(ENOENT, FaultOf(api_->Handle(A(), Call("cloneLogicalVolume", clone))));
      CPPUNIT_ASSERT_EQUAL(ENOENT, FaultOf(api_->Handle(A(), Call("createSnapshot", snap))));
    }
    // Its own volume against another's: both must be its own.
    const Members pair{{"lvolname", Str("a1")}, {"snapshot_lvolname", Str("b1")}, {"base_lvolname", Str("b1")}};
    CPPUNIT_ASSERT_EQUAL(ENOENT, FaultOf(api_->Handle(A(), Call("revertLogicalVolume", pair))));
    CPPUNIT_ASSERT_EQUAL(ENOENT, FaultOf(api_->Handle(A(), Call("listChangedBlocks", pair))));
    // The health checks' names could be anybody's volumes: not for tenants.
    CPPUNIT_ASSERT_EQUAL(0, FaultOf(api_->Handle(A(), Call("getClusterStatus", {}))));
    CPPUNIT_ASSERT_EQUAL(before, State());
    Audit();
  }

  // API.md: "A tenant attaches its volumes only to the heads it was given".
  void TenantAttachesOnlyToItsHeads() {
    const std::string before = State();
    const Members other{{"lvolname", Str("a1")}, {"hsvrid", Int(h2_)}};
    CPPUNIT_ASSERT_EQUAL(EACCES, FaultOf(api_->Handle(A(), Call("attachLogicalVolume", other))));
    CPPUNIT_ASSERT_EQUAL(EACCES, FaultOf(api_->Handle(A(), Call("attachLogicalVolume", With(other, "hsvrid", Int(999))))));
    CPPUNIT_ASSERT_EQUAL(before, State());
    // Given h2 as well, the head is no longer what refuses the attach (its
    // agent, absent here, is).
    CPPUNIT_ASSERT(store_->SetTenantHeads("pool-a", {h1_, h2_}).ok());
    CPPUNIT_ASSERT(FaultOf(api_->Handle(A(), Call("attachLogicalVolume", other))) != EACCES);
    CPPUNIT_ASSERT_EQUAL(size_t(2), Rows(A(), "listHeadServers").size());
    // A head that does not exist is never given, and nothing changes.
    std::vector<int64_t> heads;
    CPPUNIT_ASSERT_EQUAL(ENOENT, store_->SetTenantHeads("pool-a", {h1_, 999}).code());
    CPPUNIT_ASSERT(store_->TenantHeads("pool-a", &heads).ok());
    CPPUNIT_ASSERT(heads == std::vector<int64_t>({h1_, h2_}));
    // A deleted head leaves every tenant's list.
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetHsvr, h2_).ok());
    CPPUNIT_ASSERT(store_->DeleteHeadServer(h2_).ok());
    CPPUNIT_ASSERT(store_->TenantHeads("pool-a", &heads).ok());
    CPPUNIT_ASSERT(heads == std::vector<int64_t>({h1_}));
    Audit();
  }

  void TenantMakesOnlyItsOwnVolumes() {
    const std::string before = State();
    const Members theirs{{"lvolname", Str("x")}, {"capacity", Int(1)}, {"redundancy", Int(2)}, {"tenant", Str("pool-b")}};
    CPPUNIT_ASSERT_EQUAL(EACCES, FaultOf(api_->Handle(A(), Call("createLogicalVolume", theirs))));
    // An admin may make a tenant's volume, of a tenant that exists.
    const Members unknown = With(theirs, "tenant", Str("pool-c")), bad = With(theirs, "tenant", Str("bad name"));
    CPPUNIT_ASSERT_EQUAL(ENOENT, FaultOf(api_->Handle(AdminCaller(), Call("createLogicalVolume", unknown))));
    CPPUNIT_ASSERT_EQUAL(EINVAL, FaultOf(api_->Handle(AdminCaller(), Call("createLogicalVolume", bad))));
    CPPUNIT_ASSERT_EQUAL(before, State());
    CPPUNIT_ASSERT_EQUAL(0, FaultOf(api_->Handle(AdminCaller(), Call("createLogicalVolume", theirs))));
    CPPUNIT_ASSERT(Names(B(), "listLogicalVolumes") == std::vector<std::string>({"b1", "x"}));
    Audit();
  }

  void CopiesBelongToTheirSourcesTenant() {
    // Never attached: its snapshot is made without a head.
    CPPUNIT_ASSERT_EQUAL(0, FaultOf(api_->Handle(A(), Call("createSnapshot", {{"origin_lvolname", Str("a1")},
                                                                               {"snapshot_lvolname", Str("a1s")}}))));
    CPPUNIT_ASSERT_EQUAL(0, FaultOf(api_->Handle(AdminCaller(), Call("cloneLogicalVolume", {{"lvolname", Str("a1s")},
                                                                                            {"clone_lvolname", Str("a1c")}}))));
    CPPUNIT_ASSERT(Names(A(), "listLogicalVolumes") == std::vector<std::string>({"a1", "a1s", "a1c"}));
    CPPUNIT_ASSERT(Names(B(), "listLogicalVolumes") == std::vector<std::string>{"b1"});
    Audit();
  }

  // API.md: "enrollTenant on an existing tenant issues a new secret; the
  // old one is void at once."
  void EnrollAgainVoidsTheOldSecret() {
    CredentialCache cache;
    std::vector<Credential> rows;
    CPPUNIT_ASSERT(store_->ListCredentials(&rows).ok());
    cache.Replace(store_->node_key(), rows);
    std::string old_secret, new_secret;
    Caller who;
    CPPUNIT_ASSERT(CredentialSecret(store_->node_key(), "tenant-pool-a", 1, &old_secret).ok());
    CPPUNIT_ASSERT(cache.Authenticate("tenant-pool-a", old_secret, &who));
    CPPUNIT_ASSERT(who.role == Role::kTenant && who.tenant == "pool-a" && who.id == 0);
    Credential c;
    CPPUNIT_ASSERT(store_->EnrollTenant("pool-a", nullptr, &c).ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(2), c.generation);
    CPPUNIT_ASSERT(c.heads == std::vector<int64_t>{h1_});  // kept: none were given
    CPPUNIT_ASSERT(store_->ListCredentials(&rows).ok());
    cache.Replace(store_->node_key(), rows);
    CPPUNIT_ASSERT(!cache.Authenticate("tenant-pool-a", old_secret, &who));
    CPPUNIT_ASSERT(CredentialSecret(store_->node_key(), "tenant-pool-a", 2, &new_secret).ok());
    CPPUNIT_ASSERT(cache.Authenticate("tenant-pool-a", new_secret, &who));
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->EnrollTenant("", nullptr, &c).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->EnrollTenant("a:b", nullptr, &c).code());
  }

  // manager/schema.cc 10 -> 11: the credential table is made again; every
  // row (and so every secret) stays as it was.
  void UpgradeKeepsEveryCredential() {
    Credential server;
    CPPUNIT_ASSERT(store_->EnrollServer("ssvr", ssvrs_[0], &server).ok());
    delete api_;
    api_ = nullptr;
    delete store_;
    store_ = nullptr;
    {
      Db db;
      CPPUNIT_ASSERT(db.Open(tmp_->path).ok());
      CPPUNIT_ASSERT(db.Exec("DELETE FROM credential WHERE role = 'tenant'; DROP TABLE tenant_head; "
                             "DROP INDEX lvol_tenant; ALTER TABLE lvol DROP COLUMN tenant; "
                             "CREATE TABLE c10(user TEXT PRIMARY KEY, role TEXT NOT NULL CHECK(role IN ('storage', 'head')), "
                             "server_id INTEGER NOT NULL DEFAULT 0, generation INTEGER NOT NULL DEFAULT 1, "
                             "in_use INTEGER NOT NULL DEFAULT 0, ctime TEXT NOT NULL) WITHOUT ROWID; "
                             "INSERT INTO c10 SELECT user, role, server_id, generation, in_use, ctime FROM credential; "
                             "DROP TABLE credential; ALTER TABLE c10 RENAME TO credential; "
                             "CREATE INDEX credential_server ON credential(role, server_id); PRAGMA user_version = 10")
                         .ok());
    }
    store_ = new Store;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, Store::Options()).ok());
    std::vector<Credential> rows;
    CPPUNIT_ASSERT(store_->ListCredentials(&rows).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1), rows.size());
    CPPUNIT_ASSERT(rows[0].user == server.user && rows[0].generation == server.generation &&
                   rows[0].server_id == ssvrs_[0] && rows[0].role == Role::kStorage);
    std::vector<VolumeInfo> vols;
    CPPUNIT_ASSERT(store_->ListLogicalVolumes(nullptr, &vols).ok());
    for (const VolumeInfo& v : vols) CPPUNIT_ASSERT(v.tenant.empty());
    Credential c;
    CPPUNIT_ASSERT(store_->EnrollTenant("pool-a", nullptr, &c).ok());
    Audit();
  }

 private:
  static Caller A() { return Caller{Role::kTenant, 0, "pool-a", "tenant-pool-a"}; }
  static Caller B() { return Caller{Role::kTenant, 0, "pool-b", "tenant-pool-b"}; }

  void Enroll(const std::string& tenant, const std::vector<int64_t>& heads) {
    Credential c;
    CPPUNIT_ASSERT(store_->EnrollTenant(tenant, &heads, &c).ok());
    CPPUNIT_ASSERT(c.user == "tenant-" + tenant && c.role == Role::kTenant && c.heads == heads);
  }

  int64_t Create(const Caller& who, const std::string& name) {
    const xmlrpc_c::rpcOutcome o = Outcome(api_->Handle(
        who, Call("createLogicalVolume", {{"lvolname", Str(name)}, {"capacity", Int(1)}, {"redundancy", Int(2)}})));
    CPPUNIT_ASSERT_MESSAGE(name, o.succeeded());
    return xmlrpc_c::value_int(o.getResult());
  }

  std::vector<xmlrpc_c::value> Rows(const Caller& who, const std::string& method) {
    const xmlrpc_c::rpcOutcome o = Outcome(api_->Handle(who, Call(method, {})));
    CPPUNIT_ASSERT_MESSAGE(method, o.succeeded());
    return xmlrpc_c::value_array(o.getResult()).vectorValueValue();
  }

  std::vector<std::string> Names(const Caller& who, const std::string& method) {
    std::vector<std::string> out;
    for (const xmlrpc_c::value& v : Rows(who, method))
      out.push_back(xmlrpc_c::value_string(xmlrpc_c::value_struct(v).cvalue().at("lvolname")));
    return out;
  }

  // Everything an admin can list, and the events.
  std::string State() {
    std::string out;
    for (const char* m : {"listHeadServers", "listLogicalVolumes", "listEvents", "listCredentials"})
      out += api_->Handle(AdminCaller(), Call(m, {}));
    return out;
  }

  Api* api_ = nullptr;
  int64_t h1_ = 0, h2_ = 0, a1_ = 0, b1_ = 0, adm_ = 0;
};

CPPUNIT_TEST_SUITE_REGISTRATION(TenantsTest);
