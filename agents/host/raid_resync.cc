#include "agents/host/raid_resync.h"

#include <cstdint>

#include "agents/host/direct_io.h"

namespace vastsky {

namespace {
constexpr size_t kBlock = 4096;
const std::string kRaidMagic = "DmRd";
// struct dm_raid_superblock (drivers/md/dm-raid.c): magic, compat_features,
// num_devices, array_position (4 bytes each), events, failed_devices,
// disk_recovery_offset (8 each), then array_resync_offset, little endian.
constexpr size_t kResyncOffsetAt = 40;
constexpr uint64_t kNoResync = ~uint64_t{0};  // md's MaxSector

uint64_t Le64(const std::string& b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(b[at + i]);
  return v;
}
}  // namespace

Status ResyncDirtyRegions(const std::string& path) {
  std::string block;
  VS_RETURN_IF_ERROR(ReadAt(path, 0, kBlock, &block));
  if (block.compare(0, 4, kRaidMagic) != 0 || Le64(block, kResyncOffsetAt) != kNoResync) return Status::OK();
  block.replace(kResyncOffsetAt, 8, std::string(8, '\0'));
  return WriteAt(path, 0, block);
}

}  // namespace vastsky
