#include "manager/leg_map.h"

#include <cerrno>
#include <string>

#include "lib/ids.h"

namespace vastsky {

namespace {

// dm-thin's largest data block (1 GiB).
constexpr int64_t kMaxBlockKib = int64_t{1} << 20;

Status Bad(const std::string& why) { return Status::Error(EPROTO, "not a leg map: " + why); }

}  // namespace

Status CheckLegBlocks(const LegBlocks& map, int64_t size_mib) {
  if (map.block_kib <= 0 || map.block_kib > kMaxBlockKib) return Bad("block_kib " + std::to_string(map.block_kib));
  const std::vector<int64_t>& r = map.ranges;
  if (r.size() % 2 != 0) return Bad("an odd count of range values (" + std::to_string(r.size()) + ")");
  if (static_cast<int64_t>(r.size() / 2) > kMaxLegMapRanges)
    return Bad(std::to_string(r.size() / 2) + " ranges, beyond " + std::to_string(kMaxLegMapRanges));
  // A partly used last block may be mapped: the device ends inside it.
  const int64_t blocks = (size_mib * 1024 + map.block_kib - 1) / map.block_kib;
  int64_t end = 0;  // of the range before
  for (size_t i = 0; i < r.size(); i += 2) {
    const int64_t begin = r[i], count = r[i + 1];
    auto range = [&](const std::string& fault) {
      return Bad("range " + std::to_string(i / 2) + " [" + std::to_string(begin) + ", " + std::to_string(count) +
                 "] " + fault);
    };
    if (begin < 0 || count < 0) return range("is negative");
    if (begin < end) return range("starts before the end of the one before (" + std::to_string(end) + ")");
    if (begin > blocks || count > blocks - begin)
      return range("ends past the device's " + std::to_string(blocks) + " blocks");
    end = begin + count;
  }
  return Status::OK();
}

Status MapLeg(Store* store, const Attacher::Locked& locked, StorageAgentClient* storage, int64_t hsvr_id,
              int64_t chunk_id, LegBlocks* out) {
  ChunkInfo leg;
  VS_RETURN_IF_ERROR(locked([&] { return store->LegMapSource(hsvr_id, chunk_id, &leg); }));
  const std::string what = "legMap of " + FormatId("dext", chunk_id) + " on " + FormatId("ssvr", leg.ssvr_id);
  Status st = storage->LegMap(leg.ssvr_url, leg.pdsk_id, leg.thin_id, out);
  if (st.ok()) st = CheckLegBlocks(*out, kMetaMib + leg.length_mib);
  if (!st.ok()) return Status::Error(st.code(), what + ": " + st.message());
  return Status::OK();
}

}  // namespace vastsky
