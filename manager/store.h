// Store: the manager's state and every transaction on it.
//
// Each public mutation is one SQLite transaction; the in-memory allocator is
// updated in step and reverted if the transaction does not commit, so a
// crash at any instant leaves the database consistent and the allocator is
// rebuilt from it at the next Open(). Methods return Status with the errno
// the API puts in its fault (EINVAL, ENOENT, EEXIST, EBUSY, ENOSPC ...).
// Not thread-safe: the API layer serialises calls.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "lib/caller.h"
#include "manager/allocator.h"
#include "manager/credentials.h"
#include "manager/rebuild_scheduler.h"
#include "manager/db.h"
#include "manager/failure_detector.h"
#include "manager/health.h"
#include "manager/types.h"

namespace vastsky {

class Store {
 public:
  struct Options {
    int64_t chunk_gib = 4;        // used when chunk_explicit, or for a new database
    bool chunk_explicit = false;  // else the database's own size stands
  };

  // Takes the database's lock first (EBUSY while another manager holds
  // it, see DbLock) and keeps it until the Store is destroyed.
  Status Open(const std::string& path, const Options& options);
  int64_t chunk_gib() const { return chunk_gib_; }
  // Made once with the database (setting cluster_id): every disk's label
  // names it.
  const std::string& cluster_id() const { return cluster_id_; }
  // The key every credential's secret is derived from (manager/credentials.h).
  const std::string& node_key() const { return node_key_; }

  // Enrollment (manager/API.md, "Enrollment"). kind "ssvr" or "hsvr".
  // server_id 0: a credential for a server not registered yet, bound to
  // the server its first registration creates; else that server's (ENOENT
  // if unknown), and enrolling a server again bumps its generation, so the
  // old secret is void. *out: the credential (its secret: CredentialSecret).
  Status EnrollServer(const std::string& kind, int64_t server_id, Credential* out);
  // Voids user's secret (a new generation; the server must be enrolled
  // again). ENOENT if unknown.
  Status RevokeCredential(const std::string& user);
  Status ListCredentials(std::vector<Credential>* out);
  // Tenants (manager/API.md, "Tenants"): user "tenant-NAME", role tenant.
  // A new tenant gets generation 1; an existing one a new generation (the
  // old secret is void). heads non-null: the heads it may attach to,
  // replaced (ENOENT naming one that does not exist, nothing changed).
  Status EnrollTenant(const std::string& tenant, const std::vector<int64_t>* heads, Credential* out);
  Status SetTenantHeads(const std::string& tenant, const std::vector<int64_t>& heads);
  // ENOENT for a tenant that was never enrolled.
  Status TenantHeads(const std::string& tenant, std::vector<int64_t>* heads);
  double overcommit() const { return overcommit_; }

