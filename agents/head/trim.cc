// Assembly's trim of rebuilt legs (assembly.h, Watch). dm raid's recovery
// writes every block of a new leg, so its thin device ends fully
// provisioned. Once the mirror is whole and suspended, a block its source's
// pool has not mapped reads zeros on the source, hence on the new leg too:
// discarding it there changes no byte and gives the block back to the pool.
// Every step preserves content, so a failure only resumes; the one hazard
// is a discard whose outcome is unknown, which poisons the leg.
#include <algorithm>
#include <cerrno>

#include "agents/head/assembly.h"
#include "agents/head/assembly_internal.h"
#include "lib/ids.h"
#include "lib/log.h"

namespace vastsky {

using namespace assembly_internal;

namespace {

constexpr int kTrimAttempts = 5;
constexpr int64_t kTrimRetryMs = 30000;  // after the first failure, doubling

// Another in-sync leg of the whole mirror to take the mapping from; one
// not waiting for its own trim maps less.
const LegSpec* TrimSource(const MirrorSpec& m, const LegSpec& leg) {
  const LegSpec* found = nullptr;
  for (const LegSpec& l : m.legs) {
    if (&l == &leg || l.absent() || !l.insync()) continue;
    if (!l.trim) return &l;
    if (!found) found = &l;
  }
  return found;
}

// Discards on the data slice `data` (data_sectors long) every stretch the
// source's thin has not mapped, adding the sectors to *done. The thin's
// first MiB is the leg's dm-raid metadata: thin sector x is data sector
// x - kMetaSectors, and what falls below it or past the data is clipped.
Status DiscardUnmapped(DeviceMapper* dm, const std::string& data, const LegMap& map, uint64_t data_sectors,
                       uint64_t* done) {
  const uint64_t block = static_cast<uint64_t>(map.block_kib) * 2, end = kMetaSectors + data_sectors;
  uint64_t from = 0;  // thin sector where the unmapped stretch begins
  auto discard_to = [&](uint64_t to) {
    const uint64_t b = std::max(from, kMetaSectors), e = std::min(to, end);
    if (b >= e) return Status::OK();
    VS_RETURN_IF_ERROR(dm->Discard(data, b - kMetaSectors, e - b));
    *done += e - b;
    return Status::OK();
  };
  for (const auto& r : map.ranges) {
    VS_RETURN_IF_ERROR(discard_to(static_cast<uint64_t>(r.first) * block));
    from = static_cast<uint64_t>(r.first + r.second) * block;
    if (from >= end) return Status::OK();
  }
  return discard_to(end);
}

bool NoLegFailed(const MirrorSpec& m, const MirrorState& s) {
  if (s.health.size() != m.legs.size()) return false;
  for (size_t i = 0; i < m.legs.size(); ++i)
    if (!m.legs[i].absent() && s.health[i] == 'D') return false;
  return true;
}

}  // namespace

int64_t Assembly::TrimOne(int64_t now_ms) {
  if (!leg_maps_) return 0;
  auto due = [&](const LegSpec& l) {
    auto it = trim_retry_.find(l.chunk_id);
    return l.trim && !l.absent() && (it == trim_retry_.end() || it->second.after_ms <= now_ms);
  };
  for (auto& r : records_)
    for (MirrorSpec& m : r.second.spec.mirrors) {
      auto leg = std::find_if(m.legs.begin(), m.legs.end(), due);
      if (leg == m.legs.end() || unresumed_.count({r.first, m.mirror_id}) || Frozen(r.first)) continue;
      MirrorState state;
      if (!ReadRaidStatus(r.first, m.mirror_id, &state) || !Whole(m, state)) continue;
      const LegSpec* source = TrimSource(m, *leg);
      if (!source) continue;
      Trim(&r.second, &m, &*leg, *source, now_ms);
      return leg->poisoned ? leg->chunk_id : 0;
    }
  return 0;
}

void Assembly::Trim(Record* rec, MirrorSpec* m, LegSpec* leg, const LegSpec& source, int64_t now_ms) {
  const int64_t lvol = rec->spec.lvol_id;
  const std::string raid = MirrorDm(lvol, m->mirror_id);
  uint64_t trimmed = 0;
  bool discarding = false;
  Status st = dm_->Suspend(raid);
  // Looked at again once suspended (in-flight I/O done): a source that
  // failed since the last look lacks the writes made after, which its map
  // does not show, so discarding by it would lose them. Only a failure can
  // have happened since that look, and it shows as D; suspending froze the
  // recovery thread, which makes the action "frozen" and may turn the other
  // letters to 'a', so neither says anything here.
  MirrorState state;
  if (st.ok() && !(ReadRaidStatus(lvol, m->mirror_id, &state) && NoLegFailed(*m, state)))
    st = Status::Error(EAGAIN, raid + " lost a leg before its trim");
  if (st.ok()) {
    LegMap map;
    st = leg_maps_->Get(source.chunk_id, &map);
    discarding = st.ok();
    if (st.ok())
      st = DiscardUnmapped(dm_, SliceDm(lvol, leg->chunk_id, "data"), map,
                           static_cast<uint64_t>(m->capacity_gib) * kSectorsPerGib, &trimmed);
  }
  // A discard still running may land after the VM's next writes: the leg
  // leaves the raid before the resume (recorded first) and never returns.
  leg->poisoned = discarding && st.code() == ETIMEDOUT;
  TrimDone(rec, *m, leg, st, trimmed, now_ms);
  Status resumed = leg->poisoned ? ReloadRaid(lvol, *m) : dm_->Resume(raid);
  if (resumed.ok()) return;
  unresumed_.insert({lvol, m->mirror_id});
  VS_LOG_ERROR("%s: resume after a trim failed; retried at every look: %s", raid.c_str(), resumed.ToString().c_str());
}

void Assembly::TrimDone(Record* rec, const MirrorSpec& m, LegSpec* leg, const Status& st, uint64_t trimmed_sectors,
                        int64_t now_ms) {
  const std::string what = "leg " + FormatId("dext", leg->chunk_id) + " of " + FormatId("mirr", m.mirror_id);
  TrimRetry& retry = trim_retry_[leg->chunk_id];
  if (leg->poisoned) {
    VS_LOG_ERROR("%s: a discard of its trim did not return in time and may still land; the leg leaves the mirror "
                 "for good and is reported dead, so the manager replaces it: %s",
                 what.c_str(), st.ToString().c_str());
  } else if (st.ok()) {
    VS_LOG_INFO("%s trimmed: %llu MiB returned to pool of %s", what.c_str(),
                static_cast<unsigned long long>(trimmed_sectors / kSectorsPerMib), FormatId("pdsk", leg->pdsk_id).c_str());
  } else if (st.code() == EOPNOTSUPP) {
    VS_LOG_INFO("%s stays fully provisioned: its LUN takes no discards (rebuilt legs stay thin on LIO only)",
                what.c_str());
  } else if (++retry.failures < kTrimAttempts) {
    retry.after_ms = now_ms + (kTrimRetryMs << (retry.failures - 1));
    VS_LOG_WARN("%s: trim failed (attempt %d of %d; what it discarded read zeros anyway), retried in %lld s: %s",
                what.c_str(), retry.failures, kTrimAttempts, static_cast<long long>((retry.after_ms - now_ms) / 1000),
                st.ToString().c_str());
    return;
  } else {
    VS_LOG_ERROR("%s stays fully provisioned: its trim failed %d times, the last: %s", what.c_str(), kTrimAttempts,
                 st.ToString().c_str());
  }
  leg->trim = false;
  trim_retry_.erase(leg->chunk_id);
  Status saved = SaveRecord(*rec);
  if (!saved.ok())
    VS_LOG_ERROR("cannot record %s: %s", FormatId("lvol", rec->spec.lvol_id).c_str(), saved.ToString().c_str());
}

void Assembly::RetryResumes() {
  for (auto it = unresumed_.begin(); it != unresumed_.end();) {
    if (Frozen(it->first)) {  // its thaw resumes it; a reload now would break the freeze
      ++it;
      continue;
    }
    const std::string raid = MirrorDm(it->first, it->second);
    const MirrorSpec* m = nullptr;
    auto rec = records_.find(it->first);
    if (rec != records_.end())
      for (const MirrorSpec& x : rec->second.spec.mirrors)
        if (x.mirror_id == it->second) m = &x;
    DmInfo info;
    Status st = m ? dm_->GetInfo(raid, &info) : Status::OK();
    if (st.ok() && m && info.exists && info.suspended) {
      st = ReloadRaid(it->first, *m);
      if (st.ok()) VS_LOG_WARN("%s was left suspended by a trim (failed resume or the agent's end): resumed", raid.c_str());
      else VS_LOG_ERROR("%s stays suspended, its I/O waiting: resume failed: %s", raid.c_str(), st.ToString().c_str());
    }
    it = st.ok() ? unresumed_.erase(it) : std::next(it);
  }
}

}  // namespace vastsky
