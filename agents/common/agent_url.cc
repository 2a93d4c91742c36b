#include "agents/common/agent_url.h"

#include <cerrno>

#include "lib/http_server.h"

namespace vastsky {

Status AgentUrl(const std::string& configured, const ServeSettings& serve, const std::vector<std::string>& data_ips,
                std::string* url) {
  if (!configured.empty()) {
    if (configured.compare(0, 7, "http://") != 0 && configured.compare(0, 8, "https://") != 0)
      return Status::Error(EINVAL, "url must start with http:// or https://");
    *url = configured;
    return Status::OK();
  }
  std::string host;
  int port;
  VS_RETURN_IF_ERROR(ParseListen(serve.listen, &host, &port));
  if (host == "0.0.0.0" || host == "::") {
    if (data_ips.empty()) return Status::Error(EINVAL, "listen is a wildcard and no data_ip is set: give url");
    host = data_ips[0];
  }
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  *url = (serve.tls_cert.empty() ? "http://" : "https://") + host + ":" + std::to_string(port) + "/RPC2";
  return Status::OK();
}

}  // namespace vastsky