  // Servers and disks. With reconnect, a registration matching a live
  // record (the same set of addresses; the same path on that server) is a
  // restarted agent: it gets that record's id instead of EEXIST.
  // url (http:// or https://, "" for none) is where the manager calls the
  // server's agent, initiator the head's iSCSI name; null leaves what is
  // recorded. A head gets its CHAP credentials at its first registration
  // and keeps them.
  // caller: a head or storage caller registers only the server its
  // credential is bound to, or (unbound) a new server, which it is then
  // bound to; EACCES otherwise, nothing changed. Null or admin: any.
  Status RegisterHeadServer(const std::vector<std::string>& ips, int64_t* id, bool reconnect = false,
                            const std::string* url = nullptr, const std::string* initiator = nullptr,
                            const Caller* caller = nullptr);
  Status RegisterStorageServer(const std::vector<std::string>& ips, const std::string* domain,
                               int64_t* id, bool reconnect = false, const std::string* url = nullptr,
                               const Caller* caller = nullptr);
  // sectors: the disk's pool data size. label_pdsk: the id in the disk's
  // label, if it has one: that record (its path updated) if it is this
  // server's disk, EEXIST if another server's, ENOENT if unknown. Without
  // a label, the record of that path on that server, if any.
  Status RegisterPhysicalDisk(int64_t ssvr_id, const std::string& path, int64_t sectors,
                              int64_t* id, bool reconnect = false, const int64_t* label_pdsk = nullptr);
  // Cluster-wide settings: "nearfull_ratio" and "full_ratio" (0 <
  // nearfull < full <= 1: a pool's use judged against them at its next
  // report, and by health at once), "max_clock_skew" (seconds, > 0 up to
  // 3600); and "overcommit" (1.0 to 20): every disk's
  // slots become floor(pool_mib x overcommit) MiB. EBUSY, naming the disk,
  // if lowering it leaves a disk's reserved legs beyond its slots.
  Status SetClusterSetting(const std::string& name, const std::string& value);
  // Records that an agent is alive (last_seen = now); ENOENT if unknown.
  // target is kTargetHsvr or kTargetSsvr.
  Status Heartbeat(int target, int64_t id);
  // An agent's wall clock minus the manager's, seconds, as its latest
  // heartbeat said (memory only: the next beat says it again).
  void NoteClockSkew(int target, int64_t id, double skew_s) { clock_skew_[{target, id}] = skew_s; }
  // The health verdict (manager/health.h): the database's counts, the
  // pools and clocks last reported, and the failure detector's judgement
  // of silence (given: the Store does not see it). Reads only.
  Status GetHealth(int64_t silent_servers, bool isolated, Health* out) {
    return GetHealth(silent_servers, isolated, 0, 0, out);
  }
  // ... and the running rebuilds without progress for kRebuildStallS (the
  // manager's readings of the heads, manager/rebuild_progress.h).
  Status GetHealth(int64_t silent_servers, bool isolated, int64_t rebuilds_stalled, int64_t longest_stall_s,
                   Health* out);
  // A storage agent's pool reports (kept in memory; pools of disks not of
  // ssvr_id are ignored). A pool crossing nearfull or full (of data or
  // metadata), or leaving mode "rw", gives a warning or error event naming
  // it and its server, once per crossing, and an info event when it drops
  // back; a disk at or past nearfull takes no new legs.
  Status NotePools(int64_t ssvr_id, const std::vector<PoolReport>& pools);
  // repairPhysicalDisk's agent: the disk's server and its agent's url.
  // ENOENT no such disk; EHOSTDOWN its server is OFFLINE, FAULTY or HALT,
  // or has no agent.
  Status PoolRepairAgent(int64_t pdsk_id, int64_t* ssvr_id, std::string* url);
  // The disk's in-sync legs of mirrors ever handed to a head: those with
  // another in-sync leg on another disk are `stale` (to be rebuilt in
  // full), the others `only_copies` (they come back as they are). Reads only.
  Status StaleLegs(int64_t pdsk_id, std::vector<StaleLeg>* stale, std::vector<int64_t>* only_copies);
  // One `pool` event for a repair's outcome (manager/API.md, "Repairing a
  // pool"): info once repaired; error, naming the pool and what to do, if
  // it failed or its outcome is unknown; once repaired, an error event per
  // leg of only_copies (it may lack writes). A refusal (EBUSY, ENOENT,
  // EINVAL: nothing was done) records nothing.
  Status RecordPoolRepair(int64_t pdsk_id, int64_t ssvr_id, const Status& outcome,
                          const std::vector<int64_t>& only_copies);
  Status DeleteHeadServer(int64_t id);
  Status DeleteStorageServer(int64_t id);
  Status DeletePhysicalDisk(int64_t id);
  Status SetStorageServerDomain(int64_t id, const std::string& domain);
  Status SetPhysicalDiskWeight(int64_t id, double weight);
  // id 0 lists all; a given id that does not exist is ENOENT.
  Status ListHeadServers(int64_t id, std::vector<HeadServerInfo>* out);
  Status ListStorageServers(int64_t id, std::vector<StorageServerInfo>* out);
  Status ListPhysicalDisks(int64_t ssvr_id, std::vector<PhysicalDiskInfo>* out);

  // Volumes.
  // tenant: the namespace it belongs to ("": none, an admin's volume);
  // ENOENT for a tenant never enrolled.
  Status CreateLogicalVolume(const std::string& name, int64_t capacity_gib, int redundancy,
                             int64_t* id, const std::string& tenant = "");
  // Deletes a detached volume (its snapshots and clones live on: their
  // origin_id or source_id becomes 0). EBUSY attached, in transition, being
  // made, or being copied.
  Status DeleteLogicalVolume(const VolumeRef& ref);

