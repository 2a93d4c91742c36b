#include "cli/words.h"

namespace vastsky {
namespace cli {

namespace {
template <size_t N>
std::string Lookup(const char* const (&names)[N], int64_t value) {
  if (value >= 0 && static_cast<size_t>(value) < N && names[value][0] != '\0') return names[value];
  return std::to_string(value);
}
}  // namespace

std::string PriorityName(int64_t priority) {
  static const char* const kNames[] = {"", "HIGH", "LOW", "EVACUATE", "OFFLINE", "FAULTY", "HALT"};
  return Lookup(kNames, priority);
}

std::string MirrorStatusName(int64_t status) {
  static const char* const kNames[] = {"", "ALLOCATED", "INSYNC", "SPARE"};
  return Lookup(kNames, status);
}

std::string LvolTypeName(int64_t type) {
  static const char* const kNames[] = {"LVOL", "LINEAR", "MIRROR",          "DEXT",
                                       "",     "",       "SNAPSHOT-ORIGIN", "SNAPSHOT"};
  return Lookup(kNames, type);
}

const char* TargetPrefix(int64_t target) {
  switch (target) {
    case 1: return "hsvr";
    case 2: return "ssvr";
    case 3: return "pdsk";
    case 4: return "dext";  // "LVOL" in 3.0, but it names a leg
    default: return "";
  }
}

}  // namespace cli
}  // namespace vastsky
