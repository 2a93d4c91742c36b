#include "manager/recovery.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <set>

#include "lib/ids.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "manager/rebuild_scheduler.h"

namespace vastsky {

namespace {

// A leg last reported dead this recently is dead now (heads report every
// heartbeat, a few seconds apart at most).
constexpr int64_t kDeadNowMs = 10000;

std::string OpId(const std::string& what) {
  std::string hex;
  if (!RandomString(12, kHexDigits, &hex).ok()) hex = std::to_string(SystemClock()->MonotonicMs());
  return what + "-" + hex;
}

// A mirror is whole when every member is alive and in sync and no recovery
// runs: dm raid's health "AA..", action "idle", sync "n/n".
bool InSync(const std::string& health, const std::string& sync, const std::string& action) {
  if (health.empty() || health.find_first_not_of('A') != std::string::npos || action != "idle") return false;
  RebuildSample s;
  return ParseSyncRatio(sync, &s) && s.done == s.total;
}

}  // namespace

Recovery::Recovery(Store* store, Attacher* attacher, Attacher::Locked locked, RecoveryOptions options,
                   const Clock* clock)
    : store_(store),
      attacher_(attacher),
      locked_(std::move(locked)),
      acls_(store, attacher, locked_),
      heads_(store, attacher, locked_),
      options_(options),
      clock_(clock),
      detector_(clock, FailureDetector::Options{options.grace_s, options.storm_share}),
      progress_(clock) {}

Recovery::~Recovery() { Stop(); }

std::thread Recovery::Loop(void (Recovery::*pass)()) {
  return std::thread([this, pass] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      (this->*pass)();
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(options_.tick_ms), [this] { return stop_; });
    }
  });
}

void Recovery::Start() {
  watch_thread_ = Loop(&Recovery::WatchOnce);
  work_thread_ = Loop(&Recovery::WorkOnce);
}

void Recovery::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (watch_thread_.joinable()) watch_thread_.join();
  if (work_thread_.joinable()) work_thread_.join();
}

void Recovery::Registered(int kind, int64_t id) {
  detector_.Heard(kind, id);
  if (kind == kTargetSsvr) {
    // Its agent may have restored ACLs a fence revoked meanwhile.
    acls_.Mark(id);
    return;
  }
  attacher_->EndFence(id);
  heads_.Mark(id);
}

Status Recovery::SetRates(int64_t disk_mibs, int64_t cluster_mibs) {
  if (disk_mibs < 1 || disk_mibs > 100 * 1024)
    return Status::Error(EINVAL, "the per-disk rebuild rate must be 1 to 102400 MiB/s");
  if (cluster_mibs != 0 && (cluster_mibs < disk_mibs || cluster_mibs > 1024 * 1024 * 1024))
    return Status::Error(EINVAL, "the cluster rebuild rate must be 0 (no limit) or at least the per-disk rate");
  {
    std::lock_guard<std::mutex> lock(mu_);
    options_.disk_rate_mibs = disk_mibs;
    options_.cluster_rate_mibs = cluster_mibs;
  }
  VS_LOG_INFO("rebuild rates now %lld MiB/s per disk, %s", static_cast<long long>(disk_mibs),
              cluster_mibs ? (std::to_string(cluster_mibs) + " MiB/s in all").c_str() : "no cluster-wide limit");
  // Rebuilds already running take the new per-disk rate at once.
  std::vector<RebuildTask> queued;
  std::set<int64_t> busy;
  std::vector<RunningRebuild> running;
  VS_RETURN_IF_ERROR(locked_([&] { return store_->RebuildWork(&queued, &busy, &running); }));
  std::map<int64_t, std::string> heads;
  for (const RunningRebuild& r : running) heads[r.hsvr_id] = r.head_url;
  for (const auto& h : heads) {
    std::lock_guard<std::mutex> head_lock(*attacher_->HeadMutex(h.first));
    Status st = attacher_->head()->SetRebuildRate(h.second, disk_mibs * 1024);
    if (!st.ok())
      VS_LOG_WARN("%s keeps its old rebuild rate until its next rebuild: %s", FormatId("hsvr", h.first).c_str(),
                  st.ToString().c_str());
  }
  return Status::OK();
}