  // Snapshots and clones (manager/copier.h drives the agents; see
  // manager/API.md, "Snapshots and clones"). BeginCopy checks the source
  // (EINVAL a snapshot of a snapshot, EBUSY in transition, ERROR, being
  // made or copied already, or a written mirror without `redundancy` legs
  // in sync on live disks) and in one transaction records the new volume
  // CREATING: kind 1 with origin_id (snapshot) or kind 0 with source_id
  // (clone). Each mirror ever handed to a head gets, beside `redundancy`
  // of its in-sync legs, a leg on the same disk (a whole slot reserved
  // there: ENOSPC if none) to be made by snapshotLegs, listed per disk in
  // plan->disks; a mirror never written gets fresh legs as a create does.
  // Until Finish or Abort, the source is not attached, detached, grown,
  // deleted or copied again (EBUSY).
  Status BeginCopy(const VolumeRef& source, const std::string& name, bool snapshot, CopyPlan* plan);
  // READY; an info event (with the pause, if the source was frozen).
  Status FinishCopy(const CopyPlan& plan, int64_t paused_ms);
  // The copy failed. Known outcome: the new volume is deleted, its legs
  // doomed until their agents confirm them gone; unknown: it stays ERROR
  // (an admin deletes it). An event says why.
  Status AbortCopy(const CopyPlan& plan, const std::string& why, bool unknown);
  // Reverting a detached volume to one of its snapshots (manager/API.md,
  // "Reverting a volume"): BeginRevert checks (EINVAL snap is not a
  // snapshot of vol, EBUSY vol attached, in transition, being made or
  // copied, ENOTSUP vol grew since the snapshot) and records a clone of
  // the snapshot, named revert-<lvolid>-<snapshot lvolid>, as BeginCopy
  // does; vol is busy (EBUSY) until FinishRevert or AbortCopy.
  // FinishRevert, in one transaction, gives vol the clone's legs (its old
  // legs doomed, freed once their agents delete them) and removes the
  // clone's record.
  Status BeginRevert(const VolumeRef& vol, const VolumeRef& snap, CopyPlan* plan);
  Status FinishRevert(const CopyPlan& plan);
  // The layouts listChangedBlocks compares: EINVAL base not a snapshot or
  // the same volume, EBUSY either being made or ERROR. Reads only.
  Status ChangedBlockLegs(const VolumeRef& lvol, const VolumeRef& base, VolumeLayout* lvol_layout,
                          VolumeLayout* base_layout);
  // The family of ref (manager/API.md, "Families and space"): its root (up
  // associated_to to a volume with none; a deleted origin or source cuts
  // the family there), then every snapshot and clone below, depth-first by
  // id, each with its legs (snapshots left empty). Reads only; ENOENT.
  Status VolumeFamily(const VolumeRef& ref, std::vector<VolumeLayout>* out);
  // Attachment as state only (a head without an agent, as in 3.0).
  Status AttachLogicalVolume(const VolumeRef& ref, int64_t hsvr_id);
  Status DetachLogicalVolume(const VolumeRef& ref);

