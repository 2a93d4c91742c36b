// The URL an agent registers so the manager can call it back: the `url`
// setting if given, else built from where the agent listens (https when it
// has a certificate); a wildcard listen address is replaced by the first
// data address, the one the manager reaches the server on.
#pragma once

#include <string>
#include <vector>

#include "lib/daemon.h"
#include "lib/status.h"

namespace vastsky {

Status AgentUrl(const std::string& configured, const ServeSettings& serve, const std::vector<std::string>& data_ips,
                std::string* url);

}  // namespace vastsky
