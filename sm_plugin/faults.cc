#include "sm_plugin/faults.h"

#include <cerrno>

namespace vastsky {
namespace sm {

Status FromCluster(const Status& st, int otherwise, const std::string& what) {
  if (st.ok()) return st;
  const std::string msg = what + ": " + st.message() + " (" + ErrnoName(st.code()) + ")";
  switch (st.code()) {
    case ECONNREFUSED:
    case ETIMEDOUT:
    case EIO:
      return Fail(kManagerUnreachable, what + ": no VastSky manager answered: " + st.message());
    case EACCES:
      return Fail(kManagerAuth, what + ": the manager refused the SR's credentials (check device-config password_secret)");
    case ENOSPC:
      return Fail(kSrNoSpace, msg);
    case EBUSY:
      return Fail(kVdiInUse, msg);
    default:
      return Fail(otherwise, msg);
  }
}

Status FromXapi(const Status& st, const std::string& what) {
  if (st.ok()) return st;
  return Fail(kXapiFailed, what + ": " + st.message());
}

}  // namespace sm
}  // namespace vastsky