  // Attach and detach through the agents (manager/attacher.h drives them),
  // each a transaction recording the intent, then one recording the
  // outcome. While agents work the attachment row says so: attaching is
  // bind_status UNBOUND + bind_event BINDING, detaching keeps its status
  // (BOUND or ERROR) + UNBINDING. A head without an agent gets the 3.0
  // behaviour inside Begin* (plan->agent false, nothing left to do).
  Status BeginAttach(const VolumeRef& ref, int64_t hsvr_id, bool rebuild_only, AttachPlan* plan);
  // BOUND, no event; the plan's legs that were ALLOCATED become INSYNC if
  // created, and those never created SPARE beside them (SettleWrittenLegs).
  // EAGAIN if the intent vanished meanwhile (the head was reported failed).
  Status FinishAttach(const AttachPlan& plan, const std::string& device);
  // Removes the intent; an error event says which step failed and why.
  // Only when the head holds nothing of the volume (it was never reached,
  // or its undo was confirmed): head_clear says the head answered that it
  // has nothing, so what is held for it there is freed. Mirrors handed to
  // a head for the first time by this attach are unwritten again.
  Status AbortAttach(const AttachPlan& plan, const std::string& why, bool head_clear = false);
  // Whatever the transition, the head's state is unknown: bind_status
  // ERROR, no event; only a detach clears it. Nothing is freed, and legs
  // the head may have built are never ALLOCATED again (INSYNC, or SPARE
  // beside an in-sync leg).
  Status MarkAttachmentError(int64_t lvol_id, int64_t hsvr_id, const std::string& why);
  // rebuild_attachment: detach only an attachment the manager made for a
  // rebuild; otherwise only a user's (a rebuild attachment is not the
  // user's to detach: nothing to do).
  Status BeginDetach(const VolumeRef& ref, DetachPlan* plan, bool rebuild_attachment = false);
  // Removes the attachment; leftovers (ACLs that could not be revoked, ""
  // if none) make its event a warning.
  Status FinishDetach(const DetachPlan& plan, const std::string& leftovers);
  // The head refused (device open): back to plan.prior_status, no event.
  Status RestoreBound(const DetachPlan& plan, const std::string& why);
  // The legs a head is given, per disk: those of the volumes attached to
  // (or in transition on) hsvr_id, except lvol_id's (0: none), and the old
  // legs held for it. A disk not listed needs no ACL for it.
  Status HeadLegs(int64_t hsvr_id, int64_t lvol_id, std::map<int64_t, std::vector<LegGrant>>* by_pdsk);
  // A storage agent answered a grant carrying these legs: their thin
  // devices exist (chunk.created). One transaction; legs that are no
  // chunk (held ones) are skipped.
  Status MarkLegsCreated(const std::vector<LegGrant>& legs);
  // The agent of pdsk_id lacks the thin devices of these legs, granted as
  // existing (INSYNC and created). Each is replaced (manager/store_failures.cc)
  // if another leg of its mirror is in sync, else kept with an error event
  // (it may be the only copy). One transaction; *replaced counts them.
  Status ReplaceLostLegs(int64_t pdsk_id, const std::vector<int64_t>& chunks, int* replaced);
  // Growing a volume (manager/attacher.h drives the agents). BeginResize
  // checks (EINVAL shrink or snapshot, EBUSY in
  // transition, ERROR, being made or copied) and in one transaction places new mirrors over
  // [old, new capacity) as a create would and records the capacity
  // (ENOSPC changes nothing). Equal capacity is a no-op. Detached, or on a
  // head without agent, that is all (plan->agent false). Otherwise the
  // attachment shows RESIZING until FinishResize (the new legs INSYNC) or
  // AbortResize (the new mirrors freed, the old capacity back, an error
  // event); a manager restart in between leaves it ERROR, grown.
  Status BeginResize(const VolumeRef& ref, int64_t capacity_gib, ResizePlan* plan);
  Status FinishResize(const ResizePlan& plan);
  Status AbortResize(const ResizePlan& plan, const std::string& why);
  Status ListLogicalVolumes(const VolumeRef* ref, std::vector<VolumeInfo>* out);
  Status ShowLogicalVolume(const VolumeRef& ref, VolumeLayout* out);

  // Failures and cluster-wide operations. For a head (target 1),
  // fenced_pdsks are the disks its access was revoked on (Recovery::
  // FenceHead): the extents held for it there are freed; null frees none.
  Status NotifyFailure(int target, int64_t target_id, const std::set<int64_t>* fenced_pdsks = nullptr);
  // caller: a storage caller only for its own server's disks (EACCES).
  Status NotifyBadBlocks(int64_t pdsk_id, const std::vector<int64_t>& blocks_gib, const Caller* caller = nullptr);
  Status ShutdownAll();
  // Events after `since`, oldest first: the first `limit` of them, or with
  // `newest` the last `limit` (what a watcher shows before following).
  Status ListEvents(int64_t since, int64_t limit, std::vector<EventInfo>* out, bool newest = false);
  Status GetClusterStatus(ClusterStatus* out);

