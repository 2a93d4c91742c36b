// For tests that drive Api::Handle: an XML-RPC request as a client sends
// it (with the protocol version), and the fault code of an answer.
#pragma once

#include <xmlrpc-c/base.hpp>
#include <xmlrpc-c/xml.hpp>

#include <map>
#include <string>

#include "lib/version.h"

namespace vastsky {
namespace testing {

inline std::string Call(const std::string& method, std::map<std::string, xmlrpc_c::value> members) {
  members["ver"] = xmlrpc_c::value_int(kProtocolVersion);
  xmlrpc_c::paramList params;
  params.add(xmlrpc_c::value_struct(members));
  std::string xml;
  xmlrpc_c::xml::generateCall(method, params, &xml);
  return xml;
}

inline xmlrpc_c::rpcOutcome Outcome(const std::string& response) {
  xmlrpc_c::rpcOutcome outcome;
  xmlrpc_c::xml::parseResponse(response, &outcome);
  return outcome;
}

// The fault code of a response; 0 for a result.
inline int FaultOf(const std::string& response) {
  const xmlrpc_c::rpcOutcome o = Outcome(response);
  return o.succeeded() ? 0 : static_cast<int>(o.getFault().getCode());
}

}  // namespace testing
}  // namespace vastsky
