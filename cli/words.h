// The API's numeric states in the words admins know from 3.0 ("HIGH",
// "INSYNC"). An unknown number prints as itself, so a newer manager's states
// still show.
#pragma once

#include <cstdint>
#include <string>

namespace vastsky {
namespace cli {

std::string PriorityName(int64_t priority);    // HIGH, LOW, EVACUATE, ...
std::string MirrorStatusName(int64_t status);  // ALLOCATED, INSYNC, SPARE
std::string LvolTypeName(int64_t type);        // LVOL, LINEAR, MIRROR, ...
// Id prefix for a numeric `target` as notifyFailure takes it (1 -> "hsvr",
// 4 -> "dext"), or "" if unknown.
const char* TargetPrefix(int64_t target);

}  // namespace cli
}  // namespace vastsky
