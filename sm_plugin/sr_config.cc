#include "sm_plugin/sr_config.h"

#include <cerrno>

#include "lib/daemon.h"
#include "lib/rpc_client.h"
#include "lib/secret.h"
#include "lib/units.h"
#include "sm_plugin/faults.h"

namespace vastsky {
namespace sm {

const std::vector<ConfigKey> kConfigKeys = {
    {"manager", "URL(s) of the VastSky manager, comma-separated, tried in order (https://host:8881/RPC2)"},
    {"user", "the manager user: a tenant's (vastsky tenant enroll), or admin (default) with the cluster secret"},
    {"password_secret", "uuid of the xapi secret holding the user's secret (xe secret-create value=...)"},
    {"password", "the cluster secret in clear (prefer password_secret); without either, /etc/vastsky/secret"},
    {"redundancy", "copies of every VDI, 2..9 (default 3)"},
    {"placement", "server: copies on different storage servers (default); domain: on different named failure domains"},
};

namespace {

std::string Get(const StringMap& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? "" : it->second;
}

}  // namespace

Status ParseSrConfig(const StringMap& dc, const HostSettings& host, XapiDb* db, SrConfig* out) {
  *out = SrConfig();
  const std::string manager = Get(dc, "manager");
  if (manager.empty()) return Fail(kConfigParamsMissing, "device-config manager is missing: the VastSky manager's URL");
  out->managers = SplitList(manager);
  for (const std::string& url : out->managers) {
    const Status st = CheckCallUrl("device-config manager", url);
    if (!st.ok()) return Fail(kConfigInvalid, st.message());
  }

  const std::string user = Get(dc, "user");
  if (!user.empty()) {
    if (user.size() > 64 || user.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                                std::string::npos)
      return Fail(kConfigInvalid, "device-config user must be 1 to 64 of [A-Za-z0-9._-] (vastsky credential list)");
    out->user = user;
  }

  const std::string secret_uuid = Get(dc, "password_secret");
  if (!secret_uuid.empty()) {
    if (!db) return Fail(kConfigInvalid, "device-config password_secret needs xapi, which this call runs without");
    Status st = db->SecretValue(secret_uuid, &out->secret);
    if (st.code() == ENOENT) return Fail(kConfigInvalid, "device-config password_secret: " + st.message());
    VS_RETURN_IF_ERROR(FromXapi(st, "cannot read the SR's secret"));
  } else if (!Get(dc, "password").empty()) {
    out->secret = Get(dc, "password");
  } else {
    Status st = ReadSecretFile(host.secret_file, &out->secret);
    if (!st.ok())
      return Fail(kConfigParamsMissing,
                  "no cluster secret: set device-config password_secret (or password), or install " + host.secret_file +
                      " (" + st.message() + ")");
  }

  const std::string redundancy = Get(dc, "redundancy");
  if (!redundancy.empty()) {
    Status st = ParseWhole("redundancy", "copies", redundancy, 2, &out->redundancy);
    if (!st.ok() || out->redundancy > 9)
      return Fail(kConfigInvalid, "device-config redundancy must be a whole number from 2 to 9, not '" + redundancy + "'");
  }
  const std::string placement = Get(dc, "placement");
  if (placement == "domain") out->placement = Placement::kDomain;
  else if (!placement.empty() && placement != "server")
    return Fail(kConfigInvalid, "device-config placement must be server or domain, not '" + placement + "'");
  return Status::OK();
}

}  // namespace sm
}  // namespace vastsky
