// Per-server credentials (manager/API.md, "Enrollment"): secrets derived,
// never stored; the cache the HTTP threads check; and the Store's rules for
// binding a credential to the server it registers.
#include <cppunit/extensions/HelperMacros.h>

#include <cerrno>
#include <string>
#include <vector>

#include "lib/ids.h"
#include "manager/credentials.h"
#include "tests/unit/store_fixture.h"

using namespace vastsky;

class CredentialsTest : public StoreFixture {
  CPPUNIT_TEST_SUITE(CredentialsTest);
  CPPUNIT_TEST(SecretIsDerivedFromKeyUserAndGeneration);
  CPPUNIT_TEST(CacheChecksTheCurrentSecret);
  CPPUNIT_TEST(UnboundCredentialRegistersOnlyANewServer);
  CPPUNIT_TEST(BoundCredentialRegistersOnlyItsServer);
  CPPUNIT_TEST(EnrollAndRevokeFaults);
  CPPUNIT_TEST(ManagerCallsAnAgentWithItsCredentialOnceInUse);
  CPPUNIT_TEST_SUITE_END();

 public:
  void SecretIsDerivedFromKeyUserAndGeneration() {
    std::string a, b, c, d, again;
    CPPUNIT_ASSERT(CredentialSecret("key-1", "ssvr-00000001", 1, &a).ok());
    CPPUNIT_ASSERT(CredentialSecret("key-1", "ssvr-00000001", 2, &b).ok());
    CPPUNIT_ASSERT(CredentialSecret("key-1", "ssvr-00000002", 1, &c).ok());
    CPPUNIT_ASSERT(CredentialSecret("key-2", "ssvr-00000001", 1, &d).ok());
    CPPUNIT_ASSERT(CredentialSecret("key-1", "ssvr-00000001", 1, &again).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(32), a.size());
    CPPUNIT_ASSERT_EQUAL(a, again);
    CPPUNIT_ASSERT(a != b && a != c && a != d);
    // The node key is made with the database, 64 hex digits.
    CPPUNIT_ASSERT_EQUAL(size_t(64), store_->node_key().size());
  }

  void CacheChecksTheCurrentSecret() {
    Credential cred;
    CPPUNIT_ASSERT(store_->EnrollServer("ssvr", 0, &cred).ok());
    CredentialCache cache;
    Refresh(&cache);
    std::string secret, old;
    CPPUNIT_ASSERT(CredentialSecret(store_->node_key(), cred.user, cred.generation, &secret).ok());
    Caller who;
    CPPUNIT_ASSERT(cache.Authenticate(cred.user, secret, &who));
    CPPUNIT_ASSERT(who.role == Role::kStorage && who.id == 0 && who.user == cred.user);
    CPPUNIT_ASSERT(!cache.Authenticate(cred.user, secret + "x", &who));
    CPPUNIT_ASSERT(!cache.Authenticate("ssvr-00000099", secret, &who));
    CPPUNIT_ASSERT(!cache.Authenticate("admin", secret, &who));
    // API.md: "revokeCredential voids the secret at once".
    CPPUNIT_ASSERT(store_->RevokeCredential(cred.user).ok());
    Refresh(&cache);
    CPPUNIT_ASSERT(!cache.Authenticate(cred.user, secret, &who));
  }

  // API.md: "An unbound credential registers a new server only".
  void UnboundCredentialRegistersOnlyANewServer() {
    Cluster(1, 1, int64_t(64) << 21);
    Credential cred;
    CPPUNIT_ASSERT(store_->EnrollServer("ssvr", 0, &cred).ok());
    const Caller unbound{Role::kStorage, 0, "", cred.user};
    int64_t id = 0;
    // 127.1.0.1 is ssvrs_[0]'s, down or alive.
    CPPUNIT_ASSERT_EQUAL(EACCES, store_->RegisterStorageServer({"127.1.0.1"}, nullptr, &id, true, nullptr, &unbound).code());
    CPPUNIT_ASSERT_EQUAL(int64_t(0), Listed(cred.user).server_id);
    // A head credential never registers a storage server.
    Credential head;
    CPPUNIT_ASSERT(store_->EnrollServer("hsvr", 0, &head).ok());
    const Caller wrong_role{Role::kHead, 0, "", head.user};
    CPPUNIT_ASSERT_EQUAL(EACCES, store_->RegisterStorageServer({"127.1.9.9"}, nullptr, &id, false, nullptr, &wrong_role).code());
    CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.9.1"}, nullptr, &id, false, nullptr, &unbound).ok());
    const Credential bound = Listed(cred.user);
    CPPUNIT_ASSERT_EQUAL(id, bound.server_id);
    CPPUNIT_ASSERT(bound.in_use);
    Audit();
  }

