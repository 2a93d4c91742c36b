#include "lib/caller.h"

namespace vastsky {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kNone: return "none";
    case Role::kAdmin: return "admin";
    case Role::kStorage: return "storage";
    case Role::kHead: return "head";
    case Role::kTenant: return "tenant";
    case Role::kManager: return "manager";
  }
  return "none";
}

}  // namespace vastsky
