// Attacher: attach and detach of a volume on a head server with an agent,
// driven through the agents as agents/PROTOCOL.md ("What the manager does")
// says. Attach: a transaction records the intent; allowInitiator on the
// storage agent of every disk holding a live leg; attachLogicalVolume on the
// head agent; a transaction records the outcome. If a step fails, the head
// is told to detach, the ACLs this attach granted are revoked (unless the
// head's other volumes need them), the intent is removed, and the call fails
// with that step's errno. Detach: the intent, detach on the head (a refusal
// puts the volume back), revoke what the head no longer needs, remove.
// A head without an agent gets 3.0's state-only behaviour.
//
// Agents are called without the API lock (each call bounded by
// timeout_ms): every Store call goes through `locked`. Once their intent is
// recorded, attaches and detaches on one head take turns, so one's revokes
// never undo the ACLs another has just granted; different heads proceed in
// parallel. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "lib/status.h"
#include "manager/agent_clients.h"
#include "manager/store.h"

namespace vastsky {

class Attacher {
 public:
  // Runs a function while holding the lock the Store needs.
  using Locked = std::function<Status(const std::function<Status()>&)>;

  // The agents are reached through storage and head (manager/agent_clients.h).
  Attacher(Store* store, Locked locked, StorageAgentClient* storage, HeadAgentClient* head);
  // rebuild_only: the manager attaches a detached volume to rebuild its
  // legs (manager/recovery.h). A user's attach takes such an attachment
  // over: adopted on the same head, else detached first.
  Status Attach(const VolumeRef& ref, int64_t hsvr_id, bool rebuild_only = false);
  // rebuild_attachment: only an attachment made for a rebuild (a user's
  // detach leaves that alone, and the user's one is not the manager's).
  Status Detach(const VolumeRef& ref, bool rebuild_attachment = false);

  // Grows a volume to capacity_gib (Store::BeginResize says what may be
  // grown). Attached to a head with an agent: the new mirrors are
  // recorded, the head is given access to their disks (allowInitiator, as
  // an attach does), growLogicalVolume reloads its device longer, and the
  // new legs are recorded INSYNC. If a step fails, the new mirrors are
  // freed, the capacity restored and the ACLs this grow granted revoked
  // where the head's volumes need none of them; the call fails with the
  // step's errno. A head whose answer was lost (it may have grown) leaves
  // the volume ERROR and grown: a detach clears it. Takes the head's turn
  // like an attach.
  Status Grow(const VolumeRef& ref, int64_t capacity_gib);

  // Legs `gone` have left a volume attached to hsvr_id (a drain): its
  // access to their disks is revoked where none of its volumes needs them,
  // and narrowed to the legs it still needs elsewhere.
  // What could not be revoked is logged, as after a detach.
  void RevokeLeft(int64_t hsvr_id, const VolumeLayout& layout, const std::vector<int64_t>& gone);

  // Shared with the recovery loop (manager/recovery.h). The turn every
  // change to what a head has assembled takes:
  std::mutex* HeadMutex(int64_t hsvr_id);
  // The agents, as the recovery loop reaches them too.
  StorageAgentClient* storage() const { return storage_; }
  HeadAgentClient* head() const { return head_; }
  // allowInitiator for a head on one disk (the agent at url), unless the
  // head is being fenced: then EPERM and nothing is sent. It carries the
  // head's legs there: `legs`, or if null all the database gives it
  // (Store::HeadLegs; the intent of the change is recorded first). Once
  // the agent answered, the legs it created are recorded so (a failure to
  // record fails the grant): nothing assembles a leg before that. An
  // ENOENT answer is looked into (listExports): legs granted as existing
  // that the agent lacks are replaced (Store::ReplaceLostLegs), and
  // *replaced (if given) is set; the grant still fails.
  Status Grant(const HeadAgentInfo& head, int64_t pdsk_id, const std::string& url, const std::string& opid,
               const std::vector<LegGrant>* legs = nullptr, bool* replaced = nullptr);
  // A fence starts: from now until EndFence no grant goes out to the head,
  // and BeginFence returns only once the grants already in flight to it
  // have returned (each is bounded by its timeout), so nothing it revokes
  // next can be re-opened behind its back.
  void BeginFence(int64_t hsvr_id);
  // The head registered again: it may be granted access again.
  void EndFence(int64_t hsvr_id);

 private:
  struct Disk;
  class Op;
  // The distinct disks under a volume's legs, in leg order; live_only
  // skips legs on failed or offline disks (missing members need no access).
  static std::vector<Disk> DisksOf(const VolumeLayout& layout, bool live_only);
  Status AttachOnce(const VolumeRef& ref, int64_t hsvr_id, bool rebuild_only, bool* replaced);
  // allowInitiator for the head on each disk, in order, up to the first
  // failure (the step's errno, reworded); tried: the disks the request may
  // have reached (for an undo); replaced: as Grant's.
  Status Allow(const HeadAgentInfo& head, const Op& op, const std::vector<Disk>& disks, std::vector<Disk>* tried,
               bool* replaced = nullptr);
  // After an ENOENT grant on pdsk_id: see Grant.
  void ReplaceLost(int64_t pdsk_id, const std::string& url, const std::vector<LegGrant>& legs, bool* replaced);
  Status UndoAttach(const AttachPlan& plan, const Op& op, const std::vector<Disk>& tried, bool head_tried,
                    const Status& failure);
  // Revokes the head's initiator on each disk where it needs no leg once
  // lvol_id is not counted; where it still needs some, narrows its grant
  // to them. What could not be done is described in *leftovers.
  void Revoke(const HeadAgentInfo& head, int64_t lvol_id, const Op& op, const std::vector<Disk>& disks,
              std::string* leftovers);

  Store* store_;
  Locked locked_;
  StorageAgentClient* storage_;
  HeadAgentClient* head_;
  std::mutex heads_mu_;
  std::map<int64_t, std::unique_ptr<std::mutex>> heads_;
  // Fences and the grants they wait for (under fence_mu_).
  std::mutex fence_mu_;
  std::condition_variable grant_done_;
  std::set<int64_t> fencing_;
  std::map<int64_t, int> grants_in_flight_;
};

}  // namespace vastsky
