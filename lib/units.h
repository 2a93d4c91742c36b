// Sizes as admins type them: "10G", "1T", "512M", "1.5T", "20GiB", "4096" (MiB
// when no unit). Units are binary (K=2^10 ... P=2^50); "GB" means GiB, as in
// every VastSky API field.
#pragma once

#include <cstdint>
#include <string>

#include "lib/status.h"

namespace vastsky {

// A whole number from `min` to 99999 in `unit` ("seconds", "MiB/s"), as a
// setting `what`; EINVAL naming both otherwise.
Status ParseWhole(const char* what, const char* unit, const std::string& text, int min, int* out);

// Parses into bytes. False (with a reason) on junk, negatives or overflow.
bool ParseSize(const std::string& s, uint64_t* bytes, std::string* why);
// Human form, the largest unit that keeps 3 significant digits: "1.50 TiB".
std::string FormatBytes(uint64_t bytes);
// dm raid's sync ratio "done/total" (sectors) -> its numbers; false unless
// both are whole, total > 0 and done <= total.
bool ParseSyncRatio(const std::string& ratio, int64_t* done_sectors, int64_t* total_sectors);

}  // namespace vastsky