  // Recovery (manager/recovery.h drives these). The queue as the scheduler
  // sees it: mirrors whose volume is bound on a head with an agent, with
  // their settled source; busy = the disks running rebuilds touch.
  Status RebuildWork(std::vector<RebuildTask>* queued, std::set<int64_t>* busy,
                     std::vector<RunningRebuild>* running);
  // Every mirror with a rebuild in the queue, running ones first, then by
  // mirror id (listRebuilds).
  Status ListRebuilds(std::vector<RebuildInfo>* out);
  // Marks a mirror's queued rebuilds running on the head the volume is
  // bound to. EAGAIN if it is no longer bound.
  Status StartRebuild(int64_t mirror_id, int64_t source_pdsk, RebuildPlan* plan);
  // The head reports the legs in sync: INSYNC, out of the queue; the legs
  // they took over from a drain are deleted (the head dropped them first).
  Status FinishRebuild(int64_t mirror_id, const std::vector<int64_t>& chunks);
  // The legs a mirror's rebuilds retire when done (drain).
  Status RetiringLegs(int64_t mirror_id, std::vector<int64_t>* chunks);
  // Drains a live disk or server (target 3 pdsk, 2 ssvr): EVACUATE, so
  // nothing new lands there; its written legs each get a new leg beside
  // them and are retired once that is in sync; empty legs move at once.
  // Repeating it is harmless. It may be deleted when it holds nothing.
  Status Drain(int target, int64_t target_id);
  Status RequeueRebuild(int64_t mirror_id, const std::string& why);
  // A leg its head has held dead for longer than the grace period while
  // its server lives (LUN gone, read errors): replaced like a failed disk's.
  // Nothing if its server or disk is failed already (that path replaces it)
  // or if the head it was reported from no longer has it attached; EAGAIN
  // if no other leg is in sync: it may be the only copy.
  Status ReplaceDeadLeg(int64_t chunk_id, int64_t hsvr_id);
  // Detached volumes with legs to rebuild, each paired with the live head
  // (with an agent) that should rebuild them, the one with the fewest
  // attachments; no more than `limit` attached for rebuild at once.
  Status RebuildAttachWork(int limit, std::vector<std::pair<int64_t, int64_t>>* lvol_hsvr);
  // Volumes attached only for their rebuild, with nothing left to rebuild.
  Status IdleRebuildAttachments(std::vector<int64_t>* lvols);
  // An attach to the head a volume is attached to for its rebuild: the
  // attachment becomes the caller's (adopted) and the rebuild goes on.
  Status AdoptRebuildAttachment(int64_t lvol_id, int64_t hsvr_id, bool* adopted);
  // Live servers with an agent: those whose silence means something
  // (manager/failure_detector.h judges it).
  Status MonitoredServers(std::vector<MonitoredServer>* out);
  // One read of what /metrics shows (manager/metrics.h); reads only.
  Status ReadGauges(StoreGauges* out);
  // Called with each event's type and level once its transaction commits
  // (an event outside a transaction: at once). Set before serving.
  void CountEventsWith(std::function<void(const std::string& type, const std::string& level)> fn) {
    count_event_ = std::move(fn);
  }
  // Records a cluster-wide event (level "info", "warning" or "error").
  Status NoteClusterEvent(const std::string& level, const std::string& type, const std::string& message);
  // A head's agent URL, initiator and CHAP credentials.
  Status LoadHeadAgent(int64_t hsvr_id, HeadAgentInfo* out);
  // The leg a head asks the map of (legMap), if it may: ENOENT no such
  // chunk, EPERM its volume is not attached (nor in transition) at
  // hsvr_id, EAGAIN it is not INSYNC, EHOSTDOWN its disk or server is not
  // live (HIGH, LOW, EVACUATE) or has no agent. Fills out's pdsk_id,
  // ssvr_id, thin_id, length_mib, status and ssvr_url. Reads only.
  Status LegMapSource(int64_t hsvr_id, int64_t chunk_id, ChunkInfo* out);
  // The head, and every disk (with its agent) a fence must close to it.
  Status FenceTargets(int64_t hsvr_id, HeadAgentInfo* head, std::vector<ChunkInfo>* disks);
  // What the manager grants on ssvr_id's disks: for every head with an
  // initiator, its legs on each disk (as HeadLegs counts them), and which
  // thin ids the database knows there. One transaction.
  Status GrantedAclsOn(int64_t ssvr_id, GrantedAcls* out);