void Recovery::Rates(int64_t* disk_mibs, int64_t* cluster_mibs) {
  std::lock_guard<std::mutex> lock(mu_);
  *disk_mibs = options_.disk_rate_mibs;
  *cluster_mibs = options_.cluster_rate_mibs;
}

void Recovery::NoteDeadLegs(int64_t hsvr_id, const std::vector<int64_t>& chunks) {
  const int64_t now = clock_->MonotonicMs();
  const std::set<int64_t> listed(chunks.begin(), chunks.end());
  std::lock_guard<std::mutex> lock(mu_);
  // A leg the head took back is alive now, even if it died a moment ago:
  // only the latest report counts, or a leg back within the grace period
  // would still be replaced.
  for (auto& d : dead_legs_)
    if (d.second.hsvr_id == hsvr_id && !listed.count(d.first)) d.second.dead_now = false;
  // A leg that comes back is not forgotten at once: one that dies again
  // within the grace period (revived, then failing again mid-resync) counts
  // as dead since it first died, or it would be revived forever.
  for (int64_t c : listed) {
    auto it = dead_legs_.find(c);
    if (it == dead_legs_.end() || it->second.hsvr_id != hsvr_id) {
      dead_legs_[c] = {hsvr_id, now, now, true, false, false};
      VS_LOG_WARN("%s reports %s dead; replaced if it stays dead for %d s", FormatId("hsvr", hsvr_id).c_str(),
                  FormatId("dext", c).c_str(), options_.grace_s);
    } else {
      it->second.last_ms = now;
      it->second.dead_now = true;
    }
  }
}

void Recovery::ReplaceDeadLegs() {
  const int64_t now = clock_->MonotonicMs();
  std::vector<std::pair<int64_t, int64_t>> due;  // chunk, hsvr
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = dead_legs_.begin(); it != dead_legs_.end();) {
      // Not reported for a whole grace period (alive, replaced and gone
      // from the head, or its head silent: the silent-server path's
      // business): forgotten.
      if (now - it->second.last_ms > 1000L * options_.grace_s) {
        if (!it->second.settled)
          VS_LOG_INFO("%s has stayed alive on %s", FormatId("dext", it->first).c_str(),
                      FormatId("hsvr", it->second.hsvr_id).c_str());
        it = dead_legs_.erase(it);
        continue;
      }
      // Replaced when it first died a grace period ago and the head's
      // latest (and recent) heartbeat still lists it.
      const DeadLeg& d = it->second;
      if (!d.settled && d.dead_now && now - d.first_ms >= 1000L * options_.grace_s && now - d.last_ms <= kDeadNowMs)
        due.push_back({it->first, d.hsvr_id});
      ++it;
    }
  }
  for (const auto& d : due) {
    Status st = locked_([&] { return store_->ReplaceDeadLeg(d.first, d.second); });
    std::lock_guard<std::mutex> lock(mu_);
    auto it = dead_legs_.find(d.first);
    if (it == dead_legs_.end()) continue;
    if (st.ok()) {
      // Kept while the head still lists it, so it is neither replaced nor
      // announced again.
      it->second.settled = true;
    } else if (!it->second.told) {
      it->second.told = true;
      VS_LOG_ERROR("%s dead on %s is not replaced: %s", FormatId("dext", d.first).c_str(),
                   FormatId("hsvr", d.second).c_str(), st.ToString().c_str());
    }
  }
}

void Recovery::Hold(int64_t lvol_id) {
  std::lock_guard<std::mutex> lock(mu_);
  ++held_[lvol_id];
}

void Recovery::Release(int64_t lvol_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (--held_[lvol_id] <= 0) held_.erase(lvol_id);
}

