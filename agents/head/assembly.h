// The head agent's volumes: assembling one from its VolumeSpec (iSCSI
// sessions, dm-linear slices, dm raid1 mirrors, the dm-linear volume and its
// /dev/vastsky link), tearing it down, and finding it again after a restart.
//
// Attach, Detach and Grow run as a Plan (plan.h): a failure undoes what the
// call did, so a volume is either whole or absent. A volume is recorded (with its
// spec and CHAP credentials, in records_dir) once it is whole, and the
// record goes once it is gone; Start() re-assembles every recorded volume,
// adopting the devices that still exist (agent restart) or rebuilding them
// (reboot), and removes leftovers of an attach that a crash interrupted.
// Legs that dm raid rebuilt are trimmed afterwards (trim.cc; see Watch).
// A volume frozen for a snapshot (Freeze, freezer.h) is left alone until
// thawed: the looks neither reload, trim nor resume its devices; detach,
// grow and rebuild are EBUSY (the manager retries after the thaw, at most
// kFreezeMaxMs later; waiting here would hold every other call up).
// Thread-safe: one attach, detach, grow, freeze or look (Watch) at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agents/head/freezer.h"
#include "agents/head/leg_maps.h"
#include "agents/head/volume_spec.h"
#include "agents/host/device_mapper.h"
#include "agents/host/iscsi_initiator.h"
#include "lib/clock.h"

namespace vastsky {

struct AssemblyOptions {
  std::string link_dir = "/dev/vastsky";
  std::string records_dir;          // state_dir/volumes
  int kernel_timeout_ms = 30000;    // any one dm call or metadata write
  // Any one discard of a trim (the DeviceMapper's deadline for them, set
  // by its maker): beyond iSCSI's replacement timeout, so a discard still
  // running then is stuck, not slow.
  int discard_timeout_ms = 300000;
  const Clock* clock = nullptr;     // back-offs; null: SystemClock()
  // Volumes frozen for snapshots (freezer.h, on the same dm); null: none
  // ever is (Freeze is EOPNOTSUPP).
  Freezer* freezer = nullptr;
};

struct MirrorState {
  int64_t mirror_id = 0;
  std::string health, sync, action;  // dm raid status: "AA", "2048/2048", "idle"
};

struct VolumeState {
  int64_t lvol_id = 0;
  std::string name, device;
  bool assembled = false, open = false;
  bool read_only = false;    // the device as assembled refuses writes; if not assembled, as it will be
  int64_t capacity_gib = 0;  // of the device as assembled (its table); 0 if not
  std::vector<MirrorState> mirrors;
  bool io_known = false;     // the kernel gave the device's I/O counters
  BlockIoStats io;
};

class Assembly {
 public:
  // leg_maps: where trims get a source leg's mapping; null: no trims.
  Assembly(AssemblyOptions options, DeviceMapper* dm, IscsiInitiator* iscsi, LegMaps* leg_maps = nullptr);

