// How `lvol show` draws a volume's lvolstruct (see manager/API.md): a summary
// of the volume, then one row per mirror in volume order, each followed by
// its legs (dext) with the disk, server and MiB range they occupy; then,
// when it has any, its family (snapshots, clones, origin) and their space.
#pragma once

#include <cstdint>
#include <ostream>

#include "cli/output.h"

namespace vastsky {
namespace cli {

void PrintLayout(const Json& lvolstruct, std::ostream& out);

// getVolumeFamily's answer as a table, root first, each member indented
// under its source; self (0: none) is marked with '*'. Space that legs
// left unreported would add is flagged, with a note saying why.
void PrintFamily(const Json& family, int64_t self, std::ostream& out);

}  // namespace cli
}  // namespace vastsky