void Recovery::RebuildDetached() {
  std::vector<int64_t> idle;
  std::vector<std::pair<int64_t, int64_t>> work;
  Status st = locked_([&] {
    VS_RETURN_IF_ERROR(store_->IdleRebuildAttachments(&idle));
    return store_->RebuildAttachWork(options_.rebuild_attachments, &work);
  });
  if (!st.ok()) {
    VS_LOG_ERROR("cannot look for detached volumes to rebuild: %s", st.ToString().c_str());
    return;
  }
  for (int64_t lvol : idle) {
    st = attacher_->Detach(VolumeRef{lvol, ""}, /*rebuild_attachment=*/true);
    if (st.ok()) VS_LOG_INFO("%s rebuilt: detached again", FormatId("lvol", lvol).c_str());
    else VS_LOG_WARN("%s rebuilt but not detached yet: %s", FormatId("lvol", lvol).c_str(), st.ToString().c_str());
  }
  const int64_t now = clock_->MonotonicMs();
  for (const auto& w : work) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto h = retry_after_ms_.find(w.first);
      if (held_.count(w.first) || (h != retry_after_ms_.end() && h->second > now)) continue;
      retry_after_ms_.erase(w.first);
    }
    VS_LOG_INFO("%s is detached with legs to rebuild: attaching it to %s for the rebuild",
                FormatId("lvol", w.first).c_str(), FormatId("hsvr", w.second).c_str());
    st = attacher_->Attach(VolumeRef{w.first, ""}, w.second, /*rebuild_only=*/true);
    if (st.ok()) continue;
    VS_LOG_WARN("%s could not be attached for its rebuild: %s; retrying in 30 s", FormatId("lvol", w.first).c_str(),
                st.ToString().c_str());
    std::lock_guard<std::mutex> lock(mu_);
    retry_after_ms_[w.first] = now + 30000;
  }
}

void Recovery::WatchOnce() {
  acls_.RunPending();
  FailSilentServers();
  ReplaceDeadLegs();
  DeleteDoomedLegs();
}

void Recovery::DeleteDoomedLegs() {
  std::vector<DoomedDisk> disks;
  Status st = locked_([&] { return store_->DoomedLegs(&disks); });
  if (!st.ok()) {
    VS_LOG_ERROR("cannot read the legs to delete: %s", st.ToString().c_str());
    return;
  }
  std::set<int64_t> unreachable;  // servers that did not answer this pass
  for (const DoomedDisk& d : disks) {
    if (unreachable.count(d.ssvr_id)) continue;
    // Any failure, an unknown outcome too, keeps them doomed: the next pass
    // asks again, and deleting twice is harmless.
    st = attacher_->storage()->DeleteLegs(d.url, OpId("delete-" + std::to_string(d.pdsk_id)), d.pdsk_id, d.legs);
    if (st.ok()) st = locked_([&] { return store_->ForgetDoomed(d.pdsk_id, d.legs); });
    if (st.ok()) {
      doomed_logged_.erase(d.pdsk_id);
      continue;
    }
    if (st.code() == ECONNREFUSED || st.code() == ETIMEDOUT || st.code() == EIO) unreachable.insert(d.ssvr_id);
    std::string& logged = doomed_logged_[d.pdsk_id];
    if (logged == st.ToString()) continue;
    logged = st.ToString();
    VS_LOG_WARN("%zu deleted leg(s) of %s keep their space until their thin devices are gone (retrying every pass; "
                "logged again only if the error changes): %s",
                d.legs.size(), FormatId("pdsk", d.pdsk_id).c_str(), logged.c_str());
  }
}

