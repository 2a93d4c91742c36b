// Store: logical volumes, snapshots and their attachment state.
#include <algorithm>
#include <cerrno>
#include <set>

#include "lib/ids.h"
#include "manager/credentials.h"
#include "manager/store.h"

namespace vastsky {

namespace {
std::string Quote(const std::string& s) { return "'" + s + "'"; }
}  // namespace

// Loads volumes (all when only_id is 0) with attachment, fault flag and
// snapshot associations, in a fixed number of queries whatever the count.
static Status QueryVolumes(Db& db, int64_t only_id, std::vector<VolumeInfo>* out) {
  std::map<int64_t, size_t> index;
  {
    Stmt q(db,
           "SELECT l.id, l.name, l.kind, ifnull(l.origin_id, 0), l.capacity_gib, l.redundancy, "
           "l.top_node, l.linear_node, l.ctime, ifnull(a.hsvr_id, 0), ifnull(a.status, 0), "
           "ifnull(a.event, 0), ifnull(a.rebuild_only, 0), ifnull(l.source_id, 0), l.state, l.tenant "
           "FROM lvol l LEFT JOIN attachment a ON a.lvol_id = l.id "
           "WHERE ?1 = 0 OR l.id = ?1 ORDER BY l.id");
    q.Bind(1, only_id);
    while (q.Step()) {
      VolumeInfo v;
      v.id = q.Int(0);
      v.name = q.Text(1);
      v.kind = static_cast<int>(q.Int(2));
      v.origin_id = q.Int(3);
      v.capacity_gib = q.Int(4);
      v.redundancy = static_cast<int>(q.Int(5));
      v.top_node = q.Int(6);
      v.linear_node = q.Int(7);
      v.ctime = q.Text(8);
      v.hsvr_id = q.Int(9);
      v.bind_status = static_cast<int>(q.Int(10));
      v.bind_event = static_cast<int>(q.Int(11));
      v.rebuild_only = q.Int(12) != 0;
      v.source_id = q.Int(13);
      v.state = static_cast<int>(q.Int(14));
      v.tenant = q.Text(15);
      index[v.id] = out->size();
      out->push_back(v);
    }
    VS_RETURN_IF_ERROR(q.status());
  }
  {
    // Snapshots name their origin, clones their source.
    Stmt q(db,
           "SELECT id, ifnull(origin_id, source_id), origin_id IS NOT NULL FROM lvol "
           "WHERE ifnull(origin_id, source_id) IS NOT NULL AND (?1 = 0 OR id = ?1 OR origin_id = ?1 OR source_id = ?1) "
           "ORDER BY id");
    q.Bind(1, only_id);
    while (q.Step()) {
      auto copy = index.find(q.Int(0)), source = index.find(q.Int(1));
      const char* type = q.Int(2) ? "snapshot" : "clone";
      if (source != index.end()) (*out)[source->second].associated_from.push_back({q.Int(0), type});
      if (copy != index.end()) (*out)[copy->second].associated_to.push_back({q.Int(1), type});
    }
    VS_RETURN_IF_ERROR(q.status());
  }
  // Degraded: a leg waiting for rebuild. Legs on a failed disk are always
  // SPARE (or already replaced), so the partial index answers this alone.
  Stmt q(db,
         "SELECT DISTINCT m.lvol_id FROM chunk c INDEXED BY chunk_spare JOIN mirror m ON m.id = c.mirror_id "
         "WHERE c.status = 3 AND (?1 = 0 OR m.lvol_id = ?1)");
  q.Bind(1, only_id);
  while (q.Step()) {
    auto it = index.find(q.Int(0));
    if (it != index.end()) (*out)[it->second].fault = true;
  }
  return q.status();
}

Status Store::LoadVolume(int64_t id, VolumeInfo* out) {
  std::vector<VolumeInfo> v;
  VS_RETURN_IF_ERROR(QueryVolumes(db_, id, &v));
  if (v.empty()) return Status::Error(ENOENT, "no volume " + FormatId("lvol", id));
  *out = v[0];
  return Status::OK();
}

Status Store::ResolveVolume(const VolumeRef& ref, VolumeInfo* out) {
  if (ref.id != 0) return LoadVolume(ref.id, out);
  Stmt q(db_, "SELECT id FROM lvol WHERE name = ?1");
  q.Bind(1, ref.name);
  if (!q.Step()) {
    VS_RETURN_IF_ERROR(q.status());
    return Status::Error(ENOENT, "no volume named " + Quote(ref.name));
  }
  return LoadVolume(q.Int(0), out);
}

Status Store::InsertMirror(const NewMirror& m) {
  Stmt insm(db_,
            "INSERT INTO mirror(id, lvol_id, idx, offset_gib, capacity_gib, written) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  VS_RETURN_IF_ERROR(insm.Bind(1, m.id).Bind(2, m.lvol_id).Bind(3, m.idx).Bind(4, m.offset_gib)
                         .Bind(5, m.capacity_gib).Bind(6, m.written ? 1 : 0).Run());
  Stmt insc(db_,
            "INSERT INTO chunk(id, mirror_id, pdsk_id, offset_mib, length_mib, status, slot, thin_id, created) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  for (size_t slot = 0; slot < m.legs.size(); ++slot) {
    const NewLeg& l = m.legs[slot];
    insc.Bind(1, l.id).Bind(2, m.id).Bind(3, l.pdsk_id).Bind(4, l.offset_mib).Bind(5, m.capacity_gib * 1024);
    insc.Bind(6, l.status).Bind(7, static_cast<int64_t>(slot)).Bind(8, l.thin_id).Bind(9, l.created ? 1 : 0);
    VS_RETURN_IF_ERROR(insc.Run());
  }
  return Status::OK();
}

Status Store::PlaceNewMirror(NewMirror* m, int redundancy, int64_t* next_id, Journal* journal) {
  std::vector<Placement> placed;
  Status st = alloc_.PlaceMirror(redundancy, m->capacity_gib * 1024 + kMetaMib, {}, journal, &placed);
  if (!st.ok())
    return Status::Error(st.code(), "mirror " + std::to_string(m->idx) + " (" + std::to_string(m->capacity_gib) +
                                        " GiB x " + std::to_string(redundancy) + "): " + st.message());
  for (const Placement& p : placed) {
    NewLeg leg;
    leg.id = (*next_id)++;
    leg.pdsk_id = p.pdsk_id;
    leg.offset_mib = p.offset;
    VS_RETURN_IF_ERROR(NextThinId(p.pdsk_id, &leg.thin_id));
    m->legs.push_back(leg);
  }
  return InsertMirror(*m);
}

Status Store::AllocateMirrors(int64_t lvol_id, int64_t from_gib, int64_t to_gib, int64_t first_idx, int redundancy,
                              int64_t first_id, Journal* journal) {
  int64_t next = first_id, offset = from_gib;
  for (int64_t idx = first_idx; offset < to_gib; ++idx) {
    NewMirror m;
    m.id = next++;
    m.lvol_id = lvol_id;
    m.idx = idx;
    m.offset_gib = offset;
    m.capacity_gib = std::min(chunk_gib_, to_gib - offset);
    VS_RETURN_IF_ERROR(PlaceNewMirror(&m, redundancy, &next, journal));
    offset += m.capacity_gib;
  }
  return Status::OK();
}

Status Store::FreeVolumeChunks(int64_t lvol_id, Journal* journal) {
  Stmt q(db_,
         "SELECT c.pdsk_id, c.offset_mib, c.length_mib, c.id, c.thin_id, m.written FROM chunk c "
         "JOIN mirror m ON m.id = c.mirror_id WHERE m.lvol_id = ?1");
  q.Bind(1, lvol_id);
  while (q.Step())
    VS_RETURN_IF_ERROR(DropLeg(LegExtent{q.Int(0), q.Int(1), q.Int(2), q.Int(3), q.Int(4), q.Int(5) != 0}, journal));
  return q.status();
}

Status Store::DeleteVolumeRows(const VolumeInfo& vol, Journal* journal) {
  VS_RETURN_IF_ERROR(FreeVolumeChunks(vol.id, journal));
  Stmt del(db_, "DELETE FROM lvol WHERE id = ?1");
  return del.Bind(1, vol.id).Run();
}

namespace {
int64_t MirrorCount(int64_t capacity_gib, int64_t chunk_gib) { return (capacity_gib + chunk_gib - 1) / chunk_gib; }

Status CheckVolumeArgs(const std::string& name, int64_t capacity_gib, int redundancy) {
  std::string why;
  if (!ValidVolumeName(name, &why)) return Status::Error(EINVAL, why);
  if (capacity_gib < 1 || capacity_gib > kMaxVolumeGib)
    return Status::Error(EINVAL, "capacity must be 1 to " + std::to_string(kMaxVolumeGib) + " GiB");
  if (redundancy < kMinRedundancy || redundancy > kMaxRedundancy)
    return Status::Error(EINVAL, "redundancy must be 2 to 9");
  return Status::OK();
}
}  // namespace

// Inserts the lvol row and its whole layout; all ids come from one block.
Status Store::CreateVolumeRows(const std::string& name, const std::string& tenant, int64_t capacity_gib,
                               int redundancy, Journal* journal, int64_t* id) {
  Stmt exists(db_, "SELECT 1 FROM lvol WHERE name = ?1");
  exists.Bind(1, name);
  if (exists.Step()) return Status::Error(EEXIST, "a volume named " + Quote(name) + " exists");
  VS_RETURN_IF_ERROR(exists.status());
  const int64_t mirrors = MirrorCount(capacity_gib, chunk_gib_);
  int64_t first;
  VS_RETURN_IF_ERROR(NextIds("lvol", 3 + mirrors * (1 + redundancy), &first));
  Stmt ins(db_,
           "INSERT INTO lvol(id, name, kind, capacity_gib, redundancy, top_node, linear_node, ctime, tenant) "
           "VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6, ?7, ?8)");
  ins.Bind(1, first).Bind(2, name).Bind(3, capacity_gib).Bind(4, redundancy);
  ins.Bind(5, first + 1).Bind(6, first + 2).Bind(7, NowIso8601()).Bind(8, tenant);
  VS_RETURN_IF_ERROR(ins.Run());
  VS_RETURN_IF_ERROR(AllocateMirrors(first, 0, capacity_gib, 0, redundancy, first + 3, journal));
  *id = first;
  return Status::OK();
}

Status Store::CreateLogicalVolume(const std::string& name, int64_t capacity_gib, int redundancy, int64_t* id,
                                  const std::string& tenant) {
  VS_RETURN_IF_ERROR(CheckVolumeArgs(name, capacity_gib, redundancy));
  if (!tenant.empty()) VS_RETURN_IF_ERROR(CheckTenantName(tenant));
  return Mutate([&](Change* change) {
    if (!tenant.empty()) {
      std::vector<int64_t> heads;
      VS_RETURN_IF_ERROR(TenantHeads(tenant, &heads));
    }
    VS_RETURN_IF_ERROR(CreateVolumeRows(name, tenant, capacity_gib, redundancy, &change->journal, id));
    return AddEvent("info", "create", "lvol", *id,
                    Quote(name) + " " + std::to_string(capacity_gib) + " GiB x" + std::to_string(redundancy) +
                        (tenant.empty() ? "" : ", tenant " + tenant));
  });
}

Status Store::DeleteLogicalVolume(const VolumeRef& ref) {
  return Mutate([&](Change* change) {
    VolumeInfo vol;
    VS_RETURN_IF_ERROR(ResolveVolume(ref, &vol));
    // Being made: its legs' agents may still be making them. ERROR may go.
    if (vol.state == kVolumeCreating) return Status::Error(EBUSY, Quote(vol.name) + " is still being made");
    VS_RETURN_IF_ERROR(CheckNotCopying(vol));
    if (vol.bind_event != kNoEvent) return Status::Error(EBUSY, Quote(vol.name) + " is being attached or detached");
    if (vol.hsvr_id != 0)
      return Status::Error(EBUSY, Quote(vol.name) + " is attached to hsvr " + std::to_string(vol.hsvr_id));
    // Its snapshots and clones live on (dm-thin keeps the blocks they share).
    Stmt orphan(db_, "UPDATE lvol SET origin_id = NULLIF(origin_id, ?1), source_id = NULLIF(source_id, ?1) "
                     "WHERE origin_id = ?1 OR source_id = ?1");
    VS_RETURN_IF_ERROR(orphan.Bind(1, vol.id).Run());
    VS_RETURN_IF_ERROR(DeleteVolumeRows(vol, &change->journal));
    return AddEvent("info", "delete", "lvol", vol.id, Quote(vol.name) + " deleted");
  });
}

Status Store::ListLogicalVolumes(const VolumeRef* ref, std::vector<VolumeInfo>* out) {
  if (!ref) return QueryVolumes(db_, 0, out);
  VolumeInfo vol;
  VS_RETURN_IF_ERROR(ResolveVolume(*ref, &vol));
  out->push_back(vol);
  return Status::OK();
}

Status Store::LoadLayout(const VolumeInfo& vol, VolumeLayout* out) {
  *out = VolumeLayout();  // a plan may be filled again: never mix two layouts
  out->volume = vol;
  std::map<int64_t, std::vector<std::string>> ips;
  {
    Stmt q(db_,
           "SELECT DISTINCT i.ssvr_id, i.ip, i.idx FROM ssvr_ip i JOIN pdsk p ON p.ssvr_id = i.ssvr_id "
           "JOIN chunk c ON c.pdsk_id = p.id JOIN mirror m ON m.id = c.mirror_id WHERE m.lvol_id = ?1 "
           "ORDER BY i.ssvr_id, i.idx");
    q.Bind(1, vol.id);
    while (q.Step()) ips[q.Int(0)].push_back(q.Text(1));
    VS_RETURN_IF_ERROR(q.status());
  }
  Stmt q(db_,
         "SELECT m.id, m.offset_gib, m.capacity_gib, c.id, c.pdsk_id, p.ssvr_id, c.offset_mib, c.length_mib, c.status, "
         "s.url, p.priority IN (1, 2, 3) AND s.priority IN (1, 2, 3), m.written, c.thin_id "
         "FROM mirror m JOIN chunk c ON c.mirror_id = m.id JOIN pdsk p ON p.id = c.pdsk_id "
         "JOIN ssvr s ON s.id = p.ssvr_id WHERE m.lvol_id = ?1 ORDER BY m.idx, c.slot");
  q.Bind(1, vol.id);
  while (q.Step()) {
    if (out->mirrors.empty() || out->mirrors.back().id != q.Int(0)) {
      MirrorInfo m;
      m.id = q.Int(0);
      m.offset_gib = q.Int(1);
      m.capacity_gib = q.Int(2);
      m.written = q.Int(11) != 0;
      out->mirrors.push_back(m);
    }
    ChunkInfo c;
    c.id = q.Int(3);
    c.pdsk_id = q.Int(4);
    c.ssvr_id = q.Int(5);
    c.offset_mib = q.Int(6);
    c.length_mib = q.Int(7);
    c.status = static_cast<int>(q.Int(8));
    c.ssvr_ips = ips[c.ssvr_id];
    c.ssvr_url = q.Text(9);
    c.reachable = q.Int(10) != 0;
    c.thin_id = q.Int(12);
    out->mirrors.back().chunks.push_back(c);
  }
  VS_RETURN_IF_ERROR(q.status());
  if (vol.kind == 1 && vol.origin_id != 0) {
    VolumeInfo origin;
    VS_RETURN_IF_ERROR(LoadVolume(vol.origin_id, &origin));
    out->origin_top_node = origin.top_node;
  }
  return Status::OK();
}

// Only showLogicalVolume's tree nests the snapshots' layouts: every plan
// (attach, rebuild, copy, family) wants the volume's own legs alone.
Status Store::ShowLogicalVolume(const VolumeRef& ref, VolumeLayout* out) {
  VolumeInfo vol;
  VS_RETURN_IF_ERROR(ResolveVolume(ref, &vol));
  VS_RETURN_IF_ERROR(LoadLayout(vol, out));
  for (const Association& a : vol.associated_from) {
    if (a.type != "snapshot") continue;  // 3.0's tree holds snapshots; clones are volumes of their own
    out->snapshots.emplace_back();
    VS_RETURN_IF_ERROR(ShowLogicalVolume(VolumeRef{a.lvol_id, ""}, &out->snapshots.back()));
  }
  return Status::OK();
}

}  // namespace vastsky
