#include "agents/host/leg_mark.h"

#include <cerrno>

#include "agents/host/direct_io.h"

namespace vastsky {

namespace {
constexpr size_t kBlock = 4096;
const std::string kRaidMagic = "DmRd";  // dm-raid's, 0x64526D44 little endian
const std::string kStaleMagic = "VsSt";

LegMark MarkOf(const std::string& block) {
  const std::string magic = block.substr(0, 4);
  if (magic == kRaidMagic) return LegMark::kRaid;
  if (magic == kStaleMagic) return LegMark::kStale;
  return LegMark::kOther;
}
}  // namespace

Status ReadLegMark(const std::string& path, LegMark* out) {
  std::string block;
  VS_RETURN_IF_ERROR(ReadAt(path, 0, kBlock, &block));
  *out = MarkOf(block);
  return Status::OK();
}

Status SwapLegMark(const std::string& path, LegMark from, LegMark to, bool* changed) {
  *changed = false;
  if (to == LegMark::kOther) return Status::Error(EINVAL, "a leg mark is DmRd or VsSt");
  std::string block;
  VS_RETURN_IF_ERROR(ReadAt(path, 0, kBlock, &block));
  if (MarkOf(block) != from || from == to) return Status::OK();
  block.replace(0, 4, to == LegMark::kRaid ? kRaidMagic : kStaleMagic);
  VS_RETURN_IF_ERROR(WriteAt(path, 0, block));
  *changed = true;
  return Status::OK();
}

}  // namespace vastsky
