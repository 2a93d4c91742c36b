// Which caller may call which manager method (manager/API.md, "Roles"):
// the first check of every call, before its parameters are read. What a
// storage, head or tenant caller may touch within a method it may call
// (its own server, its own volumes) is the method's own check. Stateless:
// thread-safe.
#pragma once

#include <string>
#include <vector>

#include "lib/caller.h"
#include "lib/status.h"

namespace vastsky {

// OK, or EACCES naming the role and the method.
Status MayCall(const std::string& method, const Caller& caller);

// The methods a role may call (none for kNone and kManager; kAdmin: all).
const std::vector<std::string>& MethodsOf(Role role);

// Whether caller may act for server `id` of kind `kind` (kStorage: an
// ssvr, kHead: an hsvr): an admin always; a storage or head caller only
// for the server its credential is bound to. EACCES naming both otherwise.
Status OwnServer(const Caller& caller, Role kind, int64_t id);

}  // namespace vastsky