void Recovery::WorkOnce() {
  heads_.RunPending();
  RebuildDetached();
  std::vector<RebuildTask> queued;
  std::set<int64_t> busy;
  std::vector<RunningRebuild> running;
  Status st = locked_([&] { return store_->RebuildWork(&queued, &busy, &running); });
  if (!st.ok()) {
    VS_LOG_ERROR("cannot read the rebuild queue: %s", st.ToString().c_str());
    return;
  }
  std::set<int64_t> running_ids;
  for (const RunningRebuild& r : running) running_ids.insert(r.mirror_id);
  progress_.Retain(running_ids);
  PollRunning(running);
  int64_t disk_rate, cluster_rate;
  Rates(&disk_rate, &cluster_rate);
  int slots = cluster_rate ? static_cast<int>(cluster_rate / disk_rate) : 1 << 20;
  slots = std::max(1, slots) - static_cast<int>(running.size());
  const int64_t now = clock_->MonotonicMs();
  std::vector<RebuildTask> ready;
  for (const RebuildTask& t : queued) {
    auto b = backoff_until_ms_.find(t.id);
    if (b == backoff_until_ms_.end() || b->second <= now) ready.push_back(t);
  }
  for (const RebuildStart& s : PickRebuilds(ready, busy, slots)) {
    st = StartOne(s.id, s.source);
    if (st.ok()) {
      backoff_until_ms_.erase(s.id);
      continue;
    }
    VS_LOG_WARN("rebuild of %s could not start: %s; retrying in 30 s", FormatId("mirr", s.id).c_str(),
                st.ToString().c_str());
    backoff_until_ms_[s.id] = now + 30000;
    Status rq = locked_([&] { return store_->RequeueRebuild(s.id, st.ToString()); });
    if (!rq.ok()) VS_LOG_ERROR("cannot requeue %s: %s", FormatId("mirr", s.id).c_str(), rq.ToString().c_str());
  }
}

void Recovery::FailSilentServers() {
  std::vector<MonitoredServer> live;
  Status st = locked_([&] { return store_->MonitoredServers(&live); });
  if (!st.ok()) {
    VS_LOG_ERROR("cannot list the servers to watch: %s", st.ToString().c_str());
    return;
  }
  const bool was_isolated = detector_.isolated();
  const SilenceVerdict verdict = detector_.Judge(live);
  if (verdict.isolated != was_isolated) NoteIsolation(verdict);
  for (const MonitoredServer& s : verdict.failed) {
    if (s.kind == kTargetSsvr) {
      VS_LOG_WARN("%s silent for more than %d s: declared failed, its legs get replacements",
                  FormatId("ssvr", s.id).c_str(), options_.grace_s);
      st = locked_([&] { return store_->NotifyFailure(kTargetSsvr, s.id); });
      if (!st.ok()) VS_LOG_ERROR("cannot fail %s: %s", FormatId("ssvr", s.id).c_str(), st.ToString().c_str());
      continue;
    }
    st = FenceHead(s.id);
    if (!st.ok())
      VS_LOG_ERROR("%s silent for more than %d s but not fenced yet, its volumes stay held: %s",
                   FormatId("hsvr", s.id).c_str(), options_.grace_s, st.ToString().c_str());
  }
}

void Recovery::NoteIsolation(const SilenceVerdict& verdict) {
  std::string names;
  for (const MonitoredServer& s : verdict.silent) names += " " + FormatId(s.kind == kTargetSsvr ? "ssvr" : "hsvr", s.id);
  Status st;
  if (verdict.isolated) {
    st = locked_([&] {
      return store_->NoteClusterEvent(
          "error", "isolation",
          verdict.why + " (silent:" + names +
              "): the manager assumes it is cut off itself and declares nothing failed. Check the manager's "
              "network; if those servers are really down, declare each failed with notifyFailure");
    });
  } else {
    st = locked_([&] {
      return store_->NoteClusterEvent("info", "isolation",
                                      "the storm of silence is over; " + std::to_string(verdict.silent.size()) +
                                          " server(s) still silent are judged one by one again");
    });
  }
  if (!st.ok()) VS_LOG_ERROR("cannot record the isolation event: %s", st.ToString().c_str());
}

