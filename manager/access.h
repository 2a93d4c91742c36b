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
#include "manager/types.h"

namespace vastsky {

// OK, or EACCES naming the role and the method.
Status MayCall(const std::string& method, const Caller& caller);

// The methods a role may call (none for kNone and kManager; kAdmin: all).
const std::vector<std::string>& MethodsOf(Role role);

// Whether caller may act for server `id` of kind `kind` (kStorage: an
// ssvr, kHead: an hsvr): an admin always; a storage or head caller only
// for the server its credential is bound to. EACCES naming both otherwise.
Status OwnServer(const Caller& caller, Role kind, int64_t id);

// Tenants (manager/API.md, "Tenants"): a tenant caller sees and touches
// the volumes of its namespace only, and attaches them only to the heads
// it was given; admins, everything.
// Whether caller sees a volume of tenant `owner` at all.
bool Sees(const Caller& caller, const std::string& owner);
// OK if caller may act on vol; to a tenant, another's volume does not
// exist: ENOENT, as for a name never used (what names refers to).
Status OwnVolume(const Caller& caller, const VolumeInfo& vol, const std::string& names);
// OK if caller may attach to hsvr_id: an admin always, a tenant to one of
// heads (those it was given); EACCES otherwise.
Status MayAttachTo(const Caller& caller, int64_t hsvr_id, const std::vector<int64_t>& heads);

}  // namespace vastsky
