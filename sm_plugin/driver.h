// VastSkySR's whole job for one xapi call: the methodCall document in, the
// methodResponse document out (a result or a fault, never anything else),
// with a syslog line for every fault and every state change.
#pragma once

#include <string>

#include "xapi/host_settings.h"

namespace vastsky {
namespace sm {

std::string RunSmCall(const std::string& method_call, const HostSettings& host);

}  // namespace sm
}  // namespace vastsky
