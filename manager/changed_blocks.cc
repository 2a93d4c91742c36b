#include "manager/changed_blocks.h"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "lib/ids.h"
#include "manager/attacher_internal.h"
#include "manager/leg_map.h"

namespace vastsky {

using namespace attacher_internal;

void AddDelta(const LegBlocks& delta, int64_t offset_kib, std::vector<int64_t>* kib_ranges) {
  for (size_t i = 0; i + 1 < delta.ranges.size(); i += 2) {
    kib_ranges->push_back(offset_kib + delta.ranges[i] * delta.block_kib);
    kib_ranges->push_back(offset_kib + (delta.ranges[i] + delta.ranges[i + 1]) * delta.block_kib);
  }
}

void MergeToBlocks(std::vector<int64_t> kib_ranges, LegBlocks* out) {
  std::vector<std::pair<int64_t, int64_t>> blocks;
  for (size_t i = 0; i + 1 < kib_ranges.size(); i += 2) {
    const int64_t begin = kib_ranges[i] / kChangedBlockKib;
    const int64_t end = (kib_ranges[i + 1] + kChangedBlockKib - 1) / kChangedBlockKib;
    if (end > begin) blocks.emplace_back(begin, end);
  }
  std::sort(blocks.begin(), blocks.end());
  out->block_kib = kChangedBlockKib;
  out->ranges.clear();
  int64_t begin = -1, end = -1;
  for (const auto& b : blocks) {
    if (b.first <= end) {
      end = std::max(end, b.second);
      continue;
    }
    if (end > begin) out->ranges.insert(out->ranges.end(), {begin, end - begin});
    begin = b.first;
    end = b.second;
  }
  if (end > begin) out->ranges.insert(out->ranges.end(), {begin, end - begin});
}

namespace {

// Legs of a mirror that can be compared: in sync, made, their agent known.
bool Comparable(const ChunkInfo& c) { return c.status == kInsync && c.reachable && !c.ssvr_url.empty(); }

const MirrorInfo* SameMirror(const VolumeLayout& base, const MirrorInfo& m) {
  for (const MirrorInfo& b : base.mirrors)
    if (b.offset_gib == m.offset_gib && b.capacity_gib == m.capacity_gib) return &b;
  return nullptr;
}

// One mirror's changes into kib_ranges: a pair of legs sharing a pool, else
// the whole mirror.
Status MirrorDelta(StorageAgentClient* storage, const MirrorInfo& m, const MirrorInfo* b,
                   std::vector<int64_t>* kib_ranges) {
  const int64_t offset_kib = m.offset_gib * 1024 * 1024;
  // Never handed to a head, either side: zeros both.
  if (!m.written && b && !b->written) return Status::OK();
  Status last;
  bool paired = false;
  if (b)
    for (const ChunkInfo& x : m.chunks)
      for (const ChunkInfo& y : b->chunks) {
        if (x.pdsk_id != y.pdsk_id || !Comparable(x) || !Comparable(y)) continue;
        paired = true;
        LegBlocks delta;
        Status st = storage->LegDelta(x.ssvr_url, x.pdsk_id, x.thin_id, y.thin_id, &delta);
        if (st.ok()) st = CheckLegBlocks(delta, x.length_mib);
        if (st.ok()) {
          AddDelta(delta, offset_kib, kib_ranges);
          return Status::OK();
        }
        last = StepFailed("ssvr", x.ssvr_id, x.ssvr_url, "legDelta on " + FormatId("pdsk", x.pdsk_id), st);
      }
  if (paired) return last;
  kib_ranges->insert(kib_ranges->end(), {offset_kib, offset_kib + m.capacity_gib * 1024 * 1024});
  return Status::OK();
}

}  // namespace

Status ListChangedBlocks(Store* store, const Attacher::Locked& locked, StorageAgentClient* storage,
                         const VolumeRef& lvol, const VolumeRef& base, LegBlocks* out) {
  VolumeLayout a, b;
  VS_RETURN_IF_ERROR(locked([&] { return store->ChangedBlockLegs(lvol, base, &a, &b); }));
  std::vector<int64_t> kib_ranges;
  for (const MirrorInfo& m : a.mirrors) VS_RETURN_IF_ERROR(MirrorDelta(storage, m, SameMirror(b, m), &kib_ranges));
  MergeToBlocks(std::move(kib_ranges), out);
  if (static_cast<int64_t>(out->ranges.size()) > 2 * kMaxChangedRanges)
    return Status::Error(E2BIG, "more than " + std::to_string(kMaxChangedRanges) +
                                    " changed ranges: compare against a more recent snapshot");
  return Status::OK();
}

}  // namespace vastsky
