#include "lib/status.h"

#include <cerrno>

namespace vastsky {

namespace {
struct Name {
  int code;
  const char* name;
  const char* words;
};
// Only the errnos VastSky raises; 3.0 clients compare faultString to these.
const Name kNames[] = {
    {EPERM, "EPERM", "operation not permitted"},
    {ENOENT, "ENOENT", "no such object"},
    {E2BIG, "E2BIG", "too many to list"},
    {EXDEV, "EXDEV", "belongs to another cluster"},
    {ENXIO, "ENXIO", "no such device or address"},
    {EIO, "EIO", "input/output error"},
    {EAGAIN, "EAGAIN", "operation in progress, try again"},
    {EACCES, "EACCES", "permission denied"},
    {EBUSY, "EBUSY", "object is busy"},
    {EEXIST, "EEXIST", "object already exists"},
    {EINVAL, "EINVAL", "invalid argument"},
    {ENOSPC, "ENOSPC", "no space left in the pool"},
    {ERANGE, "ERANGE", "value out of range"},
    {ENOSYS, "ENOSYS", "not implemented"},
    {ENODATA, "ENODATA", "no such data"},
    {EPROTO, "EPROTO", "protocol version mismatch"},
    {EMSGSIZE, "EMSGSIZE", "message too long"},
    {ENOTSUP, "ENOTSUP", "operation not supported"},
    {ECONNREFUSED, "ECONNREFUSED", "connection refused"},
    {ETIMEDOUT, "ETIMEDOUT", "timed out"},
    {EHOSTDOWN, "EHOSTDOWN", "host is down"},
    {EHOSTUNREACH, "EHOSTUNREACH", "host unreachable"},
    {EUCLEAN, "EUCLEAN", "damaged, needs repair"},
    {EMEDIUMTYPE, "EMEDIUMTYPE", "not a VastSky disk"},
};
}  // namespace

std::string Status::ToString() const {
  if (ok()) return "OK";
  if (msg_.empty()) return ErrnoName(code_);
  return ErrnoName(code_) + ": " + msg_;
}

std::string ErrnoName(int code) {
  if (code == Status::kInternal) return "Internal Server Error";
  for (const Name& n : kNames)
    if (n.code == code) return n.name;
  return "E" + std::to_string(code);
}

int ErrnoFromName(const std::string& name) {
  for (const Name& n : kNames)
    if (name == n.name) return n.code;
  return 0;
}

std::string ErrnoWords(int code) {
  if (code == Status::kInternal) return "internal error in the manager (see its log)";
  for (const Name& n : kNames)
    if (n.code == code) return std::string(n.words) + " (" + n.name + ")";
  return "error " + std::to_string(code);
}

}  // namespace vastsky