  // Space a head may still write (manager/store_held.cc). A leg that
  // leaves its mirror (replaced, moved) while its volume is attached, in
  // any state, keeps its extent held for that head instead of freeing it.
  // The head answered a call that gave it exactly `chunks` as the legs of
  // mirror_id (0: of the whole volume) of lvol_id: what is held for it
  // there and not among them is freed.
  Status ConfirmLegs(int64_t hsvr_id, int64_t lvol_id, int64_t mirror_id, const std::set<int64_t>& chunks);
  // The head's access to these disks was revoked (a fence, or the ACL
  // reconcile at a storage agent's registration): what is held for it
  // there is freed.
  Status ReleaseRevoked(int64_t hsvr_id, const std::set<int64_t>& pdsks);
  Status ListHeld(std::vector<HeldExtent>* out);
  // Doomed legs (their thin devices to delete) on live disks of live
  // servers with an agent, per disk.
  Status DoomedLegs(std::vector<DoomedDisk>* out);
  // The agent deleted these legs' thin devices: their slots are free. One
  // transaction; legs no longer doomed are skipped.
  Status ForgetDoomed(int64_t pdsk_id, const std::vector<LegRef>& legs);

  // Checks the database against VastSky's invariants; one line per problem.
  // Chunks, free and held extents tile every disk.
  static Status Audit(const std::string& path, std::vector<std::string>* problems);
  // The invariant of held space against heads' volume records (the files
  // of a head agent's state_dir/volumes, in each of record_dirs): no leg a
  // head has recorded (missing ones too) lies on free space or under
  // another chunk; a held extent under it is fine.
  static Status AuditHeadRecords(const std::string& path, const std::vector<std::string>& record_dirs,
                                 std::vector<std::string>* problems);

  // For tests only. The connection, to arm its fault injection
  // (Db::FailAfter); and the first difference between the in-memory
  // allocator and one loaded afresh from the database ("" if none).
  Db* db_for_test() { return &db_; }
  Status AllocatorDifference(std::string* difference);

