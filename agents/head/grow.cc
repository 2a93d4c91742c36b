// Assembly::Grow: new mirrors after an assembled volume's last one, then
// its dm-linear reloaded longer while it stays open (see assembly.h).
#include <cerrno>
#include <memory>

#include "agents/head/assembly.h"
#include "agents/head/assembly_internal.h"
#include "lib/ids.h"
#include "lib/log.h"

namespace vastsky {

using namespace assembly_internal;

namespace {

bool SameMirror(const MirrorSpec& a, const MirrorSpec& b) {
  return a.mirror_id == b.mirror_id && a.offset_gib == b.offset_gib && a.capacity_gib == b.capacity_gib;
}

}  // namespace

Status Assembly::Grow(const VolumeSpec& spec) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t lvol = spec.lvol_id;
  const std::string vol = VolumeDm(lvol);
  Record* rec;
  VS_RETURN_IF_ERROR(FindAssembled(lvol, &rec));
  VS_RETURN_IF_ERROR(RefuseFrozen(lvol, "grown"));
  VolumeSpec& have = rec->spec;
  if (spec.name != have.name)
    return Status::Error(EINVAL, FormatId("lvol", lvol) + " is '" + have.name + "' here, not '" + spec.name + "'");
  if (spec.mirrors.size() < have.mirrors.size())
    return Status::Error(EINVAL, FormatId("lvol", lvol) + " has " + std::to_string(have.mirrors.size()) +
                                     " mirrors here, the new layout fewer: a grow never shrinks");
  for (size_t i = 0; i < have.mirrors.size(); ++i)
    if (!SameMirror(have.mirrors[i], spec.mirrors[i]))
      return Status::Error(EINVAL, FormatId("lvol", lvol) + ": mirror " + std::to_string(i) + " (" +
                                       FormatId("mirr", have.mirrors[i].mirror_id) +
                                       ") is not the one assembled here; a grow only adds mirrors after the last");
  // Already this long: a repeat (or a grow that a restart re-assembled).
  if (spec.mirrors.size() == have.mirrors.size()) return Status::OK();

  // The new mirrors, built as an attach builds them; the sessions the
  // volume already uses are joined, never logged out by an undo.
  Record added{spec, rec->chap_user, rec->chap_secret};
  added.spec.mirrors.assign(spec.mirrors.begin() + static_cast<long>(have.mirrors.size()), spec.mirrors.end());
  auto ctx = std::make_shared<Context>();
  for (const MirrorSpec& m : have.mirrors)
    for (const LegSpec& l : m.legs)
      if (!l.missing()) ctx->keep_sessions.insert(l.pdsk_id);
  std::vector<Node> nodes = Nodes(added, /*attaching=*/true, ctx);
  nodes.pop_back();  // the link: it stays as it is

  // The volume node (after every new raid) reloads the longer table
  // instead of creating the device.
  std::vector<DmTarget> old_table;
  VS_RETURN_IF_ERROR(dm_->GetTable(vol, &old_table));
  const std::vector<DmTarget> table = VolumeTable(spec);
  // The mode is the attach's (the record's), whatever this call says.
  const DmAccess access = Access(have);
  DeviceMapper* dm = dm_;
  Node& top = nodes.back();
  top.name = "reload " + vol;
  top.up = [=] {
    Status st = dm->Replace(vol, table, access);
    if (!st.ok()) {
      // A load that went in but was not swapped still holds the new raids.
      Status back = dm->Replace(vol, old_table, access);
      if (!back.ok())
        VS_LOG_ERROR("%s: putting the old table back after a failed reload failed too: %s; check `dmsetup table "
                     "--inactive %s`", vol.c_str(), back.ToString().c_str(), vol.c_str());
    }
    return st;
  };
  top.down = [=] { return dm->Replace(vol, old_table, access); };
  Plan plan;
  for (const Node& n : nodes) plan.Add(n.name, n.deps, n.up, n.down);
  Status st = plan.Run();
  if (!st.ok()) {
    VS_LOG_ERROR("grow of %s ('%s') failed; it keeps its old size and nothing new is left: %s",
                 FormatId("lvol", lvol).c_str(), have.name.c_str(), st.ToString().c_str());
    return st;
  }

  for (MirrorSpec m : added.spec.mirrors) {
    MarkWritten(&m);
    have.mirrors.push_back(m);
  }
  st = SaveRecord(*rec);
  if (!st.ok())
    VS_LOG_ERROR("cannot record the grown %s: %s; after a reboot it would be re-assembled at its old size",
                 FormatId("lvol", lvol).c_str(), st.ToString().c_str());
  const MirrorSpec& last = have.mirrors.back();
  VS_LOG_INFO("grew %s ('%s') to %lld GiB: %zu new mirror(s), device reloaded in place", FormatId("lvol", lvol).c_str(),
              have.name.c_str(), static_cast<long long>(last.offset_gib + last.capacity_gib), added.spec.mirrors.size());
  return Status::OK();
}

}  // namespace vastsky
