// How `lvol show` draws a volume's lvolstruct (see manager/API.md): a summary
// of the volume, then one row per mirror in volume order, each followed by
// its legs (dext) with the disk, server and MiB range they occupy.
#pragma once

#include <ostream>

#include "cli/output.h"

namespace vastsky {
namespace cli {

void PrintLayout(const Json& lvolstruct, std::ostream& out);

}  // namespace cli
}  // namespace vastsky
