// Which blocks of a leg's thin device its pool has provisioned: what a head
// needs to trim a rebuilt leg (agents/PROTOCOL.md, "Head agent"). Blocks
// not listed read zeros. Asked of the manager (`legMap`), which asks the
// storage agent of the leg's disk.
#pragma once

#include <cerrno>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <xmlrpc-c/base.hpp>

#include "lib/manager_link.h"
#include "lib/status.h"

namespace vastsky {

struct LegMap {
  int64_t block_kib = 0;  // the pool's block size
  // [first block, count] of the mapped blocks of the thin (its first MiB is
  // the leg's dm-raid metadata), ascending, not overlapping.
  std::vector<std::pair<int64_t, int64_t>> ranges;
};

class LegMaps {
 public:
  virtual ~LegMaps() = default;
  // The mapping of the thin device of leg chunk_id as its pool has it now.
  virtual Status Get(int64_t chunk_id, LegMap* out) = 0;
};

// The bound of a legMap call (the link's timeout): the manager bounds its
// own call to the storage agent.
constexpr int kLegMapTimeoutMs = 10000;

// The manager's legMap{hsvrid, chunkid} over link; hsvr_id gives this
// head's id (0 before its first registration: EAGAIN). The manager's and
// the agent's errors pass through; a malformed answer is EPROTO.
// Thread-safe as the link is.
std::unique_ptr<LegMaps> NewManagerLegMaps(ManagerLink* link, std::function<int64_t()> hsvr_id);

// The answer {status, block_kib, ranges: [b0, n0, b1, n1, ...]} checked
// (at most kMaxLegMapRanges ranges, ascending); EPROTO otherwise. Exposed
// for unit tests.
Status ParseLegMap(const xmlrpc_c::value& answer, LegMap* out);

// For unit tests: the maps a test sets, ENOENT for other chunks, or
// `error` for every call while it is not OK. Not thread-safe.
class FakeLegMaps : public LegMaps {
 public:
  Status Get(int64_t chunk_id, LegMap* out) override {
    asked.push_back(chunk_id);
    if (!error.ok()) return error;
    auto it = maps.find(chunk_id);
    if (it == maps.end()) return Status::Error(ENOENT, "no map for chunk " + std::to_string(chunk_id));
    *out = it->second;
    return Status::OK();
  }
  std::map<int64_t, LegMap> maps;
  Status error;
  std::vector<int64_t> asked;
};

}  // namespace vastsky
