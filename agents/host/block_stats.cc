// The kernel's per-device I/O counters (device_mapper.h, BlockIoStats).
#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "agents/host/device_mapper.h"

namespace vastsky {

Status ParseBlockStat(const std::string& line, BlockIoStats* out) {
  std::istringstream in(line);
  std::vector<uint64_t> v;
  for (std::string word; in >> word;) {
    errno = 0;
    char* end = nullptr;
    const unsigned long long n = strtoull(word.c_str(), &end, 10);
    // Past 2^64 (ERANGE) is no counter the kernel keeps: as malformed.
    if (word.find_first_not_of("0123456789") != std::string::npos || *end != '\0' || errno == ERANGE)
      return Status::Error(EPROTO, "not a block stat line: '" + line + "'");
    v.push_back(n);
  }
  if (v.size() != 11 && v.size() != 15 && v.size() != 17)
    return Status::Error(EPROTO, "a block stat line has 11, 15 or 17 numbers, not " + std::to_string(v.size()));
  BlockIoStats s;
  s.reads = v[0];
  s.read_sectors = v[2];
  s.read_ms = v[3];
  s.writes = v[4];
  s.write_sectors = v[6];
  s.write_ms = v[7];
  s.in_flight = v[8];
  s.io_ms = v[9];
  s.queue_ms = v[10];
  if (v.size() >= 15) {
    s.discards = v[11];
    s.discard_sectors = v[13];
    s.discard_ms = v[14];
  }
  *out = s;
  return Status::OK();
}

Status DeviceMapper::GetIoStats(const std::string& name, BlockIoStats*) {
  return Status::Error(EOPNOTSUPP, "no I/O counters for " + name + " here");
}

}  // namespace vastsky
