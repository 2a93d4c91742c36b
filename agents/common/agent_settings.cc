#include "agents/common/agent_settings.h"

#include "lib/units.h"

#include <cerrno>

#include "lib/http_server.h"
#include "lib/rpc_client.h"
#include "lib/secret.h"

namespace vastsky {

void AgentSettings::Declare(DaemonSettings* d, const std::string& default_listen, const std::string& default_state_dir) {
  serve.listen = default_listen;
  state_dir = default_state_dir;
  d->AddServing(&serve);
  d->AddMetrics(&metrics);
  d->Add("manager", "manager", "manager URL(s), comma-separated, tried in order", "URLS", &manager);
  d->Add("ca-file", "ca_file", "PEM CA to verify the manager's certificate", "FILE", &ca_file);
  d->Add("url", "url", "URL the manager calls this agent on (default: from listen)", "URL", &url);
  d->Add("data-ip", "data_ip", "this server's data addresses, comma-separated", "IPS", &data_ip);
  d->Add("state-dir", "state_dir", "ids, volumes or ACLs, and the operation journal", "DIR", &state_dir);
  d->Add("heartbeat", "heartbeat", "seconds between heartbeats (default 5)", "SECONDS", &heartbeat);
  d->Add("credential-file", "credential_file", "this server's own credential (vastsky ssvr|hsvr enroll --out)",
         "FILE", &credential_file);
}

Status AgentServeOptions(const AgentSettings& s, HttpOptions* http, AgentIdentity* id) {
  if (s.credential_file.empty()) {
    VS_RETURN_IF_ERROR(ServeOptions(s.serve, http));
    *id = AgentIdentity{"admin", http->secret};
    return Status::OK();
  }
  VS_RETURN_IF_ERROR(ReadCredentialFile(s.credential_file, &id->user, &id->secret));
  http->listen = s.serve.listen;
  http->tls_cert = s.serve.tls_cert;
  http->tls_key = s.serve.tls_key;
  http->user = "manager";
  http->secret = id->secret;
  http->role = Role::kManager;
  return Status::OK();
}

Status AgentSettings::Check() {
  managers = SplitList(manager);
  data_ips = SplitList(data_ip);
  if (managers.empty()) return Status::Error(EINVAL, "manager is not set: give the manager's URL");
  for (const std::string& m : managers) VS_RETURN_IF_ERROR(CheckCallUrl("manager", m));
  if (data_ips.empty()) return Status::Error(EINVAL, "data_ip is not set: give this server's data address(es)");
  VS_RETURN_IF_ERROR(ParseWhole("heartbeat", "seconds", heartbeat, 1, &heartbeat_s));
  if (!url.empty()) {
    VS_RETURN_IF_ERROR(CheckCallUrl("url", url));
    agent_url = url;
    return Status::OK();
  }
  std::string host;
  int port;
  VS_RETURN_IF_ERROR(ParseListen(serve.listen, &host, &port));
  if (host == "0.0.0.0" || host == "::") host = data_ips[0];
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  agent_url = (serve.tls_cert.empty() ? "http://" : "https://") + host + ":" + std::to_string(port) + "/RPC2";
  // The manager would refuse to call it; say so here, naming the settings.
  const Status st = CheckCallUrl("url (built from listen)", agent_url);
  if (!st.ok()) return Status::Error(st.code(), st.message() + "; give tls_cert and tls_key");
  return Status::OK();
}

}  // namespace vastsky
