// Recovery: the manager's background loop that turns failures into full
// redundancy again, without a hand.
//
// Two threads, so that judging silence never waits behind rebuild work on
// a slow head. The watch thread, every tick,
//  1. declares failed the servers silent for longer than the grace period
//     on the monotonic clock (manager/failure_detector.h: silence counts
//     from the manager's start at the earliest, and when too many fall
//     silent at once the manager suspects itself and declares nothing);
//     a quick reboot stays within the grace period: the heads' raid1
//     bitmaps then resync only what changed. A storage server's legs get
//     replacements; a head is fenced first: no access is granted to it any
//     more, its initiator is revoked on every disk of every live storage
//     server, and only when all confirm are its volumes released (and may
//     be attached elsewhere). Calls to agents here take the quick timeout,
//     and a server that did not answer is not asked again in that pass;
//  2. replaces the legs a head has reported dead (heartbeat "deadlegs")
//     for longer than the grace period while their server lives: a LUN
//     gone, a disk returning read errors;
//  2b. asks storage agents to delete the thin devices of doomed legs
//     (deleteLegs) and frees their space once they confirm;
// The work thread, every tick,
//  3. completes the rebuilds whose head reports the mirror in sync;
//  4. attaches detached volumes with legs to rebuild to a live head
//     (rebuild_only) and detaches them once their rebuilds are done;
//  5. starts queued rebuilds as the scheduler picks them (one per disk,
//     least redundant first), within the cluster-wide rate: the head where
//     the volume is attached reloads the mirror with the new leg in the
//     lost leg's slot, and dm raid copies it at the per-disk rate.
// Everything it knows is in the database, so a manager killed at any point
// resumes where it was. Rates can change while it runs (SetRates).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "lib/clock.h"
#include "manager/acl_reconcile.h"
#include "manager/attacher.h"
#include "manager/failure_detector.h"
#include "manager/head_reconcile.h"
#include "manager/rebuild_progress.h"
#include "manager/store.h"

namespace vastsky {

struct RecoveryOptions {
  int grace_s = 60;             // silence before a server is declared failed
  double storm_share = 1.0 / 3;  // more than this share silent together: the manager's own isolation
  int64_t disk_rate_mibs = 64;  // per rebuild (so per disk): dm raid's max_recovery_rate
  int64_t cluster_rate_mibs = 0;  // all rebuilds together; 0 = no limit
  int tick_ms = 1000;
  int rebuild_attachments = 8;  // detached volumes attached for rebuild at once
};

class Recovery {
 public:
  Recovery(Store* store, Attacher* attacher, Attacher::Locked locked, RecoveryOptions options,
           const Clock* clock = SystemClock());
  ~Recovery();
  void Start();
  void Stop();
  // New rates apply to the rebuilds that start from now on. EINVAL if out
  // of range (1 MiB/s .. 100 GiB/s per disk; cluster 0 or at least a disk's).
  Status SetRates(int64_t disk_mibs, int64_t cluster_mibs);
  void Rates(int64_t* disk_mibs, int64_t* cluster_mibs);
  // Fences a head (its initiator revoked on every disk of every live
  // storage server), then marks it failed, releases its volumes and frees
  // the old legs held for it on those disks. EAGAIN naming the disks not
  // confirmed: the volumes stay held.
  Status FenceHead(int64_t hsvr_id);
  // An agent was heard: a heartbeat, or (Registered) a registration. A
  // registration also brings the agent back to the database at the next
  // pass: a storage server's ACLs are reconciled, a head's fence ends (it
  // may be granted access again) and what it holds unattached is detached.
  void Heard(int kind, int64_t id) { detector_.Heard(kind, id); }
  void Registered(int kind, int64_t id);
  // The last judgement of silence: isolated (the storm guard holds every
  // failure back) and how many servers are silent beyond the grace period.
  bool isolated() const { return detector_.isolated(); }
  // Silence of each server listed (thread-safe: the detector's own lock).
  std::vector<int64_t> SilenceMs(const std::vector<MonitoredServer>& servers) const {
    return detector_.SilenceMs(servers);
  }
  int silent_servers() const { return detector_.silent_count(); }
  // How far each running rebuild has come, as its head last reported.
  const RebuildProgress& progress() const { return progress_; }
  // A head's heartbeat: the chunks of the legs it holds dead now. A leg
  // not listed for a whole grace period is forgotten.
  void NoteDeadLegs(int64_t hsvr_id, const std::vector<int64_t>& chunks);
  // Keeps the loop from attaching this volume for a rebuild while a user
  // attaches or deletes it (from Hold until the matching Release).
  void Hold(int64_t lvol_id);
  void Release(int64_t lvol_id);
  // One pass of both threads' work (tests call it directly).
  void RunOnce() {
    WatchOnce();
    WorkOnce();
  }

 private:
  void WatchOnce();
  void WorkOnce();
  // Runs `pass` every tick on its own thread until Stop().
  std::thread Loop(void (Recovery::*pass)());
  void FailSilentServers();
  void NoteIsolation(const SilenceVerdict& verdict);
  void ReplaceDeadLegs();
  void DeleteDoomedLegs();
  void RebuildDetached();
  void PollRunning(const std::vector<RunningRebuild>& running);
  Status StartOne(int64_t mirror_id, int64_t source_pdsk);
  // Asks the head running r to reload its mirror without the given legs.
  Status DropLegs(const RunningRebuild& r, VolumeLayout layout, const std::vector<int64_t>& chunks);
  // The head answered rebuildMirror with layout's legs for mirror_id: what
  // is held for it there otherwise is freed (called in the head's turn).
  void ConfirmMirror(int64_t hsvr_id, const VolumeLayout& layout, int64_t mirror_id);

  Store* store_;
  Attacher* attacher_;
  Attacher::Locked locked_;
  AclReconciler acls_;
  HeadReconciler heads_;
  RecoveryOptions options_;
  const Clock* clock_;
  FailureDetector detector_;
  RebuildProgress progress_;
  std::mutex mu_;  // options_' rates, stop_
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread watch_thread_, work_thread_;
  // Mirrors whose start failed, and when they may be tried again (the
  // work thread's own).
  std::map<int64_t, int64_t> backoff_until_ms_;
  // Dead legs by chunk, as heads report them (under mu_). Memory is
  // enough: a restarted manager hears of them again at the next beat.
  struct DeadLeg {
    int64_t hsvr_id, first_ms, last_ms;
    bool dead_now;  // listed by the head's latest heartbeat
    bool told;      // "only copy" already logged
    bool settled;   // replaced (or nothing to replace): not again
  };
  std::map<int64_t, DeadLeg> dead_legs_;
  // Volumes not to attach for a rebuild before the given time (a failed
  // try), and those users are working on (under mu_).
  std::map<int64_t, int64_t> retry_after_ms_;
  std::map<int64_t, int> held_;
  // Per disk, the last failure to delete its doomed legs that was logged
  // (the watch thread's own): a pool that refuses for hours logs once.
  std::map<int64_t, std::string> doomed_logged_;
};

}  // namespace vastsky
