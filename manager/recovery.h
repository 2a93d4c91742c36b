// Recovery: the manager's background loop that turns failures into full
// redundancy again, without a hand.
//
// Every tick it
//  1. declares failed the servers silent for longer than the grace period
//     (a quick reboot stays within it: the heads' raid1 bitmaps then resync
//     only what changed); a storage server's legs get replacements, a head
//     is fenced first: its initiator is revoked on every disk of every live
//     storage server, and only when all confirm are its volumes released
//     (and may be attached elsewhere);
//  2. replaces the legs a head has reported dead (heartbeat "deadlegs")
//     for longer than the grace period while their server lives: a LUN
//     gone, a disk returning read errors;
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

#include "manager/acl_reconcile.h"
#include "manager/attacher.h"
#include "manager/store.h"

namespace vastsky {

struct RecoveryOptions {
  int grace_s = 60;             // silence before a server is declared failed
  int64_t disk_rate_mibs = 64;  // per rebuild (so per disk): dm raid's max_recovery_rate
  int64_t cluster_rate_mibs = 0;  // all rebuilds together; 0 = no limit
  int tick_ms = 1000;
  int rebuild_attachments = 8;  // detached volumes attached for rebuild at once
};

class Recovery {
 public:
  Recovery(Store* store, Attacher* attacher, Attacher::Locked locked, RecoveryOptions options);
  ~Recovery();
  void Start();
  void Stop();
  // New rates apply to the rebuilds that start from now on. EINVAL if out
  // of range (1 MiB/s .. 100 GiB/s per disk; cluster 0 or at least a disk's).
  Status SetRates(int64_t disk_mibs, int64_t cluster_mibs);
  void Rates(int64_t* disk_mibs, int64_t* cluster_mibs);
  // Fences a head (its initiator revoked on every disk of every live
  // storage server), then marks it failed and releases its volumes. EAGAIN
  // naming the disks not confirmed: the volumes stay held.
  Status FenceHead(int64_t hsvr_id);
  // A head's heartbeat: the chunks of the legs it holds dead now. A leg
  // not listed for a whole grace period is forgotten.
  void NoteDeadLegs(int64_t hsvr_id, const std::vector<int64_t>& chunks);
  // Keeps the loop from attaching this volume for a rebuild while a user
  // attaches or deletes it (from Hold until the matching Release).
  void Hold(int64_t lvol_id);
  void Release(int64_t lvol_id);
  // One pass of the loop (tests call it directly).
  void RunOnce();
  // Storage servers whose ACLs each pass compares with the manager's view.
  AclReconciler* acl_reconciler() { return &acls_; }

 private:
  void FailStaleServers();
  void ReplaceDeadLegs();
  void RebuildDetached();
  void PollRunning(const std::vector<RunningRebuild>& running);
  Status StartOne(int64_t mirror_id, int64_t source_pdsk);
  // Asks the head running r to reload its mirror without the given legs.
  Status DropLegs(const RunningRebuild& r, VolumeLayout layout, const std::vector<int64_t>& chunks);

  Store* store_;
  Attacher* attacher_;
  Attacher::Locked locked_;
  AclReconciler acls_;
  RecoveryOptions options_;
  std::mutex mu_;  // options_' rates, stop_
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
  // Mirrors whose start failed, and when they may be tried again.
  std::map<int64_t, int64_t> backoff_until_ms_;
  // Dead legs by chunk, as heads report them (under mu_). Memory is
  // enough: a restarted manager hears of them again at the next beat.
  struct DeadLeg {
    int64_t hsvr_id, first_ms, last_ms;
    bool told;  // "only copy" already logged
  };
  std::map<int64_t, DeadLeg> dead_legs_;
  // Volumes not to attach for a rebuild before the given time (a failed
  // try), and those users are working on (under mu_).
  std::map<int64_t, int64_t> retry_after_ms_;
  std::map<int64_t, int> held_;
};

}  // namespace vastsky
