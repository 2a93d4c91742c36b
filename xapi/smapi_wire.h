// The SMAPIv1 exec protocol as xapi speaks it (xen-api sm_exec.ml): the
// request is one XML-RPC methodCall passed as argv[1] whose single
// parameter is a struct; the answer is one methodResponse on stdout,
// formatted as Python's xmlrpc.client.dumps formats it (what every SM
// driver prints, so what xapi is known to parse).
#pragma once

#include <xmlrpc-c/base.hpp>

#include <map>
#include <string>
#include <vector>

#include "lib/status.h"

namespace vastsky {

using StringMap = std::map<std::string, std::string>;

// The members xapi may send (absent ones stay empty).
struct SmRequest {
  std::string command;  // == methodName
  std::string host_ref, session_ref, sr_ref, sr_uuid, subtask_of;
  std::vector<std::string> args;
  StringMap device_config;  // PBD device-config plus SRmaster
  StringMap sr_sm_config, vdi_sm_config, driver_params;
  std::string vdi_ref, vdi_uuid, vdi_location, vdi_type, new_uuid, vdi_on_boot, vdi_allow_caching;

  bool master() const;  // device_config SRmaster == "true"
};

// EINVAL (with what is wrong) for anything that is not such a call: not
// XML-RPC, not one struct, a member of the wrong type.
Status ParseSmRequest(const std::string& xml, SmRequest* out);

// The response document for a result (nil, string, int, bool, struct,
// array) or for a fault.
std::string FormatResponse(const xmlrpc_c::value& result);
std::string FormatFault(int code, const std::string& message);
// A methodCall document with one parameter (vdi_generate_config's answer
// is such a call, stored by xapi and replayed without it).
std::string FormatCall(const std::string& method, const xmlrpc_c::value& param);

// A struct of strings, the shape of most answers.
xmlrpc_c::value StringStruct(const StringMap& m);

}  // namespace vastsky