Status Recovery::FenceHead(int64_t hsvr_id) {
  HeadAgentInfo head;
  std::vector<ChunkInfo> disks;
  VS_RETURN_IF_ERROR(locked_([&] { return store_->FenceTargets(hsvr_id, &head, &disks); }));
  // No grant may re-open what the revokes below close.
  attacher_->BeginFence(hsvr_id);
  std::string failed;
  std::set<int64_t> unreachable;
  for (const ChunkInfo& d : disks) {
    if (head.initiator.empty()) break;
    Status st = unreachable.count(d.ssvr_id)
                    ? Status::Error(EHOSTUNREACH, "server did not answer")
                    : attacher_->storage()->RevokeInitiator(d.ssvr_url, OpId("fence-" + std::to_string(hsvr_id)),
                                                            d.pdsk_id, head.initiator);
    // ENOENT: the agent no longer exports that disk, so nothing is open.
    if (st.ok() || st.code() == ENOENT) continue;
    if (st.code() != EHOSTUNREACH) unreachable.insert(d.ssvr_id);
    failed += " " + FormatId("pdsk", d.pdsk_id) + " (" + ErrnoName(st.code()) + ")";
  }
  if (!failed.empty()) return Status::Error(EAGAIN, "revoke not confirmed on" + failed);
  VS_LOG_WARN("%s fenced: its initiator %s is revoked on all %zu disks; its volumes are released",
              FormatId("hsvr", hsvr_id).c_str(), head.initiator.c_str(), disks.size());
  // Old legs it held are freed on these disks only (a head without an
  // initiator was never granted any): a server that was not live missed the
  // revoke, and keeps them held until it is reconciled.
  std::set<int64_t> fenced;
  for (const ChunkInfo& d : disks) fenced.insert(d.pdsk_id);
  return locked_([&] { return store_->NotifyFailure(kTargetHsvr, hsvr_id, &fenced); });
}

void Recovery::PollRunning(const std::vector<RunningRebuild>& running) {
  std::map<std::string, std::vector<const RunningRebuild*>> by_head;
  for (const RunningRebuild& r : running) by_head[r.head_url].push_back(&r);
  for (const auto& h : by_head) {
    std::vector<HeadVolumeState> volumes;
    Status st = attacher_->head()->ListVolumes(h.first, &volumes);
    if (!st.ok()) {
      VS_LOG_WARN("cannot ask %s how its rebuilds go: %s", h.first.c_str(), st.ToString().c_str());
      continue;
    }
    std::set<int64_t> rebuilding;
    for (const RunningRebuild* r : h.second) rebuilding.insert(r->mirror_id);
    std::map<int64_t, bool> whole;
    for (const HeadVolumeState& vol : volumes)
      for (const HeadMirrorState& m : vol.mirrors) {
        whole[m.mirror_id] = InSync(m.health, m.sync, m.action);
        RebuildSample sample;
        if (rebuilding.count(m.mirror_id) && ParseSyncRatio(m.sync, &sample)) progress_.Note(m.mirror_id, sample);
      }
    for (const RunningRebuild* r : h.second) {
      if (!whole[r->mirror_id]) continue;
      std::vector<int64_t> chunks, retiring;
      VolumeLayout layout;
      // The legs it ran for: the mirror's SPARE legs now all in sync.
      st = locked_([&] {
        VolumeRef ref;
        ref.id = r->lvol_id;
        VS_RETURN_IF_ERROR(store_->ShowLogicalVolume(ref, &layout));
        for (const MirrorInfo& m : layout.mirrors)
          if (m.id == r->mirror_id)
            for (const ChunkInfo& c : m.chunks)
              if (c.status == kSpare) chunks.push_back(c.id);
        return store_->RetiringLegs(r->mirror_id, &retiring);
      });
      // Drained legs leave the head's mirror before the database lets their
      // space go, so nothing else can ever be written there through it.
      if (st.ok() && !retiring.empty()) st = DropLegs(*r, layout, retiring);
      if (st.ok()) st = locked_([&] { return store_->FinishRebuild(r->mirror_id, chunks); });
      if (st.ok() && !retiring.empty()) attacher_->RevokeLeft(r->hsvr_id, layout, retiring);
      if (st.ok()) {
        VS_LOG_INFO("%s rebuilt on %s: %zu leg(s) in sync", FormatId("mirr", r->mirror_id).c_str(),
                    FormatId("hsvr", r->hsvr_id).c_str(), chunks.size());
      } else {
        VS_LOG_ERROR("cannot record the rebuild of %s: %s", FormatId("mirr", r->mirror_id).c_str(),
                     st.ToString().c_str());
      }
    }
  }
}

