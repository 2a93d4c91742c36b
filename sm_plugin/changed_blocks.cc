#include "sm_plugin/changed_blocks.h"

#include <xmlrpc-c/base64.hpp>

#include <algorithm>
#include <cerrno>

namespace vastsky {
namespace sm {

namespace {

// Marks bits [first, last] (inclusive), whole bytes at a time in between.
void SetBits(std::vector<unsigned char>* bitmap, int64_t first, int64_t last) {
  while (first <= last && first % 8 != 0) {
    (*bitmap)[first / 8] |= static_cast<unsigned char>(0x80u >> (first % 8));
    ++first;
  }
  while (first + 7 <= last) {
    (*bitmap)[first / 8] = 0xff;
    first += 8;
  }
  for (; first <= last; ++first) (*bitmap)[first / 8] |= static_cast<unsigned char>(0x80u >> (first % 8));
}

}  // namespace

Status CbtBitmap(int64_t volume_bytes, const ChangedRuns& runs, std::vector<unsigned char>* bitmap) {
  if (volume_bytes < 0) return Status::Error(EINVAL, "a negative volume size");
  if (runs.block_kib < 1 || runs.block_kib > (int64_t(1) << 30))
    return Status::Error(EPROTO, "changed blocks of " + std::to_string(runs.block_kib) + " KiB make no sense");
  if (runs.ranges.size() % 2 != 0) return Status::Error(EPROTO, "the changed ranges are not start/count pairs");
  const int64_t blocks = (volume_bytes + kCbtBlockBytes - 1) / kCbtBlockBytes;
  bitmap->assign(static_cast<size_t>((blocks + 7) / 8), 0);
  const int64_t unit = runs.block_kib * 1024;
  const int64_t units_in_volume = (volume_bytes + unit - 1) / unit;  // no product below can overflow
  for (size_t i = 0; i < runs.ranges.size(); i += 2) {
    const int64_t start = runs.ranges[i], count = runs.ranges[i + 1];
    if (start < 0 || count < 0) return Status::Error(EPROTO, "a changed range with a negative start or count");
    if (count == 0 || start >= units_in_volume) continue;
    const int64_t end = count > units_in_volume - start ? units_in_volume : start + count;  // in units, exclusive
    const int64_t last_byte = std::min(end * unit, volume_bytes) - 1;
    SetBits(bitmap, start * unit / kCbtBlockBytes, last_byte / kCbtBlockBytes);
  }
  return Status::OK();
}

Status CbtBitmapBase64(int64_t volume_bytes, const ChangedRuns& runs, std::string* out) {
  std::vector<unsigned char> bitmap;
  VS_RETURN_IF_ERROR(CbtBitmap(volume_bytes, runs, &bitmap));
  *out = bitmap.empty() ? "" : xmlrpc_c::base64FromBytes(bitmap, xmlrpc_c::NEWLINE_NO);
  return Status::OK();
}

}  // namespace sm
}  // namespace vastsky
