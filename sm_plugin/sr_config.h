// An SR's device-config, checked: the manager URL(s), the user (`user`:
// admin, or a tenant's) and its secret (from an xapi secret,
// `password_secret`; or `password`; or, with neither, this host's secret
// file, the cluster's), the redundancy of new VDIs and the
// failure-domain policy. Faults: 115 for a missing key, 7204 for a bad one.
#pragma once

#include <string>
#include <vector>

#include "lib/status.h"
#include "xapi/host_settings.h"
#include "xapi/smapi_wire.h"
#include "xapi/xapi_db.h"

namespace vastsky {
namespace sm {

enum class Placement { kServer, kDomain };

struct SrConfig {
  std::vector<std::string> managers;
  std::string user = "admin";  // or a tenant's (manager/API.md, "Tenants")
  std::string secret;
  int redundancy = 3;
  Placement placement = Placement::kServer;
};

// db may be null (vdi_attach_from_config runs without xapi): then only
// `password` or the host's secret file can give the secret.
Status ParseSrConfig(const StringMap& device_config, const HostSettings& host, XapiDb* db, SrConfig* out);

// The device-config keys, for sr_get_driver_info.
struct ConfigKey {
  const char* key;
  const char* description;
};
extern const std::vector<ConfigKey> kConfigKeys;

}  // namespace sm
}  // namespace vastsky
