// The agents as the manager sees them: typed calls to a storage agent and to
// a head agent (agents/PROTOCOL.md), each agent named by its URL. The
// manager's logic (manager/attacher.h, manager/recovery.h) talks only to
// these interfaces; RpcAgentClients speaks XML-RPC to the real agents, and
// unit tests substitute a fake (tests/unit/fake_agents.h).
//
// Errors: an agent's fault comes back with its errno; a transport failure as
// lib/rpc_client.h words it ("<url>: ..."): ECONNREFUSED (never reached the
// agent), ETIMEDOUT or EIO (it may have acted: the outcome is unknown),
// EACCES (credentials refused). Every call is bounded: calls that do kernel
// work (attach, detach, grow, rebuild) by AgentOptions::timeout_ms, the
// others (ACLs, listings, rates, leg maps, deltas and usage, freezes and thaws) by
// quick_timeout_ms.
// Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "lib/status.h"
#include "manager/types.h"

namespace vastsky {

struct AgentOptions {
  std::string secret;   // HTTP Basic password of user admin: the cluster secret
  // The credentials for the agent at url, if it has its own (true): else
  // admin and the cluster secret. Thread-safe; unset: always admin.
  std::function<bool(const std::string& url, std::string* user, std::string* password)> credential_for;
  std::string ca_file;  // PEM CA to verify the agents' certificates; "" = system store
  int timeout_ms = 300000;       // calls that do kernel work: attach, detach, grow, rebuild
  int quick_timeout_ms = 15000;  // calls that only touch ACLs, list state or set rates
};

// One exported disk (listExports): the initiators its target lets in, the
// chunks each sees, and the thin devices in its pool (create unused).
struct ExportAcl {
  int64_t pdsk_id = 0;
  std::vector<std::string> initiators;
  std::map<std::string, std::vector<int64_t>> maps;
  std::vector<LegGrant> legs;
};

// One mirror as dm raid on the head reports it (listVolumes).
struct HeadMirrorState {
  int64_t mirror_id = 0;
  std::string health, sync, action;  // "AA", "2048/2048", "idle"
};

struct HeadVolumeState {
  int64_t lvol_id = 0;
  std::vector<HeadMirrorState> mirrors;
};

class StorageAgentClient {
 public:
  virtual ~StorageAgentClient() = default;
  // The head's initiator (with its CHAP credentials) let in on one disk,
  // seeing exactly `legs` there (fewer than before narrows it).
  virtual Status AllowInitiator(const std::string& url, const std::string& opid, int64_t pdsk_id,
                                const HeadAgentInfo& head, const std::vector<LegGrant>& legs) = 0;
  virtual Status RevokeInitiator(const std::string& url, const std::string& opid, int64_t pdsk_id,
                                 const std::string& initiator) = 0;
  // Unmaps and removes each leg's LUN and deletes its thin device; absent is fine.
  virtual Status DeleteLegs(const std::string& url, const std::string& opid, int64_t pdsk_id,
                            const std::vector<LegRef>& legs) = 0;
  virtual Status ListExports(const std::string& url, std::vector<ExportAcl>* out) = 0;
  // The provisioned blocks of one thin device (legMap), read-only, as the
  // agent answered them: the caller checks them (manager/leg_map.h).
  // ENOTSUP: an agent from before legMap.
  virtual Status LegMap(const std::string& url, int64_t pdsk_id, int64_t thin_id, LegBlocks* out) = 0;
  // Brings a disk's pool that saw I/O errors back (repairPool: LUNs
  // withdrawn, thin_check, the stale legs marked, pool and LUNs back).
  // Kernel work: timeout_ms. ENOTSUP: an agent from before repairPool.
  virtual Status RepairPool(const std::string& url, const std::string& opid, int64_t pdsk_id,
                            const std::vector<StaleLeg>& stale) = 0;
  // Makes each leg's thin a dm-thin snapshot of its origin thin on one disk
  // (snapshotLegs): the new legs share the origin's blocks. Kernel work:
  // timeout_ms. ENOTSUP: an agent from before snapshotLegs.
  virtual Status SnapshotLegs(const std::string& url, const std::string& opid, int64_t pdsk_id,
                              const std::vector<LegCopy>& legs) = 0;
  // The blocks of thin_id's data whose mapping differs from base_thin_id's
  // (legDelta), read-only, as the agent answered them (the caller checks).
  // Quick call. ENOTSUP: an agent from before legDelta.
  virtual Status LegDelta(const std::string& url, int64_t pdsk_id, int64_t thin_id, int64_t base_thin_id,
                          LegBlocks* out) = 0;
  // Every thin of a disk's pool with the space it maps and holds alone
  // (legUsage), read-only, as the agent answered. Quick call. ENOTSUP: an
  // agent from before legUsage.
  virtual Status LegUsage(const std::string& url, int64_t pdsk_id, std::vector<ThinSpace>* out) = 0;
};

class HeadAgentClient {
 public:
  virtual ~HeadAgentClient() = default;
  // Assembles the volume as layout says; *device is its path on the head.
  virtual Status AttachVolume(const std::string& url, const std::string& opid, const VolumeLayout& layout,
                              const HeadAgentInfo& head, std::string* device) = 0;
  virtual Status DetachVolume(const std::string& url, const std::string& opid, int64_t lvol_id) = 0;
  // Reloads the assembled volume longer: layout's first mirrors are the
  // ones assembled, the rest are new.
  virtual Status GrowVolume(const std::string& url, const std::string& opid, const VolumeLayout& layout) = 0;
  // Converges one mirror to its legs in layout; source_pdsk 0 names none
  // (legs only leave), rate_kib 0 keeps the head's rate.
  virtual Status RebuildMirror(const std::string& url, const std::string& opid, const VolumeLayout& layout,
                               int64_t mirror_id, int64_t source_pdsk, int64_t rate_kib) = 0;
  virtual Status SetRebuildRate(const std::string& url, int64_t rate_kib) = 0;
  virtual Status ListVolumes(const std::string& url, std::vector<HeadVolumeState>* out) = 0;
  // Suspends the assembled volume with flush (freezeVolume) until
  // ThawVolume, or until timeout_ms pass: then the head thaws it itself and
  // the thaw answers ETIME (what was taken meanwhile may be torn).
  virtual Status FreezeVolume(const std::string& url, const std::string& opid, int64_t lvol_id,
                              int64_t timeout_ms) = 0;
  // *paused_ms: how long its I/O waited.
  virtual Status ThawVolume(const std::string& url, const std::string& opid, int64_t lvol_id, int64_t* paused_ms) = 0;
};

// Both, over XML-RPC.
class RpcAgentClients : public StorageAgentClient, public HeadAgentClient {
 public:
  explicit RpcAgentClients(AgentOptions options) : options_(std::move(options)) {}