 private:
  struct Change;
  Status LoadAllocator(Allocator* into);
  Status EachGrantedLeg(int64_t hsvr_id, int64_t except_lvol, int64_t ssvr_id,
                        const std::function<void(int64_t hsvr, int64_t pdsk, const LegGrant&)>& fn);
  // Reads cluster_id (making it if new) and overcommit.
  Status LoadClusterSettings();
  // At Open: a transition no manager is driving any more becomes ERROR.
  Status ClearInterruptedTransitions();
  // At Open: a snapshot or clone left CREATING becomes ERROR.
  Status ClearInterruptedCopies();
  // EBUSY while a snapshot or clone of vol is being made.
  Status CheckNotCopying(const VolumeInfo& vol) const;
  // EBUSY unless vol is READY and not being copied.
  Status CheckSettled(const VolumeInfo& vol) const;
  Status CheckCopySource(const VolumeInfo& src) const;
  // BeginCopy's checks and records, inside change.
  Status PrepareCopy(const VolumeInfo& src, const std::string& name, bool snapshot, Change* change, CopyPlan* plan);
  Status InsertCopyRows(const VolumeLayout& src, const std::string& name, bool snapshot, Journal* journal,
                        CopyPlan* plan);
  // The rules every attach obeys; vol is the volume ref names.
  Status CheckAttachable(const VolumeRef& ref, int64_t hsvr_id, VolumeInfo* vol);
  // The attachment row of vol, BOUND, legs INSYNC.
  Status RecordAttached(const VolumeInfo& vol, int64_t hsvr_id);
  // Frees what is held for the head under the volume: it has let it go.
  Status RecordDetached(const VolumeInfo& vol, Change* change);
  Status NextIds(const char* kind, int64_t count, int64_t* first);
  // The next thin device id of a disk (never reused); ENOSPC past kMaxThinId.
  Status NextThinId(int64_t pdsk_id, int64_t* thin_id);
  Status AddEvent(const std::string& level, const std::string& type, const std::string& target,
                  int64_t target_id, const std::string& message);
  Status ResolveVolume(const VolumeRef& ref, VolumeInfo* out);
  Status LoadVolume(int64_t id, VolumeInfo* out);
  Status LoadLayout(const VolumeInfo& vol, VolumeLayout* out);
  // Writes a journal's free-extent changes to the database.
  Status ApplyJournal(const Journal& journal);
  // A mirror and its legs about to be inserted (slots in leg order).
  struct NewLeg {
    int64_t id = 0, pdsk_id = 0, offset_mib = 0, thin_id = 0;
    int status = kAllocated;
    bool created = false;
  };
  struct NewMirror {
    int64_t id = 0, lvol_id = 0, idx = 0, offset_gib = 0, capacity_gib = 0;
    bool written = false;
    std::vector<NewLeg> legs;
  };
  Status InsertMirror(const NewMirror& m);
  // Places m's `redundancy` fresh legs (ids from *next_id on) as a create
  // does, and inserts it.
  Status PlaceNewMirror(NewMirror* m, int redundancy, int64_t* next_id, Journal* journal);
  // A written mirror's copy: a leg beside `redundancy` of src's in-sync
  // legs, on their disks (manager/store_copies.cc).
  Status CopyMirror(const MirrorInfo& src, int redundancy, NewMirror* m, int64_t* next_id, Journal* journal,
                    std::map<int64_t, CopyPlan::Disk>* disks);
  // Builds the mirrors (and their chunks) covering [from_gib, to_gib) of a
  // volume, numbered from first_idx, ids from first_id; fills the journal.
  Status AllocateMirrors(int64_t lvol_id, int64_t from_gib, int64_t to_gib, int64_t first_idx, int redundancy,
                         int64_t first_id, Journal* journal);
  // A new volume's rows (copies have InsertCopyRows), of tenant ("" none).
  Status CreateVolumeRows(const std::string& name, const std::string& tenant, int64_t capacity_gib,
                          int redundancy, Journal* journal, int64_t* id);
  Status FreeVolumeChunks(int64_t lvol_id, Journal* journal);
  Status DeleteVolumeRows(const VolumeInfo& vol, Journal* journal);
  // Runs body inside one transaction with a fresh journal, writes the
  // journal and commits. On any failure the allocator is reverted: by the
  // journal, or, if the body changed disk specs (which have no undo), by
  // reloading it from the database.
  struct Change {
    Journal journal;
    bool specs_changed = false;
  };
  Status Mutate(const std::function<Status(Change*)>& body);
  // Re-derives which of a server's disks take new chunks.
  Status RefreshAllocatable(int64_t ssvr_id, Change* change);
  // Whether a disk takes new legs: it and its server HIGH/LOW, its pool below nearfull.
  bool DiskTakesLegs(int64_t pdsk_id, int priority, int ssvr_priority) const;
  int64_t SlotMib(int64_t pool_mib) const;
  // Gives a disk new_size MiB of slots (EBUSY if reserved legs lie beyond).
  Status ResizeSlots(int64_t pdsk_id, int64_t new_size, Change* change);
  Status FindDiskRecord(int64_t ssvr_id, const std::string& path, const int64_t* label_pdsk, int64_t* id);
  Status GetPriority(const char* table, int64_t id, int* priority);
  // A registration whose addresses belong to server `owner` (table kind,
  // "ssvr" or "hsvr"): a live one is the same agent reconnecting (with
  // reconnect and exactly these addresses) or else EEXIST; a down one comes
  // back HIGH with these addresses.
  Status Reregister(const char* kind, int64_t owner, const std::vector<std::string>& ips, bool reconnect,
                    bool* reconnected);
  // The registration of server id (table kind; created: new in this
  // transaction) by caller: see RegisterStorageServer.
  Status BindCredential(const char* kind, const Caller* caller, int64_t id, bool created);
  // EBUSY unless the object is OFFLINE or FAULTY and holding_sql (a count
  // with ?1 = id) finds nothing it still holds.
  Status CheckDeletable(const char* table, const char* what, int64_t id, const char* holding_sql,
                        const char* holding);
  Status FailDisk(int64_t pdsk_id, int new_priority, Change* change);
  // Gives a lost leg a new chunk in its slot (placed by `load`, which
  // gains it) and queues its rebuild from source_pdsk. avoid_own_server:
  // not on the lost leg's server either (it lives, but failed that leg).
  Status ReplaceChunk(int64_t chunk_id, int64_t source_pdsk, std::unordered_map<int64_t, double>* load,
                      bool avoid_own_server, Change* change);
  Status ReplaceChunks(const std::vector<int64_t>& chunks, Change* change, bool avoid_own_server = false);
  // A new SPARE leg in a new slot of chunk_id's mirror, to take over from
  // it (drain); placed = false (and an error event) if there is no room.
  Status AddLegBeside(int64_t chunk_id, std::unordered_map<int64_t, double>* load, bool* placed, Change* change);
  Status QueuedRebuildLoad(std::unordered_map<int64_t, double>* load);
  // The disks of a mirror's in-sync legs on live disks and servers, except
  // except_chunk (0: none), in slot order: the candidate rebuild sources.
  Status SourceDisks(int64_t mirror_id, int64_t except_chunk, std::vector<int64_t>* out);
  Status ReplaceChunksOn(const char* where_sql, int64_t id, Change* change);
  // A leg gone for good (its chunk or held row already deleted). Its slot
  // is freed at once if no thin device can exist for it (its mirror was
  // never handed to a head, or its server has no agent); else it waits in
  // doomed_leg, still used, until its agent confirms the device deleted.
  struct LegExtent {
    int64_t pdsk_id = 0, offset_mib = 0, length_mib = 0, chunk_id = 0, thin_id = 0;
    bool written = true;
  };
  Status DropLeg(const LegExtent& leg, Journal* journal);
  // Deletes a leg leaving its mirror; its extent is held for the head its
  // volume is attached to (*held_for), or dropped (*held_for 0).
  Status RetireChunk(int64_t chunk_id, Change* change, int64_t* held_for);
  // Which held extents a head has let go: its own, of one volume and one
  // mirror (0: any), except those of the kept chunks, on the given disks.
  struct HeldFilter {
    int64_t hsvr_id = 0, lvol_id = 0, mirror_id = 0;
    const std::set<int64_t>* kept = nullptr;     // null: none kept
    const std::set<int64_t>* on_pdsks = nullptr;  // null: every disk
  };
  Status FreeHeld(const HeldFilter& filter, Change* change, int64_t* freed = nullptr);
  // FreeHeld as a transaction of its own, with an event on target if any.
  Status ReleaseHeld(const HeldFilter& filter, const std::string& target, int64_t target_id, const std::string& why);
  // Frees what is held for the head under the volume.
  Status FreeHeldOfVolume(const VolumeInfo& vol, int64_t hsvr_id, Change* change);
  // Mirrors of lvol_id from index from_idx on are handed to a head.
  Status MarkWritten(int64_t lvol_id, int64_t from_idx);
  // Gives the ALLOCATED legs of lvol_id's written mirrors (every volume's
  // if 0) a status a head never builds nosync, and takes a leg never
  // created out of sync where a sibling may hold data: see store_held.cc.
  Status SettleWrittenLegs(int64_t lvol_id);