Status Recovery::DropLegs(const RunningRebuild& r, VolumeLayout layout, const std::vector<int64_t>& chunks) {
  for (MirrorInfo& m : layout.mirrors) {
    if (m.id != r.mirror_id) continue;
    m.chunks.erase(std::remove_if(m.chunks.begin(), m.chunks.end(),
                                  [&](const ChunkInfo& c) {
                                    return std::find(chunks.begin(), chunks.end(), c.id) != chunks.end();
                                  }),
                   m.chunks.end());
  }
  std::lock_guard<std::mutex> head_lock(*attacher_->HeadMutex(r.hsvr_id));
  Status st = attacher_->head()->RebuildMirror(r.head_url, OpId("retire-" + std::to_string(r.mirror_id)), layout,
                                               r.mirror_id, 0, 0);
  if (!st.ok()) return Status::Error(st.code(), FormatId("hsvr", r.hsvr_id) + " could not drop the drained leg(s): " + st.ToString());
  ConfirmMirror(r.hsvr_id, layout, r.mirror_id);
  return Status::OK();
}

void Recovery::ConfirmMirror(int64_t hsvr_id, const VolumeLayout& layout, int64_t mirror_id) {
  // The head's mirror now has exactly the legs it was given: the space of
  // any other it had (a replaced leg) may go back to the pool.
  std::set<int64_t> legs;
  for (const MirrorInfo& m : layout.mirrors)
    if (m.id == mirror_id)
      for (const ChunkInfo& c : m.chunks) legs.insert(c.id);
  Status st = locked_([&] { return store_->ConfirmLegs(hsvr_id, layout.volume.id, mirror_id, legs); });
  if (!st.ok())
    VS_LOG_ERROR("%s dropped old legs of %s, but their space stays held: %s", FormatId("hsvr", hsvr_id).c_str(),
                 FormatId("mirr", mirror_id).c_str(), st.ToString().c_str());
}

Status Recovery::StartOne(int64_t mirror_id, int64_t source_pdsk) {
  RebuildPlan plan;
  VS_RETURN_IF_ERROR(locked_([&] { return store_->StartRebuild(mirror_id, source_pdsk, &plan); }));
  std::lock_guard<std::mutex> head_lock(*attacher_->HeadMutex(plan.head.id));
  const std::string op = OpId("rebuild-" + std::to_string(mirror_id));
  // The head may read and write every live leg: the new ones need access.
  for (const MirrorInfo& m : plan.layout.mirrors) {
    if (m.id != mirror_id) continue;
    for (const ChunkInfo& c : m.chunks) {
      if (c.status != kSpare || !c.reachable) continue;
      Status st = attacher_->Grant(plan.head, c.pdsk_id, c.ssvr_url, op + "-p" + std::to_string(c.pdsk_id));
      if (!st.ok())
        return Status::Error(st.code(), "allowInitiator on " + FormatId("pdsk", c.pdsk_id) + ": " + st.ToString());
    }
  }
  int64_t disk_rate, cluster_rate;
  Rates(&disk_rate, &cluster_rate);
  Status st = attacher_->head()->RebuildMirror(plan.head.url, op + "-head", plan.layout, mirror_id, plan.source_pdsk,
                                               disk_rate * 1024);
  if (!st.ok()) return Status::Error(st.code(), FormatId("hsvr", plan.head.id) + " rebuildMirror: " + st.ToString());
  ConfirmMirror(plan.head.id, plan.layout, mirror_id);
  VS_LOG_INFO("rebuilding %s of %s on %s from %s at %lld MiB/s", FormatId("mirr", mirror_id).c_str(),
              FormatId("lvol", plan.layout.volume.id).c_str(), FormatId("hsvr", plan.head.id).c_str(),
              FormatId("pdsk", plan.source_pdsk).c_str(), static_cast<long long>(disk_rate));
  return Status::OK();
}

}  // namespace vastsky
