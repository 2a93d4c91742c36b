// Reads and writes of a few blocks of a device that bypass the page cache
// where the device allows: a block device's cache does not see what the
// kernel wrote over it through another device (dm-linear, dm-thin, a LUN).
// A file system that refuses O_DIRECT (tmpfs, in tests) gets plain I/O.
// Plain functions, thread-safe. Writes are fdatasync'ed before they return.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "lib/status.h"

namespace vastsky {

// bytes and offset: multiples of 4 KiB. Past the end reads as zeros.
Status ReadAt(const std::string& path, uint64_t offset, size_t bytes, std::string* out);
// data.size() and offset: multiples of 4 KiB.
Status WriteAt(const std::string& path, uint64_t offset, const std::string& data);

}  // namespace vastsky
