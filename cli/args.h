// Reading what the admin typed for objects and values. Each parser returns
// EINVAL with a sentence saying what was expected; callers turn that into a
// usage error before anything is sent to the manager.
#pragma once

#include <cstdint>
#include <string>

#include "cli/connection.h"
#include "lib/status.h"

namespace vastsky {
namespace cli {

// A volume named by id or by name (3.0's rule: "lvol-XXXXXXXX" or 8 hex
// digits is an id, anything else a name).
struct LvolRef {
  int64_t id = 0;  // 0: named
  std::string name;

  // "volume lvol-0000002a" or "volume 'db1'", for messages.
  std::string Describe() const;
  // Sets id_key or name_key: the API takes either, under different keys
  // depending on the method (lvolid/lvolname, origin_lvolid/...).
  void AddTo(Members* m, const char* id_key, const char* name_key) const;
};
Status ParseLvolRef(const std::string& s, LvolRef* ref);

// A volume name for a new volume or snapshot.
Status CheckVolumeName(const std::string& name);

// "<prefix>-XXXXXXXX", 8 hex digits, or a decimal id; `kind` names the
// object in the message ("storage server").
Status ParseObjectId(const std::string& s, const char* prefix, const char* kind, int* id);

// A size such as 10G or 1.5T that is a whole number of GiB, as an API
// capacity.
Status ParseCapacityGiB(const std::string& s, int* gib);

// A placement weight, 0.0 to 1.0.
Status ParseWeight(const std::string& s, double* weight);

}  // namespace cli
}  // namespace vastsky
