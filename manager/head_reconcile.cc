#include "manager/head_reconcile.h"

#include <cerrno>
#include <mutex>
#include <set>
#include <vector>

#include "lib/ids.h"
#include "lib/log.h"
#include "lib/secret.h"

namespace vastsky {

void HeadReconciler::RunPending() {
  for (int64_t id : pending_.Take()) {
    Status st = Reconcile(id);
    if (st.ok()) continue;
    VS_LOG_ERROR("cannot bring %s back to what the manager attaches to it: %s", FormatId("hsvr", id).c_str(),
                 st.ToString().c_str());
    if (st.code() != EBUSY) Mark(id);
  }
}

Status HeadReconciler::Reconcile(int64_t hsvr_id) {
  HeadAgentInfo head;
  Status st = locked_([&] { return store_->LoadHeadAgent(hsvr_id, &head); });
  if (st.code() == ENOENT) return Status::OK();
  VS_RETURN_IF_ERROR(st);
  if (head.url.empty()) return Status::OK();
  std::lock_guard<std::mutex> turn(*attacher_->HeadMutex(hsvr_id));
  std::vector<HeadVolumeState> held;
  VS_RETURN_IF_ERROR(attacher_->head()->ListVolumes(head.url, &held));
  std::vector<VolumeInfo> vols;
  VS_RETURN_IF_ERROR(locked_([&] { return store_->ListLogicalVolumes(nullptr, &vols); }));
  std::set<int64_t> ours;
  for (const VolumeInfo& v : vols)
    if (v.hsvr_id == hsvr_id) ours.insert(v.id);
  std::string hex;
  VS_RETURN_IF_ERROR(RandomString(12, kHexDigits, &hex));
  std::string failed;
  int code = EAGAIN;
  for (const HeadVolumeState& v : held) {
    if (ours.count(v.lvol_id)) continue;
    st = attacher_->head()->DetachVolume(head.url, "reconcile-" + hex + "-" + std::to_string(v.lvol_id), v.lvol_id);
    if (st.ok()) {
      VS_LOG_WARN("%s still had %s assembled, which the manager no longer attaches there (released by a fence, or "
                  "detached while it was away): detached it there",
                  FormatId("hsvr", hsvr_id).c_str(), FormatId("lvol", v.lvol_id).c_str());
      continue;
    }
    if (st.code() == EBUSY) code = EBUSY;
    failed += " " + FormatId("lvol", v.lvol_id) + " (" + ErrnoName(st.code()) + ")";
  }
  if (failed.empty()) return Status::OK();
  return Status::Error(code, "volumes the manager no longer attaches there are left assembled:" + failed +
                                 (code == EBUSY ? "; stop what holds them open on that head" : ""));
}

}  // namespace vastsky
