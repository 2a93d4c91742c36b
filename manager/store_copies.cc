// Store: snapshots and clones, the records of what manager/copier.h drives.
//
// A copy's leg is a dm-thin snapshot of a source leg, so it must live in
// the same pool: it takes a slot on that very disk, a whole leg's worth,
// because either side may come to hold all its blocks alone (the pool can
// then never be promised more than it has, overcommit aside).
#include <cerrno>

#include "lib/ids.h"
#include "manager/store.h"

namespace vastsky {

namespace {
std::string Quote(const std::string& s) { return "'" + s + "'"; }

// A leg of one source mirror a copy is made from: in sync, on a live disk.
// One never created (3.0's state-only attach, no agent) holds nothing: its
// copy is a record too, created empty when first granted.
struct SourceLeg {
  int64_t chunk_id = 0, pdsk_id = 0, ssvr_id = 0, thin_id = 0;
  bool created = false;
  std::string url;
};
}  // namespace

Status Store::CheckNotCopying(const VolumeInfo& vol) const {
  if (copying_.count(vol.id)) return Status::Error(EBUSY, "a snapshot or clone of " + Quote(vol.name) + " is being made");
  return Status::OK();
}

Status Store::CheckSettled(const VolumeInfo& vol) const {
  if (vol.state == kVolumeCreating) return Status::Error(EBUSY, Quote(vol.name) + " is still being made");
  if (vol.state == kVolumeError)
    return Status::Error(EBUSY, Quote(vol.name) + " is in ERROR (its making was interrupted): delete it");
  return CheckNotCopying(vol);
}

Status Store::CheckCopySource(const VolumeInfo& src) const {
  VS_RETURN_IF_ERROR(CheckSettled(src));
  if (src.bind_event != kNoEvent || src.bind_status == kBindError)
    return Status::Error(EBUSY, Quote(src.name) + " is being attached, detached or grown, or in error");
  return Status::OK();
}

// The legs a written mirror's copy is made from: `redundancy` of its
// in-sync legs, those on draining disks last (they are moving away).
static Status PickSourceLegs(Db& db, const MirrorInfo& m, int redundancy, std::vector<SourceLeg>* out) {
  Stmt q(db,
         "SELECT c.id, c.pdsk_id, p.ssvr_id, c.thin_id, c.created, s.url FROM chunk c JOIN pdsk p ON p.id = c.pdsk_id "
         "JOIN ssvr s ON s.id = p.ssvr_id WHERE c.mirror_id = ?1 AND c.status = 2 "
         "AND p.priority IN (1, 2, 3) AND s.priority IN (1, 2, 3) ORDER BY p.priority = 3, c.slot");
  q.Bind(1, m.id);
  while (q.Step() && static_cast<int>(out->size()) < redundancy)
    out->push_back({q.Int(0), q.Int(1), q.Int(2), q.Int(3), q.Int(4) != 0, q.Text(5)});
  VS_RETURN_IF_ERROR(q.status());
  if (static_cast<int>(out->size()) < redundancy)
    return Status::Error(EBUSY, "mirror " + std::to_string(m.id) + " has " + std::to_string(out->size()) + " of its " +
                                    std::to_string(redundancy) + " copies in sync on live disks: retry once it is rebuilt");
  for (const SourceLeg& l : *out)
    if (l.created && l.url.empty())
      return Status::Error(ENXIO, FormatId("ssvr", l.ssvr_id) + " has no agent url: its legs cannot be snapshotted");
  return Status::OK();
}

// One copied mirror: a leg beside each source leg, same disk, a new thin
// made by snapshotLegs; recorded in sync and created (the agent may make
// it from now on, so dropping it must go through its agent).
Status Store::CopyMirror(const MirrorInfo& src, int redundancy, NewMirror* m, int64_t* next_id, Journal* journal,
                         std::map<int64_t, CopyPlan::Disk>* disks) {
  std::vector<SourceLeg> legs;
  VS_RETURN_IF_ERROR(PickSourceLegs(db_, src, redundancy, &legs));
  m->written = true;
  for (const SourceLeg& s : legs) {
    Placement p;
    Status st = alloc_.PlaceOn(s.pdsk_id, m->capacity_gib * 1024 + kMetaMib, journal, &p);
    if (!st.ok()) return Status::Error(st.code(), "the copy of mirror " + std::to_string(src.id) + ": " + st.message());
    NewLeg leg;
    leg.id = (*next_id)++;
    leg.pdsk_id = s.pdsk_id;
    leg.offset_mib = p.offset;
    leg.status = kInsync;
    leg.created = s.created;
    VS_RETURN_IF_ERROR(NextThinId(s.pdsk_id, &leg.thin_id));
    m->legs.push_back(leg);
    if (!s.created) continue;
    CopyPlan::Disk& d = (*disks)[s.pdsk_id];
    d.pdsk_id = s.pdsk_id;
    d.ssvr_id = s.ssvr_id;
    d.url = s.url;
    d.legs.push_back({leg.id, leg.thin_id, s.thin_id, kMetaMib + m->capacity_gib * 1024});
  }
  return InsertMirror(*m);
}

Status Store::InsertCopyRows(const VolumeLayout& src, const std::string& name, bool snapshot, Journal* journal,
                             CopyPlan* plan) {
  const VolumeInfo& s = src.volume;
  int64_t count = 3;
  for (const MirrorInfo& m : src.mirrors) count += 1 + std::max<int64_t>(s.redundancy, m.chunks.size());
  int64_t first;
  VS_RETURN_IF_ERROR(NextIds("lvol", count, &first));
  Stmt ins(db_,
           "INSERT INTO lvol(id, name, kind, origin_id, source_id, capacity_gib, redundancy, top_node, linear_node, "
           "ctime, state, tenant) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, ?11)");
  ins.Bind(1, first).Bind(2, name).Bind(3, snapshot ? 1 : 0).Bind(6, s.capacity_gib).Bind(7, s.redundancy);
  if (snapshot) ins.Bind(4, s.id).BindNull(5);
  else ins.BindNull(4).Bind(5, s.id);
  VS_RETURN_IF_ERROR(ins.Bind(8, first + 1).Bind(9, first + 2).Bind(10, NowIso8601()).Bind(11, s.tenant).Run());
  int64_t next = first + 3;
  std::map<int64_t, CopyPlan::Disk> disks;
  for (const MirrorInfo& sm : src.mirrors) {
    NewMirror m;
    m.id = next++;
    m.lvol_id = first;
    m.idx = static_cast<int64_t>(&sm - &src.mirrors[0]);
    m.offset_gib = sm.offset_gib;
    m.capacity_gib = sm.capacity_gib;
    // A mirror never handed to a head holds only zeros: new legs anywhere.
    VS_RETURN_IF_ERROR(sm.written ? CopyMirror(sm, s.redundancy, &m, &next, journal, &disks)
                                  : PlaceNewMirror(&m, s.redundancy, &next, journal));
  }
  for (auto& d : disks) plan->disks.push_back(d.second);
  VolumeInfo copy;
  VS_RETURN_IF_ERROR(LoadVolume(first, &copy));
  return LoadLayout(copy, &plan->copy);
}

Status Store::PrepareCopy(const VolumeInfo& src, const std::string& name, bool snapshot, Change* change,
                          CopyPlan* plan) {
  plan->source = src;
  if (snapshot && src.kind != 0) return Status::Error(EINVAL, Quote(src.name) + " is itself a snapshot");
  VS_RETURN_IF_ERROR(CheckCopySource(src));
  Stmt exists(db_, "SELECT 1 FROM lvol WHERE name = ?1");
  exists.Bind(1, name);
  if (exists.Step()) return Status::Error(EEXIST, "a volume named " + Quote(name) + " exists");
  VS_RETURN_IF_ERROR(exists.status());
  VolumeLayout layout;
  VS_RETURN_IF_ERROR(LoadLayout(src, &layout));
  VS_RETURN_IF_ERROR(InsertCopyRows(layout, name, snapshot, &change->journal, plan));
  if (src.hsvr_id != 0) {
    VS_RETURN_IF_ERROR(LoadHeadAgent(src.hsvr_id, &plan->head));
    plan->freeze = !plan->head.url.empty();
  }
  return Status::OK();
}

Status Store::BeginCopy(const VolumeRef& source, const std::string& name, bool snapshot, CopyPlan* plan) {
  std::string why;
  if (!ValidVolumeName(name, &why)) return Status::Error(EINVAL, why);
  *plan = CopyPlan();
  VS_RETURN_IF_ERROR(Mutate([&](Change* change) {
    VolumeInfo src;
    VS_RETURN_IF_ERROR(ResolveVolume(source, &src));
    return PrepareCopy(src, name, snapshot, change, plan);
  }));
  copying_.insert(plan->source.id);
  return Status::OK();
}

Status Store::FinishCopy(const CopyPlan& plan, int64_t paused_ms) {
  copying_.erase(plan.source.id);
  const VolumeInfo& copy = plan.copy.volume;
  return Mutate([&](Change*) {
    Stmt up(db_, "UPDATE lvol SET state = 0 WHERE id = ?1 AND state = 1");
    VS_RETURN_IF_ERROR(up.Bind(1, copy.id).Run());
    std::string msg = Quote(copy.name) + (copy.kind == 1 ? " is a snapshot of " : " is a clone of ") +
                      Quote(plan.source.name);
    if (plan.freeze)
      msg += "; its I/O paused " + std::to_string(paused_ms) + " ms on " + FormatId("hsvr", plan.head.id);
    return AddEvent("info", copy.kind == 1 ? "snapshot" : "clone", "lvol", copy.id, msg);
  });
}

Status Store::AbortCopy(const CopyPlan& plan, const std::string& why, bool unknown) {
  copying_.erase(plan.source.id);
  copying_.erase(plan.reverting);
  const VolumeInfo& copy = plan.copy.volume;
  const char* type = copy.kind == 1 ? "snapshot" : "clone";
  return Mutate([&](Change* change) {
    if (unknown) {
      Stmt up(db_, "UPDATE lvol SET state = 2 WHERE id = ?1");
      VS_RETURN_IF_ERROR(up.Bind(1, copy.id).Run());
      return AddEvent("error", type, "lvol", copy.id,
                      Quote(copy.name) + " (of " + Quote(plan.source.name) + ") may be incomplete: " + why +
                          "; it is ERROR: delete it and take it again");
    }
    // Its legs are doomed (their agents delete whatever was made).
    VS_RETURN_IF_ERROR(DeleteVolumeRows(copy, &change->journal));
    return AddEvent("warning", type, "lvol", plan.source.id,
                    std::string("the ") + type + " " + Quote(copy.name) + " of " + Quote(plan.source.name) +
                        " failed and was removed: " + why);
  });
}

Status Store::ClearInterruptedCopies() {
  return Mutate([&](Change*) {
    std::vector<int64_t> ids;
    Stmt q(db_, "SELECT id FROM lvol WHERE state = 1");
    while (q.Step()) ids.push_back(q.Int(0));
    VS_RETURN_IF_ERROR(q.status());
    for (int64_t id : ids) {
      Stmt up(db_, "UPDATE lvol SET state = 2 WHERE id = ?1");
      VS_RETURN_IF_ERROR(up.Bind(1, id).Run());
      VS_RETURN_IF_ERROR(AddEvent("error", "snapshot", "lvol", id,
                                  "the manager stopped while making this snapshot or clone: it may be incomplete "
                                  "(ERROR); delete it and take it again"));
    }
    return Status::OK();
  });
}

Status Store::ChangedBlockLegs(const VolumeRef& lvol, const VolumeRef& base, VolumeLayout* lvol_layout,
                               VolumeLayout* base_layout) {
  VolumeInfo a, b;
  VS_RETURN_IF_ERROR(ResolveVolume(lvol, &a));
  VS_RETURN_IF_ERROR(ResolveVolume(base, &b));
  if (b.kind != 1) return Status::Error(EINVAL, Quote(b.name) + " is not a snapshot: changes are listed from a snapshot");
  if (a.id == b.id) return Status::Error(EINVAL, "a volume and its base must differ");
  for (const VolumeInfo* v : {&a, &b})
    if (v->state != kVolumeReady) return Status::Error(EBUSY, Quote(v->name) + " is being made or in ERROR");
  VS_RETURN_IF_ERROR(LoadLayout(a, lvol_layout));
  return LoadLayout(b, base_layout);
}

}  // namespace vastsky