  // Loads the records, clears leftovers, re-assembles. Only an unreadable
  // record directory is an error; a volume that cannot be assembled now is
  // logged and retried by Reconcile(). A recorded mirror's raid found
  // suspended (a trim the agent's crash interrupted) is resumed.
  Status Start();
  // Re-assembles recorded volumes whose device is missing; reloads
  // read-only the top device of a read-only one found writable.
  void Reconcile();
  // Assembles the volume and gives its device (/dev/vastsky/<name>), its
  // top device read-only if spec.read_only. A volume already assembled
  // with the same layout is adopted as it is; a different layout under the
  // same id is EEXIST, a different read_only EINVAL (detach first). The
  // mode is kept in the record: re-assembly, restart and Grow keep it.
  Status Attach(const VolumeSpec& spec, const std::string& chap_user, const std::string& chap_secret,
                std::string* device);
  // Tears the volume down and logs out of sessions no other volume uses.
  // EBUSY (and nothing touched) while its device is open or it is frozen.
  // Unknown: OK.
  Status Detach(int64_t lvol_id);
  Status List(std::vector<VolumeState>* out);
  // Grows an assembled volume to `spec`: its mirrors must be the ones
  // assembled (id, offset, size; their legs are Rebuild's business), then
  // new ones. The new mirrors are built as an attach builds them (fresh
  // legs zeroed, nosync), then the volume's dm-linear is reloaded with the
  // longer table (suspend without flushing, resume): I/O of an open device
  // waits a moment and goes on. A failure undoes the new mirrors and leaves
  // the old table. A repeat is a no-op; ENOENT if not assembled here;
  // EINVAL if the mirrors differ or spec is not longer; EBUSY if frozen.
  Status Grow(const VolumeSpec& spec);
  // Puts a mirror of an assembled volume on the legs `spec` gives it, in
  // its order. Legs are matched by chunk: a new one (session, slices,
  // zeroed metadata) is rebuilt from the others by dm raid at rate_kib
  // KiB/s (0: as before); one no longer given is dropped. So a replacement
  // takes its lost leg's place, and a drain grows the mirror by a leg and
  // later shrinks it. The raid is reloaded without flushing, so I/O goes
  // on; dropped legs' slices and unused sessions go. A repeat is a no-op.
  // ENOENT if the volume or mirror is not assembled here; EINVAL if no
  // kept leg holds the data; EBUSY if the volume is frozen.
  Status Rebuild(const VolumeSpec& spec, int64_t mirror_id, int rate_kib);
  // The rate of every recovery to come, and of those running: their raids
  // are reloaded with it and carry on from their checkpoint (those of a
  // frozen volume keep the old rate until their next reload).
  Status SetRebuildRate(int rate_kib);
  // Called every few seconds: a mirror with a dead leg whose device reads
  // again is reloaded as it is, so dm raid takes the leg back and its
  // write-intent bitmap resyncs only what changed meanwhile (a storage
  // server back within the grace period); legs rebuilt to the end are
  // recorded as in sync. Returns the chunks of the legs dm raid holds dead
  // now and of poisoned legs, for the manager (which replaces one dead
  // beyond its grace period).
  //
  // Then it trims at most one leg that dm raid rebuilt (LegSpec::trim),
  // once its mirror is whole: the raid is suspended with flush, the
  // mapping of another in-sync leg (the source) is taken from leg_maps,
  // every stretch the source's pool has not mapped (it reads zeros there,
  // so the new leg does too) is discarded on the new leg's data slice,
  // and the raid is resumed, on every path. A failure is retried later
  // (back-off doubling from 30 s); the 5th, or EOPNOTSUPP (no UNMAP on the
  // LUN), gives up: the leg stays fully provisioned. A discard that
  // overruns discard_timeout_ms (it may still land, after writes the VM
  // makes once resumed) poisons the leg: the raid is reloaded without it
  // before the resume and it is never taken back.
  std::vector<int64_t> Watch();
  // Freezes an assembled volume for a snapshot: options.freezer suspends
  // its top device, then each of its raids, with flush, for at most
  // timeout_ms (Freezer::Freeze: EBUSY frozen already, EINVAL timeout).
  // ENOENT if not assembled here. Thawing is Freezer::Thaw's alone.
  Status Freeze(int64_t lvol_id, int timeout_ms);

