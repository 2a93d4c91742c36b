// Store: attachment state. As state only (3.0: a head without an agent),
// and as the intent/outcome transactions around the agents' work
// (manager/attacher.h).
#include <cerrno>
#include <set>

#include "lib/ids.h"
#include "lib/log.h"
#include "manager/store.h"

namespace vastsky {

namespace {
std::string Quote(const std::string& s) { return "'" + s + "'"; }
std::string Hsvr(int64_t id) { return FormatId("hsvr", id); }
// A disk or server whose agent may be asked: not failed, offline or halted.
bool Serving(int priority) { return TakesNewWork(priority) || priority == kEvacuate; }
}  // namespace

Status Store::LoadHeadAgent(int64_t hsvr_id, HeadAgentInfo* out) {
  Stmt q(db_, "SELECT url, initiator, chap_user, chap_secret FROM hsvr WHERE id = ?1");
  q.Bind(1, hsvr_id);
  if (!q.Step()) {
    VS_RETURN_IF_ERROR(q.status());
    return Status::Error(ENOENT, "no head server " + std::to_string(hsvr_id));
  }
  out->id = hsvr_id;
  out->url = q.Text(0);
  out->initiator = q.Text(1);
  out->chap_user = q.Text(2);
  out->chap_secret = q.Text(3);
  return Status::OK();
}

// One read: the checks in API.md's order, so a head learns the first
// reason that applies.
Status Store::LegMapSource(int64_t hsvr_id, int64_t chunk_id, ChunkInfo* out) {
  Stmt q(db_,
         "SELECT c.pdsk_id, p.ssvr_id, c.thin_id, c.length_mib, c.status, p.priority, s.priority, s.url, "
         "EXISTS (SELECT 1 FROM attachment a WHERE a.lvol_id = m.lvol_id AND a.hsvr_id = ?2) "
         "FROM chunk c JOIN mirror m ON m.id = c.mirror_id JOIN pdsk p ON p.id = c.pdsk_id "
         "JOIN ssvr s ON s.id = p.ssvr_id WHERE c.id = ?1");
  q.Bind(1, chunk_id).Bind(2, hsvr_id);
  const std::string leg = FormatId("dext", chunk_id);
  if (!q.Step()) {
    VS_RETURN_IF_ERROR(q.status());
    return Status::Error(ENOENT, "no chunk " + leg);
  }
  out->id = chunk_id;
  out->pdsk_id = q.Int(0);
  out->ssvr_id = q.Int(1);
  out->thin_id = q.Int(2);
  out->length_mib = q.Int(3);
  out->status = static_cast<int>(q.Int(4));
  const int disk_prio = static_cast<int>(q.Int(5)), server_prio = static_cast<int>(q.Int(6));
  out->ssvr_url = q.Text(7);
  out->reachable = Serving(disk_prio) && Serving(server_prio);
  if (q.Int(8) == 0) return Status::Error(EPERM, "the volume of " + leg + " is not attached to " + Hsvr(hsvr_id));
  if (out->status != kInsync)
    return Status::Error(EAGAIN, leg + " is " + ChunkStatusName(out->status) + ", not INSYNC: no source to map");
  auto down = [&](const std::string& where, const std::string& why) {
    return Status::Error(EHOSTDOWN, leg + " lies on " + where + ", which " + why);
  };
  const std::string ssvr = FormatId("ssvr", out->ssvr_id);
  if (!Serving(server_prio)) return down(ssvr, std::string("is ") + PriorityName(server_prio));
  if (!Serving(disk_prio)) return down(FormatId("pdsk", out->pdsk_id), std::string("is ") + PriorityName(disk_prio));
  if (out->ssvr_url.empty()) return down(ssvr, "has no agent");
  return Status::OK();
}

Status Store::CheckAttachable(const VolumeRef& ref, int64_t hsvr_id, VolumeInfo* vol) {
  VS_RETURN_IF_ERROR(ResolveVolume(ref, vol));
  VS_RETURN_IF_ERROR(CheckSettled(*vol));
  int prio;
  Status st = GetPriority("hsvr", hsvr_id, &prio);
  if (st.code() == ENOENT) return Status::Error(EINVAL, "head server " + std::to_string(hsvr_id) + " is not registered");
  VS_RETURN_IF_ERROR(st);
  if (!TakesNewWork(prio))
    return Status::Error(EINVAL, "head server " + std::to_string(hsvr_id) + " is " + PriorityName(prio));
  if (vol->bind_status == kBindError)
    return Status::Error(EBUSY, Quote(vol->name) + " is in ERROR on hsvr " + std::to_string(vol->hsvr_id) +
                                    " after an interrupted attach or detach; detach it first");
  if (vol->bind_event != kNoEvent)
    return Status::Error(EBUSY, Quote(vol->name) + " is being attached, detached or resized (hsvr " +
                                    std::to_string(vol->hsvr_id) + ")");
  if (vol->hsvr_id != 0)
    return Status::Error(EBUSY, Quote(vol->name) + " is already attached to hsvr " + std::to_string(vol->hsvr_id));
  return Status::OK();
}

Status Store::RecordAttached(const VolumeInfo& vol, int64_t hsvr_id) {
  Stmt att(db_, "INSERT INTO attachment(lvol_id, hsvr_id, status, event, ctime) VALUES (?1, ?2, 1, 0, ?3)");
  Stmt sync(db_,
            "UPDATE chunk SET status = 2 WHERE status = 1 AND mirror_id IN "
            "(SELECT id FROM mirror WHERE lvol_id = ?1)");
  VS_RETURN_IF_ERROR(att.Bind(1, vol.id).Bind(2, hsvr_id).Bind(3, NowIso8601()).Run());
  VS_RETURN_IF_ERROR(sync.Bind(1, vol.id).Run());
  VS_RETURN_IF_ERROR(MarkWritten(vol.id, 0));
  return AddEvent("info", "attach", "lvol", vol.id, Quote(vol.name) + " attached to hsvr " + std::to_string(hsvr_id));
}

Status Store::RecordDetached(const VolumeInfo& vol, Change* change) {
  Stmt del(db_, "DELETE FROM attachment WHERE lvol_id = ?1");
  VS_RETURN_IF_ERROR(del.Bind(1, vol.id).Run());
  // The head has let the volume go (or, without an agent, its owner says so).
  VS_RETURN_IF_ERROR(FreeHeldOfVolume(vol, vol.hsvr_id, change));
  // A rebuild the head was running stops with the mirror: queued again.
  Stmt requeue(db_,
               "UPDATE rebuild SET state = 0, hsvr_id = 0, started = '' WHERE state = 1 AND mirror_id IN "
               "(SELECT id FROM mirror WHERE lvol_id = ?1)");
  VS_RETURN_IF_ERROR(requeue.Bind(1, vol.id).Run());
  return AddEvent("info", "detach", "lvol", vol.id, Quote(vol.name) + " detached from hsvr " + std::to_string(vol.hsvr_id));
}

Status Store::AttachLogicalVolume(const VolumeRef& ref, int64_t hsvr_id) {
  return Mutate([&](Change*) {
    VolumeInfo vol;
    VS_RETURN_IF_ERROR(CheckAttachable(ref, hsvr_id, &vol));
    return RecordAttached(vol, hsvr_id);
  });
}

Status Store::DetachLogicalVolume(const VolumeRef& ref) {
  return Mutate([&](Change* change) {
    VolumeInfo vol;
    VS_RETURN_IF_ERROR(ResolveVolume(ref, &vol));
    if (vol.hsvr_id == 0) return Status::OK();
    VS_RETURN_IF_ERROR(CheckNotCopying(vol));
    if (vol.bind_event != kNoEvent) return Status::Error(EAGAIN, Quote(vol.name) + " is being attached or detached");
    return RecordDetached(vol, change);
  });
}

Status Store::BeginAttach(const VolumeRef& ref, int64_t hsvr_id, bool rebuild_only, AttachPlan* plan) {
  return Mutate([&](Change*) {
    VolumeInfo vol;
    VS_RETURN_IF_ERROR(CheckAttachable(ref, hsvr_id, &vol));
    VS_RETURN_IF_ERROR(LoadHeadAgent(hsvr_id, &plan->head));
    plan->agent = !plan->head.url.empty();
    if (!plan->agent) return RecordAttached(vol, hsvr_id);
    if (plan->head.chap_user.empty())
      return Status::Internal(Hsvr(hsvr_id) + " has an agent but no CHAP credentials");
    // Handed to a head before: never built nosync again.
    VS_RETURN_IF_ERROR(SettleWrittenLegs(vol.id));
    VS_RETURN_IF_ERROR(LoadLayout(vol, &plan->layout));
    // From this intent on, the head may write every mirror, even if its
    // answer is lost.
    VS_RETURN_IF_ERROR(MarkWritten(vol.id, 0));
    // UNBOUND + BINDING: nothing is settled on the head until the outcome.
    Stmt att(db_,
             "INSERT INTO attachment(lvol_id, hsvr_id, status, event, ctime, rebuild_only) VALUES (?1, ?2, 0, 1, ?3, ?4)");
    return att.Bind(1, vol.id).Bind(2, hsvr_id).Bind(3, NowIso8601()).Bind(4, rebuild_only ? 1 : 0).Run();
  });
}

Status Store::FinishAttach(const AttachPlan& plan, const std::string& device) {
  const VolumeInfo& vol = plan.layout.volume;
  return Mutate([&](Change* change) {
    Stmt up(db_, "UPDATE attachment SET status = 1, event = 0 WHERE lvol_id = ?1 AND hsvr_id = ?2 AND event = 1");
    VS_RETURN_IF_ERROR(up.Bind(1, vol.id).Bind(2, plan.head.id).Run());
    if (sqlite3_changes(db_.handle()) != 1)
      return Status::Error(EAGAIN, "the attachment of " + Quote(vol.name) + " to " + Hsvr(plan.head.id) +
                                       " was cleared while the agents worked (head reported failed?)");
    // Only the legs the head just built: a leg replaced meanwhile is new
    // and still has to be synced, and one on a disk this attach could not
    // reach was missing there (its thin device was created before, if
    // at all: it holds nothing of what the head writes now).
    Stmt sync(db_, "UPDATE chunk SET status = 2 WHERE id = ?1 AND status = 1 AND created = 1");
    std::set<int64_t> built;
    for (const MirrorInfo& m : plan.layout.mirrors)
      for (const ChunkInfo& c : m.chunks) {
        built.insert(c.id);
        if (c.status == kAllocated && c.reachable) VS_RETURN_IF_ERROR(sync.Bind(1, c.id).Run());
      }
    VS_RETURN_IF_ERROR(SettleWrittenLegs(vol.id));
    // The head has exactly the planned legs: an older leg held for it is gone.
    HeldFilter held;
    held.hsvr_id = plan.head.id;
    held.lvol_id = vol.id;
    held.kept = &built;
    VS_RETURN_IF_ERROR(FreeHeld(held, change));
    return AddEvent("info", "attach", "lvol", vol.id,
                    Quote(vol.name) + " attached to hsvr " + std::to_string(plan.head.id) + " as " + device);
  });
}

Status Store::AbortAttach(const AttachPlan& plan, const std::string& why, bool head_clear) {
  const VolumeInfo& vol = plan.layout.volume;
  return Mutate([&](Change* change) {
    Stmt del(db_, "DELETE FROM attachment WHERE lvol_id = ?1 AND hsvr_id = ?2 AND event = 1");
    VS_RETURN_IF_ERROR(del.Bind(1, vol.id).Bind(2, plan.head.id).Run());
    if (head_clear) VS_RETURN_IF_ERROR(FreeHeldOfVolume(vol, plan.head.id, change));
    // Nothing was written through this attach. A mirror that got a SPARE
    // replacement meanwhile stays written: its legs are settled in sync
    // at the next attach and the replacement rebuilt from them.
    // Its legs count as never created again, so that once handed out they
    // are in sync only if granted then (SettleWrittenLegs).
    Stmt unwritten(db_,
                   "UPDATE mirror SET written = 0 WHERE id = ?1 AND NOT EXISTS "
                   "(SELECT 1 FROM chunk WHERE mirror_id = ?1 AND status != 1)");
    Stmt fresh(db_, "UPDATE chunk SET created = 0 WHERE mirror_id = ?1");
    for (const MirrorInfo& m : plan.layout.mirrors) {
      if (m.written) continue;
      VS_RETURN_IF_ERROR(unwritten.Bind(1, m.id).Run());
      if (db_.changes() == 1) VS_RETURN_IF_ERROR(fresh.Bind(1, m.id).Run());
    }
    return AddEvent("error", "attach", "lvol", vol.id,
                    "attaching " + Quote(vol.name) + " to hsvr " + std::to_string(plan.head.id) +
                        " failed and was undone: " + why);
  });
}

Status Store::MarkAttachmentError(int64_t lvol_id, int64_t hsvr_id, const std::string& why) {
  return Mutate([&](Change*) {
    Stmt up(db_, "UPDATE attachment SET status = 2, event = 0 WHERE lvol_id = ?1 AND hsvr_id = ?2");
    VS_RETURN_IF_ERROR(up.Bind(1, lvol_id).Bind(2, hsvr_id).Run());
    VS_RETURN_IF_ERROR(SettleWrittenLegs(lvol_id));
    return AddEvent("error", "attachment", "lvol", lvol_id,
                    "state on hsvr " + std::to_string(hsvr_id) + " unknown (ERROR): " + why +
                        "; detach the volume to clear it");
  });
}

Status Store::BeginDetach(const VolumeRef& ref, DetachPlan* plan, bool rebuild_attachment) {
  return Mutate([&](Change* change) {
    VolumeInfo vol;
    VS_RETURN_IF_ERROR(ResolveVolume(ref, &vol));
    plan->agent = false;
    if (rebuild_attachment && !vol.rebuild_only) return Status::OK();
    if (vol.hsvr_id == 0 || vol.rebuild_only != rebuild_attachment) return Status::OK();
    VS_RETURN_IF_ERROR(CheckNotCopying(vol));
    if (vol.bind_event != kNoEvent) return Status::Error(EAGAIN, Quote(vol.name) + " is being attached or detached");
    VS_RETURN_IF_ERROR(LoadHeadAgent(vol.hsvr_id, &plan->head));
    if (plan->head.url.empty()) return RecordDetached(vol, change);
    plan->agent = true;
    plan->prior_status = vol.bind_status;
    VS_RETURN_IF_ERROR(LoadLayout(vol, &plan->layout));
    Stmt up(db_, "UPDATE attachment SET event = 2 WHERE lvol_id = ?1");
    return up.Bind(1, vol.id).Run();
  });
}

Status Store::FinishDetach(const DetachPlan& plan, const std::string& leftovers) {
  const VolumeInfo& vol = plan.layout.volume;
  return Mutate([&](Change* change) {
    VS_RETURN_IF_ERROR(RecordDetached(vol, change));
    if (leftovers.empty()) return Status::OK();
    return AddEvent("warning", "detach", "lvol", vol.id, "access not revoked everywhere" + leftovers);
  });
}

Status Store::RestoreBound(const DetachPlan& plan, const std::string& why) {
  const VolumeInfo& vol = plan.layout.volume;
  return Mutate([&](Change*) {
    Stmt up(db_, "UPDATE attachment SET status = ?2, event = 0 WHERE lvol_id = ?1 AND event = 2");
    VS_RETURN_IF_ERROR(up.Bind(1, vol.id).Bind(2, plan.prior_status).Run());
    return AddEvent("warning", "detach", "lvol", vol.id,
                    "detaching " + Quote(vol.name) + " from hsvr " + std::to_string(plan.head.id) +
                        " was refused; it stays " + (plan.prior_status == kBindError ? "ERROR" : "BOUND") + ": " + why);
  });
}

Status Store::ClearInterruptedTransitions() {
  return Mutate([&](Change*) {
    std::vector<std::pair<int64_t, int64_t>> binding, unbinding, resizing;  // (lvol, hsvr)
    {
      Stmt q(db_, "SELECT lvol_id, hsvr_id, event FROM attachment WHERE event != 0 ORDER BY lvol_id");
      while (q.Step())
        (q.Int(2) == kBinding ? binding : q.Int(2) == kResizing ? resizing : unbinding).emplace_back(q.Int(0), q.Int(1));
      VS_RETURN_IF_ERROR(q.status());
    }
    if (binding.empty() && unbinding.empty() && resizing.empty()) return Status::OK();
    // Nobody drives these any more, and what the agents did is unknown:
    // whatever was handed to a head may hold data.
    VS_RETURN_IF_ERROR(db_.Exec("UPDATE attachment SET status = 2, event = 0 WHERE event != 0"));
    VS_RETURN_IF_ERROR(SettleWrittenLegs(0));
    for (const auto& b : binding)
      VS_RETURN_IF_ERROR(AddEvent("error", "attach", "lvol", b.first,
                                  "the manager stopped while attaching it to hsvr " + std::to_string(b.second) +
                                      ": state unknown (ERROR); detach the volume to clear it"));
    for (const auto& u : unbinding)
      VS_RETURN_IF_ERROR(AddEvent("error", "detach", "lvol", u.first,
                                  "the manager stopped while detaching it from hsvr " + std::to_string(u.second) +
                                      ": state unknown (ERROR); detach the volume again to clear it"));
    // The new mirrors stay recorded: the head may be using them already.
    for (const auto& r : resizing)
      VS_RETURN_IF_ERROR(AddEvent("error", "resize", "lvol", r.first,
                                  "the manager stopped while growing it on hsvr " + std::to_string(r.second) +
                                      ": the head's state is unknown (ERROR); the volume keeps its new size; "
                                      "detach it to clear it, the next attach builds it whole"));
    return Status::OK();
  });
}

}  // namespace vastsky
