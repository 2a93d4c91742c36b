#include "manager/attacher.h"

#include "manager/attacher_internal.h"

#include <algorithm>

#include <cerrno>
#include <map>
#include <set>

#include "lib/ids.h"
#include "lib/log.h"
#include "lib/secret.h"

namespace vastsky {

using namespace attacher_internal;

std::vector<Attacher::Disk> Attacher::DisksOf(const VolumeLayout& layout, bool live_only) {
  std::vector<Disk> out;
  std::set<int64_t> seen;
  for (const MirrorInfo& m : layout.mirrors)
    for (const ChunkInfo& c : m.chunks)
      if ((!live_only || c.reachable) && seen.insert(c.pdsk_id).second) out.push_back({c.pdsk_id, c.ssvr_id, c.ssvr_url});
  return out;
}

Attacher::Attacher(Store* store, Locked locked, StorageAgentClient* storage, HeadAgentClient* head)
    : store_(store), locked_(std::move(locked)), storage_(storage), head_(head) {}

std::mutex* Attacher::HeadMutex(int64_t hsvr_id) {
  std::lock_guard<std::mutex> lock(heads_mu_);
  std::unique_ptr<std::mutex>& mu = heads_[hsvr_id];
  if (!mu) mu.reset(new std::mutex);
  return mu.get();
}

Status Attacher::Grant(const HeadAgentInfo& head, int64_t pdsk_id, const std::string& url, const std::string& opid,
                       const std::vector<LegGrant>* legs, bool* replaced) {
  std::map<int64_t, std::vector<LegGrant>> all;
  if (!legs) {
    VS_RETURN_IF_ERROR(locked_([&] { return store_->HeadLegs(head.id, 0, &all); }));
    legs = &all[pdsk_id];
  }
  {
    std::lock_guard<std::mutex> lock(fence_mu_);
    if (fencing_.count(head.id))
      return Status::Error(EPERM, FormatId("hsvr", head.id) + " is being fenced: no access is granted to it");
    ++grants_in_flight_[head.id];
  }
  Status st = storage_->AllowInitiator(url, opid, pdsk_id, head, *legs);
  {
    std::lock_guard<std::mutex> lock(fence_mu_);
    if (--grants_in_flight_[head.id] == 0) grants_in_flight_.erase(head.id);
    grant_done_.notify_all();
  }
  if (st.code() == ENOENT) ReplaceLost(pdsk_id, url, *legs, replaced);
  if (!st.ok()) return st;
  // Recorded before anyone may hand these legs to a head: a leg not
  // recorded created holds nothing (Store::SettleWrittenLegs).
  std::vector<LegGrant> created;
  for (const LegGrant& l : *legs)
    if (l.create) created.push_back(l);
  if (created.empty()) return Status::OK();
  st = locked_([&] { return store_->MarkLegsCreated(created); });
  if (!st.ok())
    return Status::Error(st.code(), "the legs created on " + FormatId("pdsk", pdsk_id) +
                                        " cannot be recorded: " + st.ToString());
  return st;
}

void Attacher::ReplaceLost(int64_t pdsk_id, const std::string& url, const std::vector<LegGrant>& legs, bool* replaced) {
  // The fault does not name the leg (nor tell it from a disk not
  // exported): the agent's own list of its legs does.
  std::set<int64_t> expected;
  for (const LegGrant& l : legs)
    if (!l.create) expected.insert(l.chunk_id);
  if (expected.empty()) return;
  std::vector<ExportAcl> exports;
  Status st = storage_->ListExports(url, &exports);
  std::vector<int64_t> lost;
  for (const ExportAcl& e : exports) {
    if (e.pdsk_id != pdsk_id) continue;
    std::set<int64_t> missing = expected;
    for (const LegGrant& l : e.legs) missing.erase(l.chunk_id);
    lost.assign(missing.begin(), missing.end());
  }
  int count = 0;
  if (st.ok() && !lost.empty()) st = locked_([&] { return store_->ReplaceLostLegs(pdsk_id, lost, &count); });
  if (!st.ok())
    VS_LOG_WARN("%s answered ENOENT and its legs cannot be checked: %s", Where("pdsk", pdsk_id, url).c_str(),
                st.ToString().c_str());
  if (count > 0) {
    VS_LOG_WARN("%d leg(s) of %s whose thin devices are missing replaced, to be rebuilt", count,
                FormatId("pdsk", pdsk_id).c_str());
    if (replaced) *replaced = true;
  }
}

void Attacher::BeginFence(int64_t hsvr_id) {
  std::unique_lock<std::mutex> lock(fence_mu_);
  fencing_.insert(hsvr_id);
  grant_done_.wait(lock, [&] { return grants_in_flight_.count(hsvr_id) == 0; });
}

void Attacher::EndFence(int64_t hsvr_id) {
  std::lock_guard<std::mutex> lock(fence_mu_);
  fencing_.erase(hsvr_id);
}

Status Attacher::Attach(const VolumeRef& ref, int64_t hsvr_id, bool rebuild_only) {
  if (!rebuild_only) {
    std::vector<VolumeInfo> vols;
    VS_RETURN_IF_ERROR(locked_([&] { return store_->ListLogicalVolumes(&ref, &vols); }));
    if (!vols.empty() && vols[0].rebuild_only) {
      bool adopted = false;
      if (vols[0].hsvr_id == hsvr_id)
        VS_RETURN_IF_ERROR(locked_([&] { return store_->AdoptRebuildAttachment(vols[0].id, hsvr_id, &adopted); }));
      if (adopted) return Status::OK();
      VS_LOG_INFO("%s is attached to %s for its rebuild: detached from there first", FormatId("lvol", vols[0].id).c_str(),
                  FormatId("hsvr", vols[0].hsvr_id).c_str());
      VS_RETURN_IF_ERROR(Detach(ref, /*rebuild_attachment=*/true));
    }
  }
  bool replaced = false;
  Status st = AttachOnce(ref, hsvr_id, rebuild_only, &replaced);
  // A leg found lost is replaced by a SPARE one: the next try builds the
  // mirror without it and rebuilds it.
  if (st.ok() || !replaced) return st;
  VS_LOG_INFO("attaching %s again without the legs found lost",
              ref.id ? FormatId("lvol", ref.id).c_str() : ("'" + ref.name + "'").c_str());
  return AttachOnce(ref, hsvr_id, rebuild_only, &replaced);
}

Status Attacher::AttachOnce(const VolumeRef& ref, int64_t hsvr_id, bool rebuild_only, bool* replaced) {
  AttachPlan plan;
  VS_RETURN_IF_ERROR(locked_([&] { return store_->BeginAttach(ref, hsvr_id, rebuild_only, &plan); }));
  if (!plan.agent) return Status::OK();
  // The intent is recorded first, so a revoke by whoever holds the head's
  // turn now already counts this volume's disks as needed.
  std::lock_guard<std::mutex> head_lock(*HeadMutex(hsvr_id));
  const VolumeInfo& vol = plan.layout.volume;
  const HeadAgentInfo& head = plan.head;
  Op op;
  Status st = op.Init("attach", vol.id);
  const std::vector<Disk> disks = DisksOf(plan.layout, /*live_only=*/true);
  VS_LOG_INFO("attaching '%s' (%s) to %s: %zu disk(s) to open to %s", vol.name.c_str(), FormatId("lvol", vol.id).c_str(),
              Where("hsvr", head.id, head.url).c_str(), disks.size(), head.initiator.c_str());

  // Grant the head access to every disk with a live leg.
  std::vector<Disk> tried;
  if (st.ok()) st = Allow(head, op, disks, &tried, replaced);

  // Assemble on the head.
  bool head_tried = false;
  std::string device;
  if (st.ok()) {
    head_tried = true;
    st = head_->AttachVolume(head.url, op.Id("head"), plan.layout, head, &device);
    if (!st.ok()) st = StepFailed("hsvr", head.id, head.url, "attachLogicalVolume", st);
  }

  if (st.ok()) {
    st = locked_([&] { return store_->FinishAttach(plan, device); });
    if (st.ok()) return Status::OK();
  }
  return UndoAttach(plan, op, tried, head_tried, st);
}

Status Attacher::Allow(const HeadAgentInfo& head, const Op& op, const std::vector<Disk>& disks, std::vector<Disk>* tried,
                       bool* replaced) {
  for (const Disk& d : disks) {
    if (d.url.empty())
      return Status::Error(ENXIO, FormatId("ssvr", d.ssvr_id) + " has no agent url (it registered without one): cannot open " +
                                      FormatId("pdsk", d.pdsk_id) + " to the head");
    Status st = Grant(head, d.pdsk_id, d.url, op.Disk("p", d.pdsk_id), nullptr, replaced);
    // Refused: the request never reached the agent, there is nothing to undo.
    if (st.code() != ECONNREFUSED && st.code() != EPERM) tried->push_back(d);
    if (!st.ok()) return StepFailed("ssvr", d.ssvr_id, d.url, "allowInitiator on " + FormatId("pdsk", d.pdsk_id), st);
  }
  return Status::OK();
}

Status Attacher::UndoAttach(const AttachPlan& plan, const Op& op, const std::vector<Disk>& tried, bool head_tried,
                            const Status& failure) {
  const VolumeInfo& vol = plan.layout.volume;
  const HeadAgentInfo& head = plan.head;
  // The head's own undo leaves nothing behind after a fault; detaching
  // again covers an attach that finished but whose answer was lost.
  std::string unconfirmed;
  int undo_code = 0;
  bool head_clear = false;  // the head answered that it has nothing of the volume
  if (head_tried) {
    Status st = head_->DetachVolume(head.url, op.Id("undo-head"), vol.id);
    head_clear = st.ok();
    // Refused twice: the attach never reached the head, there is nothing there.
    if (!st.ok() && !(failure.code() == ECONNREFUSED && st.code() == ECONNREFUSED)) {
      unconfirmed = StepFailed("hsvr", head.id, head.url, "detachLogicalVolume (undo)", st).message();
      undo_code = st.code();
    }
  }
  // Revoke even if the head could not confirm: cutting its access is what
  // keeps a half-assembled volume from being written.
  std::string leftovers;
  Revoke(head, vol.id, op, tried, &leftovers);
  Status st;
  if (unconfirmed.empty()) {
    st = locked_([&] { return store_->AbortAttach(plan, failure.ToString() + leftovers, head_clear); });
  } else {
    st = locked_([&] {
      return store_->MarkAttachmentError(vol.id, head.id,
                                         "attach failed (" + failure.ToString() + ") and its undo too (" +
                                             ErrnoName(undo_code) + ": " + unconfirmed + ")" + leftovers);
    });
  }
  if (!st.ok())
    VS_LOG_ERROR("cannot record the failed attach of %s: %s", FormatId("lvol", vol.id).c_str(), st.ToString().c_str());
  return failure;
}

void Attacher::Revoke(const HeadAgentInfo& head, int64_t lvol_id, const Op& op, const std::vector<Disk>& disks,
                      std::string* leftovers) {
  std::map<int64_t, std::vector<LegGrant>> needed;
  Status st = locked_([&] { return store_->HeadLegs(head.id, lvol_id, &needed); });
  if (!st.ok()) {
    // Without knowing what the head still uses, keeping access is the safe side.
    *leftovers += "; ACLs kept, cannot tell which the head still needs: " + st.ToString();
    return;
  }
  std::set<int64_t> unreachable;  // servers that did not answer: each call would wait as long
  for (const Disk& d : disks) {
    auto legs = needed.find(d.pdsk_id);
    const bool narrow = legs != needed.end();
    if (d.url.empty()) st = Status::Error(ENXIO, "not tried: the server has no agent url");
    else if (unreachable.count(d.ssvr_id)) st = Status::Error(EHOSTUNREACH, "not tried: the server did not answer for another disk");
    else if (narrow) st = Grant(head, d.pdsk_id, d.url, op.Disk("narrow-p", d.pdsk_id), &legs->second);
    else st = storage_->RevokeInitiator(d.url, op.Disk("revoke-p", d.pdsk_id), d.pdsk_id, head.initiator);
    if (st.ok()) continue;
    if (Unreachable(st)) unreachable.insert(d.ssvr_id);
    const std::string what = std::string(narrow ? "legs it no longer needs left mapped to " : "ACL for ") +
                             head.initiator + " on " + FormatId("pdsk", d.pdsk_id) + " of " +
                             Where("ssvr", d.ssvr_id, d.url) + ": " + ErrnoName(st.code()) + ", " + Detail(st, d.url);
    VS_LOG_WARN("%s; revoke it on that storage server once it answers", what.c_str());
    *leftovers += "; " + what;
  }
}

void Attacher::RevokeLeft(int64_t hsvr_id, const VolumeLayout& layout, const std::vector<int64_t>& gone) {
  HeadAgentInfo head;
  Op op;
  Status st = locked_([&] { return store_->LoadHeadAgent(hsvr_id, &head); });
  if (st.ok()) st = op.Init("retire", layout.volume.id);
  if (!st.ok()) {
    VS_LOG_WARN("%s keeps access to the disks of legs it dropped: %s", FormatId("hsvr", hsvr_id).c_str(),
                st.ToString().c_str());
    return;
  }
  VolumeLayout left = layout;
  for (MirrorInfo& m : left.mirrors)
    m.chunks.erase(std::remove_if(m.chunks.begin(), m.chunks.end(),
                                  [&](const ChunkInfo& c) {
                                    return std::find(gone.begin(), gone.end(), c.id) == gone.end();
                                  }),
                   m.chunks.end());
  std::lock_guard<std::mutex> head_lock(*HeadMutex(hsvr_id));
  std::string leftovers;
  // lvol 0: every volume of the head, this one too, counts as needing a disk.
  Revoke(head, 0, op, DisksOf(left, /*live_only=*/false), &leftovers);
}

Status Attacher::Detach(const VolumeRef& ref, bool rebuild_attachment) {
  DetachPlan plan;
  VS_RETURN_IF_ERROR(locked_([&] { return store_->BeginDetach(ref, &plan, rebuild_attachment); }));
  if (!plan.agent) return Status::OK();
  std::lock_guard<std::mutex> head_lock(*HeadMutex(plan.head.id));
  const VolumeInfo& vol = plan.layout.volume;
  const HeadAgentInfo& head = plan.head;
  Op op;
  Status st = op.Init("detach", vol.id);
  VS_LOG_INFO("detaching '%s' (%s) from %s", vol.name.c_str(), FormatId("lvol", vol.id).c_str(),
              Where("hsvr", head.id, head.url).c_str());
  if (st.ok()) st = head_->DetachVolume(head.url, op.Id("head"), vol.id);
  if (!st.ok()) {
    const Status failed = st;
    st = StepFailed("hsvr", head.id, head.url, "detachLogicalVolume", st);
    // With no answer (a timeout, a connection lost mid-call) part of it may
    // be torn down; the head's own refusal left it as it was.
    const bool unknown = OutcomeUnknown(failed, head.url);
    Status rec = locked_([&] {
      return unknown ? store_->MarkAttachmentError(vol.id, head.id, "detach failed: " + st.ToString())
                     : store_->RestoreBound(plan, st.ToString());
    });
    if (!rec.ok())
      VS_LOG_ERROR("cannot record the failed detach of %s: %s", FormatId("lvol", vol.id).c_str(), rec.ToString().c_str());
    return st;
  }
  // The head has let go: a leftover ACL is logged, not a reason to keep the
  // volume attached (a dead storage server must not pin it forever).
  std::string leftovers;
  Revoke(head, vol.id, op, DisksOf(plan.layout, /*live_only=*/false), &leftovers);
  return locked_([&] { return store_->FinishDetach(plan, leftovers); });
}

}  // namespace vastsky