  Status AllowInitiator(const std::string& url, const std::string& opid, int64_t pdsk_id,
                        const HeadAgentInfo& head, const std::vector<LegGrant>& legs) override;
  Status RevokeInitiator(const std::string& url, const std::string& opid, int64_t pdsk_id,
                         const std::string& initiator) override;
  Status DeleteLegs(const std::string& url, const std::string& opid, int64_t pdsk_id,
                    const std::vector<LegRef>& legs) override;
  Status ListExports(const std::string& url, std::vector<ExportAcl>* out) override;
  Status LegMap(const std::string& url, int64_t pdsk_id, int64_t thin_id, LegBlocks* out) override;
  Status RepairPool(const std::string& url, const std::string& opid, int64_t pdsk_id,
                    const std::vector<StaleLeg>& stale) override;
  Status SnapshotLegs(const std::string& url, const std::string& opid, int64_t pdsk_id,
                      const std::vector<LegCopy>& legs) override;
  Status LegDelta(const std::string& url, int64_t pdsk_id, int64_t thin_id, int64_t base_thin_id,
                  LegBlocks* out) override;
  Status LegUsage(const std::string& url, int64_t pdsk_id, std::vector<ThinSpace>* out) override;
  Status AttachVolume(const std::string& url, const std::string& opid, const VolumeLayout& layout,
                      const HeadAgentInfo& head, std::string* device) override;
  Status DetachVolume(const std::string& url, const std::string& opid, int64_t lvol_id) override;
  Status GrowVolume(const std::string& url, const std::string& opid, const VolumeLayout& layout) override;
  Status RebuildMirror(const std::string& url, const std::string& opid, const VolumeLayout& layout,
                       int64_t mirror_id, int64_t source_pdsk, int64_t rate_kib) override;
  Status SetRebuildRate(const std::string& url, int64_t rate_kib) override;
  Status ListVolumes(const std::string& url, std::vector<HeadVolumeState>* out) override;
  Status FreezeVolume(const std::string& url, const std::string& opid, int64_t lvol_id, int64_t timeout_ms) override;
  Status ThawVolume(const std::string& url, const std::string& opid, int64_t lvol_id, int64_t* paused_ms) override;

 private:
  const AgentOptions options_;
};

}  // namespace vastsky
