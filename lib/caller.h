// Who is calling: the identity the HTTP layer established from the
// request's credentials, handed to every RPC handler (manager/API.md,
// "Roles"). Plain values: copy freely, share across threads read-only.
#pragma once

#include <cstdint>
#include <string>

namespace vastsky {

// The roles of manager/API.md, "Roles". Their wire names (RoleName) are
// what listCredentials shows and what an enrolled identity carries.
enum class Role {
  kNone,     // no identity (a default Caller): refused everything
  kAdmin,    // every method
  kStorage,  // one storage server's own records (id: its ssvrid)
  kHead,     // one head server's own records (id: its hsvrid)
  kTenant,   // the volumes of one namespace (tenant: its name)
  kManager,  // the manager calling an agent
};

const char* RoleName(Role role);

struct Caller {
  Role role = Role::kNone;
  int64_t id = 0;      // the server a storage or head caller is bound to
  std::string tenant;  // the namespace of a tenant caller
  std::string user;    // for log lines: who was refused
};

// The caller the cluster secret makes: HTTP Basic user "admin".
inline Caller AdminCaller() { return Caller{Role::kAdmin, 0, "", "admin"}; }

}  // namespace vastsky
