#include "cli/args.h"

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>

#include "lib/ids.h"
#include "lib/units.h"

namespace vastsky {
namespace cli {

namespace {
Status Invalid(const std::string& why) { return Status::Error(EINVAL, why); }
}  // namespace

std::string LvolRef::Describe() const {
  return id != 0 ? "volume " + FormatId("lvol", id) : "volume '" + name + "'";
}

void LvolRef::AddTo(Members* m, const char* id_key, const char* name_key) const {
  if (id != 0)
    (*m)[id_key] = xmlrpc_c::value_int(static_cast<int>(id));
  else
    (*m)[name_key] = xmlrpc_c::value_string(name);
}

Status ParseLvolRef(const std::string& s, LvolRef* ref) {
  *ref = LvolRef();
  if (ParseId(s, "lvol", &ref->id)) return Status::OK();
  // A name no volume can have would only come back as ENOENT; say why now.
  VS_RETURN_IF_ERROR(CheckVolumeName(s));
  ref->name = s;
  return Status::OK();
}

Status CheckVolumeName(const std::string& name) {
  std::string why;
  if (!ValidVolumeName(name, &why))
    return Invalid("'" + name + "' is not a valid volume name: " + why);
  return Status::OK();
}

Status ParseObjectId(const std::string& s, const char* prefix, const char* kind, int* id) {
  int64_t v = 0;
  if (!ParseId(s, prefix, &v)) {
    char* end = nullptr;
    errno = 0;
    long long d = s.empty() || s[0] == '-' || s[0] == '+' ? 0 : strtoll(s.c_str(), &end, 10);
    if (errno == 0 && end != nullptr && *end == '\0' && d >= 1 && d <= INT_MAX) v = d;
  }
  if (v == 0)
    return Invalid("'" + s + "' is not a " + kind + " id (use " + prefix +
                   "-XXXXXXXX, 8 hex digits, or a decimal id)");
  *id = static_cast<int>(v);
  return Status::OK();
}

Status ParseCapacityGiB(const std::string& s, int* gib) {
  uint64_t bytes = 0;
  std::string why;
  if (!ParseSize(s, &bytes, &why)) return Invalid(why);
  const uint64_t kGiB = uint64_t{1} << 30;
  if (bytes == 0) return Invalid("a volume needs at least 1 GiB, not '" + s + "'");
  if (bytes % kGiB != 0)
    return Invalid("'" + s + "' is not a whole number of GiB (volumes are sized in GiB, e.g. 10G)");
  // The API's limit; checked here too so the admin learns why, not just EINVAL.
  const uint64_t kMaxGiB = 1048576;
  if (bytes / kGiB > kMaxGiB)
    return Invalid("'" + s + "' is larger than the largest volume (1 PiB)");
  *gib = static_cast<int>(bytes / kGiB);
  return Status::OK();
}

Status ParseWeight(const std::string& s, double* weight) {
  char* end = nullptr;
  double w = s.empty() ? NAN : strtod(s.c_str(), &end);
  if (end == nullptr || *end != '\0' || !(w >= 0.0 && w <= 1.0))
    return Invalid("'" + s + "' is not a weight (a number from 0.0 to 1.0)");
  *weight = w;
  return Status::OK();
}

}  // namespace cli
}  // namespace vastsky
