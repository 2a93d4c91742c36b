// Plain records the Store hands to the API layer, named as the 3.0 API names
// them. Capacities are GiB unless a member says MiB.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lib/ids.h"
#include "lib/version.h"

namespace vastsky {

// Allocation priority of servers and disks (3.0's ALLOC_PRIORITY).
enum Priority { kHigh = 1, kLow = 2, kEvacuate = 3, kOffline = 4, kFaulty = 5, kHalt = 6 };
// Chunk (3.0 "dext") sync state (3.0's MIRROR_STATUS).
enum ChunkStatus { kAllocated = 1, kInsync = 2, kSpare = 3 };
enum BindStatus { kUnbound = 0, kBound = 1, kBindError = 2 };
// A volume's own state (lvol.state): a snapshot or clone is CREATING while
// its legs are being made, ERROR if that ended with an unknown outcome.
enum VolumeState { kVolumeReady = 0, kVolumeCreating = 1, kVolumeError = 2 };
// kResizing: a grow is being built on the head (manager/attacher.h).
enum BindEvent { kNoEvent = 0, kBinding = 1, kUnbinding = 2, kResizing = 3 };
enum LvolType { kLvol = 0, kLinear = 1, kMirror = 2, kDext = 3, kSnapshotOrigin = 6, kSnapshot = 7 };
enum Target { kTargetHsvr = 1, kTargetSsvr = 2, kTargetPdsk = 3, kTargetDext = 4 };

constexpr int64_t kMaxVolumeGib = 1024 * 1024;
constexpr int kMinRedundancy = 2, kMaxRedundancy = 9, kDefaultRedundancy = 3;
constexpr int64_t kMetaMib = 1;  // dm-raid superblock + write-intent bitmap per leg
constexpr double kMinOvercommit = 1.0, kMaxOvercommit = 20.0;

const char* PriorityName(int priority);
// HIGH and LOW servers and disks take new chunks and attachments.
inline bool TakesNewWork(int priority) { return priority == kHigh || priority == kLow; }
const char* ChunkStatusName(int status);
// API.md's names of bind_status: UNBOUND, BOUND, ERROR.
const char* BindStatusName(int status);

struct HeadServerInfo {
  int64_t id = 0;
  int priority = 0;
  std::vector<std::string> ips;
  int resync = 0;
  std::string last_seen;  // last registration or heartbeat; "" if never
  std::string url;        // where its agent answers; "" = no agent
  std::string initiator;  // its iSCSI initiator name; "" if not given
};

struct StorageServerInfo {
  int64_t id = 0;
  int priority = 0;
  std::vector<std::string> ips;
  std::string domain;
  int resync = 0;
  int64_t capacity_gib = 0, available_gib = 0;
  std::string last_seen;  // last registration or heartbeat; "" if never
  std::string url;        // where its agent answers; "" = no agent
};

// A storage agent's report of one disk's thin pool (heartbeat pools).
struct PoolReport {
  int64_t pdsk_id = 0;
  int64_t data_used_mib = 0, data_mib = 0, meta_used_kib = 0, meta_kib = 0;
  std::string mode;  // dm-thin's: "rw", "out_of_data_space", "ro", "fail"
};
// Of data or metadata: nearfull stops new legs there, full is an error.
// The defaults of the cluster settings nearfull_ratio and full_ratio.
constexpr double kPoolNearfull = 0.85, kPoolFull = 0.95;
// The default of max_clock_skew: an agent's clock further from the
// manager's than this, in seconds, is a health warning.
constexpr double kMaxClockSkewS = 5;

struct PhysicalDiskInfo {
  int64_t id = 0, ssvr_id = 0;
  int priority = 0;
  std::string path;
  int resync = 0;
  int64_t capacity_gib = 0, available_gib = 0;
  double weight = 1.0;
  // Its pool as last reported (pool_mib as registered, mode "" until a report).
  int64_t pool_used_mib = 0, pool_mib = 0, pool_meta_used_kib = 0, pool_meta_kib = 0;
  std::string pool_mode;
};

struct Association {
  int64_t lvol_id = 0;
  std::string type;  // "snapshot"
};

struct VolumeInfo {
  int64_t id = 0;
  std::string name;
  int kind = 0;  // 0 volume, 1 snapshot (read-only)
  int64_t origin_id = 0;  // a snapshot's origin (0 once the origin is deleted)
  int64_t source_id = 0;  // a clone's source volume or snapshot (0: none, or deleted)
  int state = kVolumeReady;  // kVolumeCreating while its legs are being copied
  std::string tenant;        // its namespace ("": an admin's); a copy has its source's
  int64_t capacity_gib = 0;
  int redundancy = 0;
  int64_t top_node = 0, linear_node = 0;
  std::string ctime;
  int64_t hsvr_id = 0;
  int bind_status = kUnbound, bind_event = kNoEvent;
  bool rebuild_only = false;  // attached by the manager only to rebuild its legs
  bool fault = false;
  // 3.0's direction: a snapshot is associated *to* its origin; an origin
  // lists its snapshots in associated_from. A clone likewise, type "clone".
  std::vector<Association> associated_to, associated_from;
};

struct ChunkInfo {
  int64_t id = 0, pdsk_id = 0, ssvr_id = 0;
  int64_t offset_mib = 0;  // its reservation slot in the disk's allocator (never sent to a head)
  int64_t length_mib = 0;  // data; the thin device is kMetaMib + length_mib
  int64_t thin_id = 0;     // its dm-thin device id in the disk's pool
  int status = kAllocated;
  std::vector<std::string> ssvr_ips;
  std::string ssvr_url;  // the storage agent's; "" = none
  bool reachable = true;  // its disk and server are not failed, offline or halted
};

struct MirrorInfo {
  int64_t id = 0;
  int64_t offset_gib = 0, capacity_gib = 0;
  bool written = false;  // handed to a head before: its legs may hold data
  std::vector<ChunkInfo> chunks;
};

struct VolumeLayout {
  VolumeInfo volume;
  int64_t origin_top_node = 0;  // for a snapshot: its origin's SNAPSHOT-ORIGIN node
  std::vector<MirrorInfo> mirrors;
  std::vector<VolumeLayout> snapshots;  // filled by Store::ShowLogicalVolume only (3.0's tree)
};

// The extent of a leg that left its mirror while a head may still have it
// assembled (manager/store_held.cc): offset_mib and length_mib as a
// chunk's, not free until that head lets it go.
struct HeldExtent {
  int64_t pdsk_id = 0, offset_mib = 0, length_mib = 0;
  int64_t hsvr_id = 0, lvol_id = 0, mirror_id = 0, chunk_id = 0;
};

// A leg as a storage agent knows it: its LUN (serial from chunk_id) and
// its thin device in the disk's pool.
struct LegRef {
  int64_t chunk_id = 0, thin_id = 0;
};

// A leg a head is given on a disk (allowInitiator's legs): its thin device
// (size_mib = kMetaMib + length_mib) is created if missing only when
// create (it is not INSYNC: it may be new), and mapped to the head.
struct LegGrant {
  int64_t chunk_id = 0, thin_id = 0, size_mib = 0;
  bool create = false;
};

// A leg of a pool that failed while heads could write it (repairPool's
// `stale`): its storage agent marks it, so its heads rebuild it in full
// rather than take it back through the bitmap (agents/PROTOCOL.md,
// "Repairing a pool"). size_mib = kMetaMib + length_mib.
struct StaleLeg {
  int64_t chunk_id = 0, thin_id = 0, size_mib = 0;
};

// A snapshot or clone leg (snapshotLegs' legs): thin_id becomes a dm-thin
// snapshot of origin_thin_id in the same pool. size_mib = kMetaMib + length_mib.
struct LegCopy {
  int64_t chunk_id = 0, thin_id = 0, origin_thin_id = 0, size_mib = 0;
};

// The blocks a leg's thin device has provisioned in its pool (legMap),
// as the storage agent answers: ranges flat, [b0, n0, b1, n1, ...], each
// pair `count` blocks of block_kib KiB from block `begin`, ascending.
struct LegBlocks {
  int64_t block_kib = 0;
  std::vector<int64_t> ranges;
};

// One thin of a disk's pool as legUsage reports it: the pool space it maps
// and the part of that no other thin shares (freed if it were deleted), MiB
// rounded up. Not named ThinUsage: agents/host/thin_pool.h has that name
// (the agent's side), and both link into the unit tests.
struct ThinSpace {
  int64_t thin_id = 0;
  int64_t mapped_mib = 0, exclusive_mib = 0;
};

// One member of a volume's family (getVolumeFamily, manager/volume_family.h).
struct FamilyMember {
  int64_t lvol_id = 0;
  std::string name;
  std::string kind;       // "snapshot", "clone" (with a source), else "volume"
  int64_t source_id = 0;  // a snapshot's origin, a clone's source; 0 for the root
  int64_t capacity_gib = 0;
  std::string tenant;  // whose it is (a tenant caller sees only its own)
  // Sums over its legs (every copy of every leg: redundancy times the data).
  int64_t mapped_mib = 0, exclusive_mib = 0;
  int64_t legs_unreported = 0;  // legs whose disk's agent was not reached or did not answer
};

// Legs gone from the database whose thin devices a storage agent must
// delete before their slots are free (Store::DoomedLegs).
struct DoomedDisk {
  int64_t pdsk_id = 0, ssvr_id = 0;
  std::string url;  // the storage agent's
  std::vector<LegRef> legs;
};

// A head server as the manager calls its agent.
struct HeadAgentInfo {
  int64_t id = 0;
  std::string url;  // "" = no agent: attach and detach record state only
  std::string initiator, chap_user, chap_secret;
};

// The iSCSI ACLs the manager grants on one storage server's disks
// (Store::GrantedAcls, manager/acl_reconcile.h).
struct GrantedAcls {
  std::map<std::string, int64_t> heads;  // every known head's initiator -> hsvr id
  // (pdsk id, initiator) -> the legs it is given there
  std::map<std::pair<int64_t, std::string>, std::vector<LegGrant>> granted;
  // Per disk: every thin id the database knows there (legs, held and
  // doomed ones), and the disk's next thin id.
  std::map<int64_t, std::set<int64_t>> known_thin;
  std::map<int64_t, int64_t> next_thin;
};

// What driving an attach through the agents needs, read in the transaction
// that records the intent (Store::BeginAttach).
struct AttachPlan {
  bool agent = false;  // false: the head has no agent and the attach is already recorded
  VolumeLayout layout;
  HeadAgentInfo head;
};

// The same for a detach (Store::BeginDetach).
struct DetachPlan {
  bool agent = false;  // false: nothing to drive (not attached, or no head agent: already recorded)
  VolumeLayout layout;
  HeadAgentInfo head;
  int prior_status = kBound;  // what a refused detach goes back to (BOUND, or ERROR)
};

// A grow through a head agent (Store::BeginResize): the whole volume as it
// is now recorded (layout), which of its mirrors are new, and the head.
struct ResizePlan {
  bool agent = false;  // false: nothing to drive (no-op, detached, or a head without agent: recorded)
  VolumeLayout layout;
  HeadAgentInfo head;
  int64_t old_capacity_gib = 0;
  std::vector<int64_t> new_mirrors;
};

// A snapshot or clone being made (Store::BeginCopy): the source as it was,
// the new volume (CREATING), the head to freeze (if the source is attached
// to one with an agent), and per disk the legs its storage agent makes.
struct CopyPlan {
  VolumeInfo source;
  VolumeLayout copy;
  bool freeze = false;
  HeadAgentInfo head;
  int64_t reverting = 0;  // a revert: the volume that takes the copy's legs (Store::BeginRevert)
  struct Disk {
    int64_t pdsk_id = 0, ssvr_id = 0;
    std::string url;
    std::vector<LegCopy> legs;
  };
  std::vector<Disk> disks;
};

// A rebuild being started (Store::StartRebuild): the volume it belongs to,
// the head that runs it (where the volume is attached), the disk to read.
struct RebuildPlan {
  int64_t mirror_id = 0, source_pdsk = 0;
  VolumeLayout layout;
  HeadAgentInfo head;
};

// A rebuild the recovery loop watches.
struct RunningRebuild {
  int64_t mirror_id = 0, lvol_id = 0, hsvr_id = 0;
  std::string head_url;
};

// One mirror's rebuild as the queue holds it (listRebuilds). A drain's or
// move's rebuild names the legs it retires once the new ones are in sync.
struct RebuildInfo {
  int64_t mirror_id = 0, lvol_id = 0, capacity_gib = 0;
  std::string lvol_name;
  bool running = false;
  bool retires = false;                 // a drain or move: old legs leave when done
  int64_t hsvr_id = 0, source_pdsk = 0;  // 0 until it starts (the source may be settled before)
  std::vector<int64_t> dest_pdsks;      // the disks of the legs being brought in sync
  std::string queued, started;          // UTC times ("" until started)
};

struct EventInfo {
  int64_t id = 0;
  std::string time, level, type, target;
  int64_t target_id = 0;
  std::string message;
};

struct ClusterStatus {
  std::string cluster_id;  // made once with the database; every disk label names it
  double overcommit = 1.0;
  int64_t chunk_gib = 0;
  int64_t capacity_gib = 0, used_gib = 0, available_gib = 0;
  int64_t ssvrs = 0, ssvrs_online = 0, hsvrs = 0, hsvrs_online = 0;
  int64_t pdsks = 0, pdsks_online = 0, lvols = 0, mirrors = 0, mirrors_degraded = 0;
  int64_t rebuilds_queued = 0, rebuilds_running = 0, domains = 0;
  // From the failure detector, not the database: servers silent beyond the
  // grace period, and whether so many fell silent together that the
  // manager holds every failure back (manager/failure_detector.h).
  int64_t silent_servers = 0;
  bool isolated = false;
  // From the rebuild queue and the heads' readings (manager/rebuild_report.h).
  int64_t rebuild_total_mib = 0, rebuild_left_mib = 0, rebuild_eta_s = -1;
  double rebuild_rate_mibs = 0;
  double nearfull_ratio = kPoolNearfull, full_ratio = kPoolFull, max_clock_skew_s = kMaxClockSkewS;
};

// What the manager's /metrics shows of the database (Store::ReadGauges),
// read in one transaction-free pass under the API lock.
struct StoreGauges {
  struct Disk {
    int64_t id = 0, ssvr_id = 0;
    int priority = 0;
    int64_t capacity_mib = 0, provisioned_mib = 0;
    bool pool_reported = false;  // pool_used_mib is the agent's last heartbeat report
    int64_t pool_used_mib = 0;
  };
  std::vector<Disk> disks;
  // Servers by priority (kHigh..kHalt), of each kind.
  std::map<int, int64_t> ssvrs, hsvrs;
  std::map<int, int64_t> lvols_by_bind;  // kUnbound, kBound, kBindError (no attachment: unbound)
  int64_t mirrors = 0;
  std::map<int64_t, int64_t> degraded_by_missing;  // legs missing (SPARE) -> mirrors
  int64_t rebuilds_queued = 0, rebuilds_running = 0;
};

}  // namespace vastsky
