// Per-server and tenant credentials (manager/API.md, "Enrollment",
// "Tenants"). A credential is a row of the database: its HTTP Basic user,
// role, the server it is bound to (0 until that server first registers)
// or the tenant it is, and a generation. Its secret is
// never stored: it is HMAC-SHA256 of "user:generation" under the cluster's
// node key (random, in the database), so the manager checks a secret by
// computing it again, and can call an agent with that agent's own
// credential. A revoke bumps the generation, which voids the old secret at
// once.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "lib/caller.h"
#include "lib/status.h"

namespace vastsky {

struct Credential {
  std::string user;  // "ssvr-0000000a", "ssvr-new-1f2e3d4c" until bound, "tenant-NAME"
  Role role = Role::kNone;
  int64_t server_id = 0;  // 0: not bound yet (or a tenant)
  std::string tenant;     // a tenant's namespace ("" for servers)
  std::vector<int64_t> heads;  // the heads a tenant may attach its volumes to
  int64_t generation = 1;
  std::string ctime;
  bool in_use = false;    // its agent registered with it: the manager calls it with it
  std::string agent_url;  // that server's agent's url ("" if none or unbound)
};

// EINVAL unless name is a tenant's: 1 to 48 of [A-Za-z0-9._-].
Status CheckTenantName(const std::string& name);

// The secret of user at generation under node_key: 32 hex digits. EIO if
// GnuTLS cannot compute the MAC.
Status CredentialSecret(const std::string& node_key, const std::string& user, int64_t generation,
                        std::string* secret);

// The credentials as the HTTP threads check them, without the API lock: a
// copy of the rows, replaced whole after every change. Thread-safe.
class CredentialCache {
 public:
  void Replace(const std::string& node_key, const std::vector<Credential>& rows);
  // Whether password is user's current secret; *who: the caller it makes.
  bool Authenticate(const std::string& user, const std::string& password, Caller* who) const;
  // How the manager calls the agent at url: as "manager" with the secret
  // of the credential the agent registered with (true), or, for an agent
  // that has none in use, false (the cluster secret, as admin).
  bool AgentCredential(const std::string& url, std::string* user, std::string* password) const;

 private:
  // user's row and current secret; false if unknown (or the MAC failed).
  bool Current(const std::string& user, Credential* c, std::string* secret) const;

  mutable std::mutex mu_;
  std::string node_key_;
  std::map<std::string, Credential> by_user_;
  std::map<std::string, std::string> user_by_url_;  // credentials in use
};

}  // namespace vastsky