 private:
  // The record of a volume assembled here; ENOENT otherwise.
  struct Record;
  Status FindAssembled(int64_t lvol, Record** rec);
  bool Frozen(int64_t lvol) const { return options_.freezer && options_.freezer->Frozen(lvol); }
  // EBUSY naming `what` if lvol is frozen.
  Status RefuseFrozen(int64_t lvol, const char* what) const;
  // dm raid's status of a mirror; false if its raid is not there.
  bool ReadRaidStatus(int64_t lvol, int64_t mirror_id, MirrorState* out) const;
  // Every present leg alive and in sync, no recovery running.
  static bool Whole(const MirrorSpec& m, const MirrorState& s);
  // Rebuilding legs become in sync (true if any did).
  static bool MarkInSync(MirrorSpec* m);
  // MarkInSync if the mirror is Whole.
  void MarkRebuilt(int64_t lvol, MirrorSpec* m);
  // Watch's look at one mirror: dead and poisoned legs into dead_legs, a
  // dead leg that reads again taken back. True if m changed.
  bool WatchMirror(int64_t lvol, MirrorSpec* m, int64_t now_ms, std::vector<int64_t>* dead_legs);
  // Of the legs of m at looked_at (taken back, or assembled as in sync),
  // those a storage agent marked stale get status 3, so that dm raid
  // rebuilds them in full, if an in-sync leg can be the source (not stale,
  // nor taking_back one of looked_at); else the mark is removed and they
  // are taken as they are (an error log). True if any leg got status 3.
  // Reads each looked-at leg's meta slice once.
  bool RebuildStaleLegs(int64_t lvol, const std::set<size_t>& looked_at, bool taking_back, MirrorSpec* m) const;
  // Before m's raid is assembled from scratch (no such device here): each
  // written leg that stays in sync gets its superblock's resync offset at
  // 0 (agents/host/raid_resync.h), so md resyncs what the bitmap marks
  // dirty, as after a crash of the head that last had it. A leg that
  // cannot be marked is logged (repair by hand) and assembled all the same.
  void ResyncDirtyRegions(int64_t lvol, const MirrorSpec& m) const;
  // Reloads a mirror's raid as its spec has it (resuming it, dropping
  // poisoned legs); resume: carrying on any recovery from its checkpoint
  // (RaidParams), else legs being rebuilt start over.
  Status ReloadRaid(int64_t lvol, const MirrorSpec& m, bool resume = true);
  // Reloads the top device of a read-only volume found writable (as it
  // is, read-only); a failure is logged, the next Reconcile retries.
  void KeepReadOnly(const VolumeSpec& spec);
  struct Record {
    VolumeSpec spec;
    std::string chap_user, chap_secret;
  };

  // trim.cc. Watch's trim of at most one leg; the chunk it poisoned, or 0.
  int64_t TrimOne(int64_t now_ms);
  void Trim(Record* rec, MirrorSpec* m, LegSpec* leg, const LegSpec& source, int64_t now_ms);
  // A trim's outcome: flags, back-off, record, log.
  void TrimDone(Record* rec, const MirrorSpec& m, LegSpec* leg, const Status& st, uint64_t trimmed_sectors,
                int64_t now_ms);
  // Reloads (so resumes) the raids in unresumed_ found suspended; forgets
  // the others. Start() puts every recorded mirror there first.
  void RetryResumes();
  struct Node;
  struct Context;

  std::vector<Node> Nodes(const Record& record, bool attaching, const std::shared_ptr<Context>& ctx);
  Status Assemble(const Record& record, bool attaching);
  // The volume's dm-linear table: its mirrors in offset order.
  std::vector<DmTarget> VolumeTable(const VolumeSpec& spec) const;
  // The dm raid table line of a mirror (flags as its legs' states say).
  // resume: legs being rebuilt are not named for rebuild, so a reload lets
  // md carry on from the checkpoint in their superblock.
  std::string RaidParams(int64_t lvol, const MirrorSpec& m, bool resume = false) const;
  Status RemoveLeg(int64_t lvol, const LegSpec& leg);
  Status SaveRecord(const Record& record);
  Status RemoveLeftovers();
  bool DiskUsedByOthers(int64_t pdsk_id, int64_t lvol_id) const;
  std::string LinkPath(const std::string& name) const { return options_.link_dir + "/" + name; }

  const AssemblyOptions options_;
  DeviceMapper* dm_;
  IscsiInitiator* iscsi_;
  std::mutex mu_;
  std::map<int64_t, Record> records_;
  int rebuild_rate_kib_ = 0;
  std::map<int64_t, int64_t> revive_after_ms_;  // mirror -> next reload allowed
  LegMaps* const leg_maps_;
  const Clock* const clock_;
  struct TrimRetry {
    int failures = 0;
    int64_t after_ms = 0;  // next attempt allowed
  };
  std::map<int64_t, TrimRetry> trim_retry_;         // by chunk
  std::set<std::pair<int64_t, int64_t>> unresumed_;  // (lvol, mirror) a trim may have left suspended
};

}  // namespace vastsky