  // API.md: "A storage or head caller acts only for its own server".
  void BoundCredentialRegistersOnlyItsServer() {
    Cluster(2, 1, int64_t(64) << 21);
    Credential cred;
    CPPUNIT_ASSERT(store_->EnrollServer("ssvr", ssvrs_[0], &cred).ok());
    CPPUNIT_ASSERT_EQUAL(FormatId("ssvr", ssvrs_[0]), cred.user);
    CPPUNIT_ASSERT(!Listed(cred.user).in_use);
    const Caller mine{Role::kStorage, ssvrs_[0], "", cred.user};
    int64_t id = 0;
    CPPUNIT_ASSERT_EQUAL(EACCES, store_->RegisterStorageServer({"127.1.0.2"}, nullptr, &id, true, nullptr, &mine).code());
    CPPUNIT_ASSERT_EQUAL(EACCES, store_->RegisterStorageServer({"127.1.7.7"}, nullptr, &id, false, nullptr, &mine).code());
    CPPUNIT_ASSERT(!Listed(cred.user).in_use);
    CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.0.1"}, nullptr, &id, true, nullptr, &mine).ok());
    CPPUNIT_ASSERT_EQUAL(ssvrs_[0], id);
    CPPUNIT_ASSERT(Listed(cred.user).in_use);
    // Enrolled again: a new generation, not in use until it registers.
    Credential again;
    CPPUNIT_ASSERT(store_->EnrollServer("ssvr", ssvrs_[0], &again).ok());
    CPPUNIT_ASSERT_EQUAL(cred.user, again.user);
    CPPUNIT_ASSERT_EQUAL(cred.generation + 1, again.generation);
    CPPUNIT_ASSERT(!Listed(cred.user).in_use);
    // Bad blocks on another server's disk are refused.
    CPPUNIT_ASSERT_EQUAL(EACCES, store_->NotifyBadBlocks(pdsks_[1], {0}, &mine).code());
    Audit();
  }

  void EnrollAndRevokeFaults() {
    Credential cred;
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->EnrollServer("pdsk", 0, &cred).code());
    CPPUNIT_ASSERT_EQUAL(ENOENT, store_->EnrollServer("ssvr", 42, &cred).code());
    CPPUNIT_ASSERT_EQUAL(ENOENT, store_->RevokeCredential("ssvr-0000002a").code());
    std::vector<Credential> rows;
    CPPUNIT_ASSERT(store_->ListCredentials(&rows).ok());
    CPPUNIT_ASSERT(rows.empty());
  }

  void ManagerCallsAnAgentWithItsCredentialOnceInUse() {
    int64_t id = 0;
    const std::string url = "https://127.1.0.1:8883/RPC2";
    Credential cred;
    CPPUNIT_ASSERT(store_->EnrollServer("ssvr", 0, &cred).ok());
    const Caller unbound{Role::kStorage, 0, "", cred.user};
    CredentialCache cache;
    Refresh(&cache);
    std::string user, password;
    CPPUNIT_ASSERT(!cache.AgentCredential(url, &user, &password));
    CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.0.1"}, nullptr, &id, false, &url, &unbound).ok());
    Refresh(&cache);
    CPPUNIT_ASSERT(cache.AgentCredential(url, &user, &password));
    std::string secret;
    CPPUNIT_ASSERT(CredentialSecret(store_->node_key(), cred.user, cred.generation, &secret).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("manager"), user);
    CPPUNIT_ASSERT_EQUAL(secret, password);
    CPPUNIT_ASSERT(!cache.AgentCredential("https://127.1.0.2:8883/RPC2", &user, &password));
  }

 private:
  void Refresh(CredentialCache* cache) {
    std::vector<Credential> rows;
    CPPUNIT_ASSERT(store_->ListCredentials(&rows).ok());
    cache->Replace(store_->node_key(), rows);
  }
  Credential Listed(const std::string& user) {
    std::vector<Credential> rows;
    CPPUNIT_ASSERT(store_->ListCredentials(&rows).ok());
    for (const Credential& c : rows)
      if (c.user == user) return c;
    CPPUNIT_FAIL("no credential " + user);
    return Credential();
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(CredentialsTest);
