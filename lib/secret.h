// The cluster secret: one line in a root-only file, shared by the manager,
// agents and admin tools, sent as the HTTP Basic password of user "admin".
#pragma once

#include <string>

#include "lib/status.h"

namespace vastsky {

// Reads the first line (trailing whitespace trimmed). EINVAL if it is empty
// or shorter than 16 characters; warns in the log if others may read it.
Status ReadSecretFile(const std::string& path, std::string* secret);

}  // namespace vastsky
