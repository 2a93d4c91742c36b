// How the CLI reaches the manager. Each setting comes from the first source
// that has it: command-line flag, environment (VASTSKY_MANAGER,
// VASTSKY_SECRET_FILE), the config file's [cli] section, built-in default.
#pragma once

#include <xmlrpc-c/base.hpp>

#include <string>

#include "cli/output.h"
#include "lib/rpc_client.h"
#include "lib/status.h"

namespace vastsky {
namespace cli {

struct ConnectionFlags {  // empty means "not given on the command line"
  std::string manager;
  std::string secret_file;
  std::string ca_file;
  std::string config;
  bool insecure = false;
};

// Reads the config file (a missing default one is fine, a missing named one
// is not) and the secret file. A URL carrying "user:password@" uses those
// credentials and needs no secret file, as 3.0's clients did.
Status ResolveEndpoint(const ConnectionFlags& flags, RpcEndpoint* ep);

// True when `st` is Connection::Call's word for a manager it could not
// reach or that did not answer (the transport), never one of its faults.
bool Unreachable(const Status& st);

// The members of a request struct.
using Members = xmlrpc_c::cstruct;

class Connection {
 public:
  explicit Connection(const RpcEndpoint& ep);

  // Calls method with members plus `ver`. A failure's message is a whole
  // sentence for the admin: for a fault it starts with `what` ("cannot
  // create volume 'db1': no space left in the pool (ENOSPC)"), for a
  // transport failure it names the manager's URL instead.
  Status Call(const std::string& method, Members members, const std::string& what, Json* answer);

 private:
  std::string url_;
  RpcClient client_;
};

}  // namespace cli
}  // namespace vastsky
