// An agent's calls to the manager: the 3.0 envelope (one struct
// with `ver`), the cluster credentials, and fail-over across the configured
// manager URLs in order (a transport failure tries the next; a fault is the
// answer). Every call is bounded by timeout_ms so a hung manager cannot
// stall the agent. Thread-safe: calls from several threads take turns (one
// call at a time), so a thread that must not wait behind another's calls
// (the heartbeat behind a scrub report) gets a link of its own.
#pragma once

#include <xmlrpc-c/base.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lib/rpc_client.h"
#include "lib/status.h"

namespace vastsky {

class ManagerLink {
 public:
  // user and password: the agent's own credential, or admin and the
  // cluster secret (AgentIdentity).
  ManagerLink(const std::vector<std::string>& urls, const std::string& user, const std::string& password,
              const std::string& ca_file, int timeout_ms);
  Status Call(const std::string& method, std::map<std::string, xmlrpc_c::value> members, xmlrpc_c::value* result);

  // True for the errors meaning "no manager answered" (as opposed to a fault).
  static bool Unreachable(const Status& st);

 private:
  std::mutex mu_;  // the clients (RpcClient is not thread-safe) and preferred_
  std::vector<std::unique_ptr<RpcClient>> clients_;
  size_t preferred_ = 0;  // the last one that answered is tried first
};

}  // namespace vastsky
