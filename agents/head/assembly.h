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
// Thread-safe: one attach, detach or grow at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agents/head/volume_spec.h"
#include "agents/host/device_mapper.h"
#include "agents/host/iscsi_initiator.h"

namespace vastsky {

struct AssemblyOptions {
  std::string link_dir = "/dev/vastsky";
  std::string records_dir;          // state_dir/volumes
  int kernel_timeout_ms = 30000;    // any one dm call or metadata write
};

struct MirrorState {
  int64_t mirror_id = 0;
  std::string health, sync, action;  // dm raid status: "AA", "2048/2048", "idle"
};

struct VolumeState {
  int64_t lvol_id = 0;
  std::string name, device;
  bool assembled = false, open = false;
  int64_t capacity_gib = 0;  // of the device as assembled (its table); 0 if not
  std::vector<MirrorState> mirrors;
};

class Assembly {
 public:
  Assembly(AssemblyOptions options, DeviceMapper* dm, IscsiInitiator* iscsi);

  // Loads the records, clears leftovers, re-assembles. Only an unreadable
  // record directory is an error; a volume that cannot be assembled now is
  // logged and retried by Reconcile().
  Status Start();
  // Re-assembles recorded volumes whose device is missing.
  void Reconcile();
  // Assembles the volume and gives its device (/dev/vastsky/<name>). A
  // volume already assembled with the same layout is adopted as it is; a
  // different layout under the same id is EEXIST.
  Status Attach(const VolumeSpec& spec, const std::string& chap_user, const std::string& chap_secret,
                std::string* device);
  // Tears the volume down and logs out of sessions no other volume uses.
  // EBUSY (and nothing touched) while its device is open. Unknown: OK.
  Status Detach(int64_t lvol_id);
  Status List(std::vector<VolumeState>* out);
  // Grows an assembled volume to `spec`: its mirrors must be the ones
  // assembled (id, offset, size; their legs are Rebuild's business), then
  // new ones. The new mirrors are built as an attach builds them (fresh
  // legs zeroed, nosync), then the volume's dm-linear is reloaded with the
  // longer table (suspend without flushing, resume): I/O of an open device
  // waits a moment and goes on. A failure undoes the new mirrors and leaves
  // the old table. A repeat is a no-op; ENOENT if not assembled here;
  // EINVAL if the mirrors differ or spec is not longer.
  Status Grow(const VolumeSpec& spec);
  // Puts a mirror of an assembled volume on the legs `spec` gives it, in
  // its order. Legs are matched by chunk: a new one (session, slices,
  // zeroed metadata) is rebuilt from the others by dm raid at rate_kib
  // KiB/s (0: as before); one no longer given is dropped. So a replacement
  // takes its lost leg's place, and a drain grows the mirror by a leg and
  // later shrinks it. The raid is reloaded without flushing, so I/O goes
  // on; dropped legs' slices and unused sessions go. A repeat is a no-op.
  // ENOENT if the volume or mirror is not assembled here; EINVAL if no
  // kept leg holds the data.
  Status Rebuild(const VolumeSpec& spec, int64_t mirror_id, int rate_kib);
  // The rate of every recovery to come, and of those running: their raids
  // are reloaded with it and carry on from their checkpoint.
  Status SetRebuildRate(int rate_kib);
  // Called every few seconds: a mirror with a dead leg whose device reads
  // again is reloaded as it is, so dm raid takes the leg back and its
  // write-intent bitmap resyncs only what changed meanwhile (a storage
  // server back within the grace period); legs rebuilt to the end are
  // recorded as in sync. Returns the chunks of the legs dm raid holds dead
  // now, for the manager (which replaces one dead beyond its grace period).
  std::vector<int64_t> Watch();

 private:
  // dm raid's status of a mirror; false if its raid is not there.
  bool ReadRaidStatus(int64_t lvol, int64_t mirror_id, MirrorState* out) const;
  // Every present leg alive and in sync, no recovery running.
  static bool Whole(const MirrorSpec& m, const MirrorState& s);
  // Rebuilding legs become in sync (true if any did).
  static bool MarkInSync(MirrorSpec* m);
  // MarkInSync if the mirror is Whole.
  void MarkRebuilt(int64_t lvol, MirrorSpec* m);
  struct Record {
    VolumeSpec spec;
    std::string chap_user, chap_secret;
  };
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
};

}  // namespace vastsky
