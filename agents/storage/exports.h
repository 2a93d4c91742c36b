// What this storage server exports: one iSCSI target per registered disk
// (iqn DiskIqn(pdskid), a portal per data IP), one LUN per leg (serial
// LegSerial(chunk), over the leg's thin device), and per allowed initiator
// an ACL that maps exactly the legs the manager granted it.
// state_dir keeps what the kernel forgets at a reboot: `acls` (credentials
// and mapped chunk ids per disk and initiator) and `legs` (pdsk, chunk,
// thin id, size, LUN number), so Export re-provides every known leg,
// re-adds its LUN at the same number and re-applies the ACLs and maps. A
// leg's LUN number is chosen once and never changes while the leg lives: a
// head whose session recovers across a reboot keeps its SCSI devices by
// LUN number, so another number would hand it another leg's data. Thread-safe (one lock, held across each
// kernel call): the RPC threads, the heartbeat thread (registration) and
// the scrub thread (List) share it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agents/host/iscsi_target.h"
#include "lib/ids.h"
#include "lib/status.h"

namespace vastsky {

// The thin devices behind legs (ThinPools on a real server). Thread-safe.
class LegDevices {
 public:
  virtual ~LegDevices() = default;
  // Activates thin device thin_id of disk pdsk (size_mib) and names its
  // block device. A missing one is created only if `create`; else ENOENT.
  virtual Status Provide(int64_t pdsk, int64_t thin_id, int64_t size_mib, bool create, std::string* device) = 0;
  // Deactivates and deletes it; absent is fine.
  virtual Status Delete(int64_t pdsk, int64_t thin_id) = 0;
};

struct Leg {
  int64_t chunk_id = 0, thin_id = 0, size_mib = 0;
  bool create = false;  // allowInitiator only: the thin device may be created
  int lun = -1;         // its target LUN number, for life (state_dir/legs); -1 not yet chosen
};

struct ExportInfo {
  int64_t pdsk_id = 0;
  std::string iqn, device;
  std::vector<std::string> initiators;                // the kernel's ACLs
  std::map<std::string, std::vector<int64_t>> maps;   // initiator -> chunk ids it sees (kernel)
  std::vector<Leg> legs;                              // known here (state_dir/legs)
};

class Exports {
 public:
  // Keeps its state in state_dir (acls, legs).
  Exports(std::unique_ptr<IscsiTarget> target, std::shared_ptr<LegDevices> devices, std::vector<std::string> portals,
          std::string state_dir);

  // Loads the persisted ACLs and legs; call once before anything else.
  Status Load();
  // Exports disk pdsk_id (device: the disk itself, for the scrub), again
  // after a restart: every known leg is provided (never created), gets its
  // LUN at its recorded number, and the persisted ACLs and maps are
  // applied. A leg that cannot be provided, or whose LUN the kernel has at
  // another number, is logged and left out (unmapped, never renumbered). A disk that
  // moved to a new id drops the old target.
  Status Export(int64_t pdsk_id, const std::string& device);
  // allowInitiator: each leg provided (created if missing only when
  // `create`) with its LUN, the ACL with its credentials, and the
  // initiator's map exactly these legs (fewer legs narrow it). ENOENT if
  // pdsk_id is not exported here or a leg is missing; EEXIST if a chunk is
  // known here with another thin id. Credentials must be checked by the
  // caller (ValidIscsiName, CheckChap). The ACL file is written before the
  // kernel allows anything.
  Status Allow(int64_t pdsk_id, const InitiatorAccess& access, const std::vector<Leg>& legs);
  // Success means the initiator is out of the kernel's ACL (all unmapped)
  // and the ACL file is synced without it, so no restart brings it back.
  Status Revoke(int64_t pdsk_id, const std::string& initiator);
  // Per leg (chunk_id, thin_id): its LUN unmapped everywhere and removed,
  // the maps persisted without it, its thin device deleted, then it is
  // forgotten. Absent is fine; ENOENT if pdsk_id is not exported here.
  Status DeleteLegs(int64_t pdsk_id, const std::vector<Leg>& legs);
  // Records legs whose thin devices exist already (snapshotLegs made them)
  // as known here, with a LUN number for life but no LUN yet: an Allow
  // without `create` then finds them, List lists them, a restart's Export
  // provides them. Recorded already with the same thin id: nothing
  // changes. ENOENT if pdsk_id is not exported here; EEXIST, recording
  // none, if a chunk is known here with another thin id.
  Status RecordLegs(int64_t pdsk_id, const std::vector<Leg>& legs);
  // Removes every leg LUN of the disk from its target (unmapped from every
  // ACL first), so no head reaches its thin devices; the records (legs,
  // ACLs and maps) stay, so Export(pdsk_id, *device) puts them back as a
  // restart does. *device: the disk. ENOENT if it is not exported here.
  Status Withdraw(int64_t pdsk_id, std::string* device);
  // Every exported disk; its legs are the recorded ones less those whose
  // thin device was found missing (ENOENT at Export, or in an Allow
  // without `create`) and not provided since.
  Status List(std::vector<ExportInfo>* out);

 private:
  struct Acl {
    InitiatorAccess access;
    std::vector<int64_t> chunks;  // mapped
  };

  Status SaveAcls();
  Status SaveLegs();
  Status CheckExported(int64_t pdsk_id) const;
  // EEXIST if a leg's chunk is known on pdsk_id with another thin id.
  Status CheckThinIds(int64_t pdsk_id, const std::vector<Leg>& legs);
  // Provides the leg's device and its LUN; records it (and saves) if new.
  Status AddLeg(int64_t pdsk_id, const Leg& leg);
  // The smallest LUN number no recorded leg of pdsk_id has.
  int FreeLun(int64_t pdsk_id) const;
  Status ApplyAcl(int64_t pdsk_id, const Acl& acl);

  std::mutex mu_;
  std::unique_ptr<IscsiTarget> target_;
  std::shared_ptr<LegDevices> devices_;
  std::vector<std::string> portals_;
  std::string acl_file_, leg_file_;
  std::map<int64_t, std::string> disks_;  // pdsk id -> disk device, exported now
  std::map<int64_t, std::map<std::string, Acl>> acls_;
  std::map<int64_t, std::map<int64_t, Leg>> legs_;  // pdsk -> chunk -> leg
  std::set<std::pair<int64_t, int64_t>> absent_;     // (pdsk, chunk): recorded, thin device missing
};

}  // namespace vastsky