  // A pool report's level under the current ratios: 0 fine, 1 nearfull, 2 full or not "rw".
  int PoolLevel(const PoolReport& r) const;
  // nearfull_ratio, full_ratio or max_clock_skew, checked, recorded with an event.
  Status SetRatio(const std::string& name, const std::string& value);
  Status SaveSetting(const std::string& name, const std::string& value);
  // GetHealth's parts (manager/store_health.cc).
  Status HealthOfMirrors(HealthFacts* f);
  Status HealthOfPoolsAndClocks(HealthFacts* f);

  DbLock lock_;  // before db_: released after the database is closed
  Db db_;
  Allocator alloc_;
  int64_t chunk_gib_ = 4;
  std::string cluster_id_;
  std::string node_key_;
  double overcommit_ = 1.0;
  double nearfull_ratio_ = kPoolNearfull, full_ratio_ = kPoolFull, max_clock_skew_s_ = kMaxClockSkewS;
  std::map<std::pair<int, int64_t>, double> clock_skew_;  // (kTargetSsvr/kTargetHsvr, id) -> seconds
  std::set<int64_t> nearfull_;  // disks whose pool reported nearfull or worse (heartbeats)
  struct PoolState {
    PoolReport report;
    int level = 0;  // 0 fine, 1 nearfull, 2 full or not "rw"
  };
  std::map<int64_t, PoolState> pools_;
  std::function<void(const std::string&, const std::string&)> count_event_;
  std::vector<std::pair<std::string, std::string>> uncommitted_events_;  // (type, level) of the open transaction
  std::set<int64_t> copying_;  // sources of the snapshots and clones being made (in memory: Open clears them)
};

}  // namespace vastsky
