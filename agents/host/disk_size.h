// The size of a storage server's disk: BLKGETSIZE64 for a block device,
// st_size for a regular file (tests use sparse files as disks).
#pragma once

#include <cstdint>
#include <string>

#include "lib/status.h"

namespace vastsky {

// In 512-byte sectors. ENOENT if missing, EINVAL if neither kind.
Status DiskSectors(const std::string& path, int64_t* sectors);

}  // namespace vastsky
