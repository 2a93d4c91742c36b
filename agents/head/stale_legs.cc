// Legs a storage agent marked stale (agents/host/leg_mark.h; PROTOCOL.md,
// "Repairing a pool"): rebuilt in full from their mirror's other legs,
// never taken back through the write-intent bitmap, which need not cover
// the writes their pool lost as it failed.
#include <algorithm>
#include <memory>

#include "agents/head/assembly_internal.h"
#include "agents/host/leg_mark.h"
#include "lib/deadline.h"
#include "lib/ids.h"
#include "lib/log.h"

namespace vastsky {

using namespace assembly_internal;

namespace {
// The mark on a leg's meta slice; kOther if it cannot be read in time.
LegMark MarkOn(const std::string& meta, int timeout_ms) {
  auto mark = std::make_shared<LegMark>(LegMark::kOther);
  Status st = RunWithDeadline(timeout_ms, "reading " + meta, [meta, mark] { return ReadLegMark(meta, mark.get()); });
  return st.ok() ? *mark : LegMark::kOther;
}
}  // namespace

bool Assembly::RebuildStaleLegs(int64_t lvol, const std::set<size_t>& looked_at, bool taking_back,
                                MirrorSpec* m) const {
  std::vector<size_t> stale;
  for (size_t i : looked_at)
    if (MarkOn(dm_->DevicePath(SliceDm(lvol, m->legs[i].chunk_id, "meta")), options_.kernel_timeout_ms) ==
        LegMark::kStale)
      stale.push_back(i);
  if (stale.empty()) return false;
  // dm raid copies a rebuild from an in-sync leg, not stale, not coming back.
  bool source = false;
  for (size_t i = 0; i < m->legs.size(); ++i)
    if (!m->legs[i].absent() && m->legs[i].insync() && !(taking_back && looked_at.count(i)) &&
        std::find(stale.begin(), stale.end(), i) == stale.end())
      source = true;
  const std::string raid = MirrorDm(lvol, m->mirror_id);
  for (size_t i : stale) {
    const std::string leg = FormatId("dext", m->legs[i].chunk_id);
    if (source) {
      m->legs[i].status = 3;
      VS_LOG_WARN("%s: %s is marked stale by its storage server (its pool failed while it could be written): "
                  "rebuilt in full from the other legs",
                  raid.c_str(), leg.c_str());
      continue;
    }
    const std::string meta = dm_->DevicePath(SliceDm(lvol, m->legs[i].chunk_id, "meta"));
    auto changed = std::make_shared<bool>(false);
    Status st = RunWithDeadline(options_.kernel_timeout_ms, "unmarking " + meta, [meta, changed] {
      return SwapLegMark(meta, LegMark::kStale, LegMark::kRaid, changed.get());
    });
    VS_LOG_ERROR("%s: %s is marked stale but no other leg is in sync: taken back as it is (%s); writes of the "
                 "second before its pool failed may be missing: check the file systems on %s",
                 raid.c_str(), leg.c_str(), st.ok() ? "mark removed" : st.ToString().c_str(),
                 FormatId("lvol", lvol).c_str());
  }
  return source;
}

}  // namespace vastsky
