// A XenAPI client over xapi's local socket (/var/lib/xcp/xapi): XML-RPC
// over HTTP, as the SM framework's XenAPI.xapi_local() speaks it. Calls use
// the session xapi handed the driver (never logged in or out here) and carry
// `Subtask-of` when xapi gave a task. XenAPI answers {Status, Value} or
// {Status: Failure, ErrorDescription}; a failure is EREMOTEIO with the
// description in the message and, when asked for, in *failure.
#pragma once

#include <xmlrpc-c/base.hpp>

#include <string>
#include <vector>

#include "lib/status.h"

namespace vastsky {

class XenApi {
 public:
  XenApi(std::string socket_path, std::string session_ref, std::string subtask_of = "");

  // params are the call's parameters after the session.
  Status Call(const std::string& method, const std::vector<xmlrpc_c::value>& params, xmlrpc_c::value* result,
              std::vector<std::string>* failure = nullptr);

  const std::string& session() const { return session_; }

 private:
  const std::string socket_, session_, subtask_;
};

// XenAPI's error code of a failed call ("UUID_INVALID"), "" for other errors.
std::string XenApiCode(const std::vector<std::string>& failure);

}  // namespace vastsky
