#include "manager/copier.h"

#include <cerrno>
#include <future>
#include <vector>

#include "lib/ids.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "manager/attacher_internal.h"

namespace vastsky {

using namespace attacher_internal;

Copier::Copier(Store* store, Locked locked, StorageAgentClient* storage, HeadAgentClient* head,
               int64_t freeze_timeout_ms)
    : store_(store),
      locked_(std::move(locked)),
      storage_(storage),
      head_(head),
      freeze_timeout_ms_(freeze_timeout_ms) {}

Status Copier::SnapshotAll(const CopyPlan& plan, const std::string& opid, bool* unknown) {
  std::vector<std::future<Status>> calls;
  for (const CopyPlan::Disk& d : plan.disks)
    calls.push_back(std::async(std::launch::async, [this, &d, &opid] {
      return storage_->SnapshotLegs(d.url, opid + "-p" + std::to_string(d.pdsk_id), d.pdsk_id, d.legs);
    }));
  Status first;
  for (size_t i = 0; i < calls.size(); ++i) {
    const CopyPlan::Disk& d = plan.disks[i];
    Status st = calls[i].get();
    if (st.ok()) continue;
    if (OutcomeUnknown(st, d.url)) *unknown = true;
    if (first.ok()) first = StepFailed("ssvr", d.ssvr_id, d.url, "snapshotLegs on " + FormatId("pdsk", d.pdsk_id), st);
  }
  return first;
}

Status Copier::Abort(const CopyPlan& plan, const Status& failure, bool unknown) {
  Status st = locked_([&] { return store_->AbortCopy(plan, failure.ToString(), unknown); });
  if (!st.ok())
    VS_LOG_ERROR("cannot record the failed copy %s of %s: %s (the next manager start marks it ERROR)",
                 FormatId("lvol", plan.copy.volume.id).c_str(), FormatId("lvol", plan.source.id).c_str(),
                 st.ToString().c_str());
  return failure;
}

Status Copier::Copy(const VolumeRef& source, const std::string& name, bool snapshot, int64_t* id) {
  CopyPlan plan;
  VS_RETURN_IF_ERROR(locked_([&] { return store_->BeginCopy(source, name, snapshot, &plan); }));
  const VolumeInfo& src = plan.source;
  const HeadAgentInfo& head = plan.head;
  std::string hex;
  Status st = RandomString(16, kHexDigits, &hex);
  if (!st.ok()) return Abort(plan, st, false);
  const std::string opid = std::string(snapshot ? "snapshot-" : "clone-") + std::to_string(plan.copy.volume.id) + "-" + hex;
  VS_LOG_INFO("%s '%s' of '%s' (%s): %zu disk(s)%s", snapshot ? "snapshot" : "clone", name.c_str(), src.name.c_str(),
              FormatId("lvol", src.id).c_str(), plan.disks.size(),
              plan.freeze ? (", frozen on " + Where("hsvr", head.id, head.url)).c_str() : "");
  if (plan.freeze) {
    st = head_->FreezeVolume(head.url, opid + "-freeze", src.id, freeze_timeout_ms_);
    // Nothing was snapshotted yet: whatever the freeze did, the head thaws
    // it at its deadline, and the thaw below ends it sooner.
    if (!st.ok()) {
      int64_t ignored;
      (void)head_->ThawVolume(head.url, opid + "-thaw", src.id, &ignored);
      return Abort(plan, StepFailed("hsvr", head.id, head.url, "freezeVolume", st), false);
    }
  }
  bool unknown = false;
  st = SnapshotAll(plan, opid, &unknown);
  int64_t paused_ms = 0;
  if (plan.freeze) {
    Status thaw = head_->ThawVolume(head.url, opid + "-thaw", src.id, &paused_ms);
    if (!thaw.ok()) {
      // ETIME: the head had thawed it, so legs may have been taken while it
      // wrote; a lost answer cannot tell. Either way the copy may be torn.
      VS_LOG_WARN("the thaw of '%s' on %s failed (%s): the %s is discarded", src.name.c_str(),
                  Where("hsvr", head.id, head.url).c_str(), thaw.ToString().c_str(), snapshot ? "snapshot" : "clone");
      if (st.ok()) st = StepFailed("hsvr", head.id, head.url, "thawVolume (the copy may be torn: retry)", thaw);
    }
  }
  if (!st.ok()) return Abort(plan, st, unknown);
  st = locked_([&] { return store_->FinishCopy(plan, paused_ms); });
  if (!st.ok()) return Abort(plan, st, true);
  *id = plan.copy.volume.id;
  return Status::OK();
}

}  // namespace vastsky
