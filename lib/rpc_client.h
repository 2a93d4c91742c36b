// XML-RPC client for the manager API (and later the agents'), over HTTP or
// HTTPS with HTTP Basic credentials. Faults come back as a Status whose code
// is the faultCode; transport failures as ECONNREFUSED, ETIMEDOUT, EACCES
// (HTTP 401) or EIO. Not thread-safe: one RpcClient per thread.
#pragma once

#include <xmlrpc-c/base.hpp>

#include <memory>
#include <string>

#include "lib/status.h"

namespace vastsky {

struct RpcEndpoint {
  std::string url;            // "https://10.0.0.5:8881/RPC2"
  std::string user = "admin";
  std::string password;       // the cluster secret; empty sends no credentials
  std::string ca_file;        // PEM to verify the server; empty: system store
  bool verify_tls = true;
  int timeout_ms = 300000;
};

class RpcClient {
 public:
  explicit RpcClient(RpcEndpoint ep);
  ~RpcClient();
  RpcClient(const RpcClient&) = delete;
  RpcClient& operator=(const RpcClient&) = delete;

  Status Call(const std::string& method, const xmlrpc_c::paramList& params,
              xmlrpc_c::value* result);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What a transport failure's message says went wrong, for a log line or a
// user: curl's own words, without the url prefix and xmlrpc-c's preamble
// ("Failed to connect to 10.0.0.5 port 8883 ...: Couldn't connect to server").
std::string TransportWords(const std::string& message, const std::string& url);

// Whether this process may call `url`: https://, or http:// only to a
// loopback host (127.0.0.0/8, ::1, localhost). HTTP Basic sends the cluster
// secret with every call, so a plain-HTTP call across a network would hand it
// to anyone on the path. EINVAL naming `setting` (where the URL came from)
// otherwise. RpcClient refuses such a URL too; settings check early so the
// error names them. A URL with a user or password in it is refused (EINVAL,
// without repeating the URL).
Status CheckCallUrl(const std::string& setting, const std::string& url);

// The errno of a transport failure's message (xmlrpc-c's and curl's words):
// ETIMEDOUT, EACCES (HTTP 401), ECONNREFUSED, else EIO.
int TransportErrno(const std::string& message);

// Answers can be large (listLogicalVolumes on a big cluster); xmlrpc-c's
// default 512 KiB cap would reject them. Call once per process.
void RaiseXmlSizeLimit();

}  // namespace vastsky
