// xapi's changed-block bitmap (VDI.list_changed_blocks): one bit per 64 KiB
// block of the VDI, block 0 first, the most significant bit of each byte
// first (xcp-ng/sm VDI.list_changed_blocks turns tapdisk's log into this
// order; xen-api's CBT examples read it with bitstring.BitArray), padded to
// whole bytes with zeros, base64 without newlines. The manager's
// listChangedBlocks answers {block_kib, ranges}: runs of its own blocks
// (manager/API.md); a 64 KiB block partly covered by a run is marked, so no
// changed byte is ever left out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/status.h"

namespace vastsky {
namespace sm {

constexpr int64_t kCbtBlockBytes = 64 * 1024;

struct ChangedRuns {
  int64_t block_kib = 0;
  std::vector<int64_t> ranges;  // start0, count0, start1, count1, ... in block_kib units
};

// The bitmap of a VDI of `volume_bytes` bytes. EPROTO for runs that make no
// sense (block_kib < 1, an odd list, a negative start or count); runs past
// the end of the VDI are cut there (a snapshot older than a resize).
Status CbtBitmap(int64_t volume_bytes, const ChangedRuns& runs, std::vector<unsigned char>* bitmap);
// The same, as the base64 string xapi returns.
Status CbtBitmapBase64(int64_t volume_bytes, const ChangedRuns& runs, std::string* out);

}  // namespace sm
}  // namespace vastsky
