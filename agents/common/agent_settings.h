// What every agent is configured with (flags over its INI section): the
// manager URL(s) and the CA to verify them, where the agent serves and the
// URL it registers for the manager to call back, its data addresses, its
// state directory and heartbeat period. Check() validates them and fills
// the parsed fields, with EINVAL naming the setting.
#pragma once

#include <string>
#include <vector>

#include "lib/daemon.h"
#include "lib/status.h"

namespace vastsky {

struct AgentSettings {
  std::string manager = "http://127.0.0.1:8881/RPC2";
  std::string ca_file, url, data_ip, state_dir;
  std::string credential_file;  // this server's own credential; "" = the cluster secret
  std::string heartbeat = "5";
  ServeSettings serve;
  MetricsSettings metrics;  // /metrics: off unless metrics.listen is set

  // Filled by Check().
  std::vector<std::string> managers, data_ips;
  std::string agent_url;  // `url`, or built from `listen` (the first data address for a wildcard)
  int heartbeat_s = 5;

  void Declare(DaemonSettings* d, const std::string& default_listen, const std::string& default_state_dir);
  Status Check();
};

// Who an agent is to the manager, and whom it serves. With credential_file
// (manager/API.md, "Enrollment"): it calls the manager as that credential's
// user, and serves only user "manager" with the same secret (the manager
// derives it; no admin, tenant or other server gets in). Without: user
// admin and the cluster secret (secret_file), both ways.
struct AgentIdentity {
  std::string user, secret;  // for its calls to the manager
};
Status AgentServeOptions(const AgentSettings& s, HttpOptions* http, AgentIdentity* id);

}  // namespace vastsky
