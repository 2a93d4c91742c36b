// Store::VolumeFamily: a volume's snapshots and clones, and theirs, from the
// root the volume descends from.
#include <cerrno>
#include <set>

#include "lib/ids.h"
#include "manager/store.h"

namespace vastsky {

namespace {
// A family is a tree by construction; a loop would mean a damaged database,
// so it is refused rather than walked forever.
Status Looped(int64_t id) {
  return Status::Error(EIO, "the database links " + FormatId("lvol", id) + " into its own family: run an integrity check");
}
}  // namespace

Status Store::VolumeFamily(const VolumeRef& ref, std::vector<VolumeLayout>* out) {
  out->clear();
  VolumeInfo root;
  VS_RETURN_IF_ERROR(ResolveVolume(ref, &root));
  std::set<int64_t> seen{root.id};
  while (!root.associated_to.empty()) {
    const int64_t up = root.associated_to[0].lvol_id;
    if (!seen.insert(up).second) return Looped(up);
    VS_RETURN_IF_ERROR(LoadVolume(up, &root));
  }
  // Depth-first: associated_from comes ordered by id.
  std::vector<VolumeInfo> stack{root};
  seen = {};
  while (!stack.empty()) {
    VolumeInfo vol = stack.back();
    stack.pop_back();
    if (!seen.insert(vol.id).second) return Looped(vol.id);
    out->emplace_back();
    VS_RETURN_IF_ERROR(LoadLayout(vol, &out->back()));
    for (auto a = vol.associated_from.rbegin(); a != vol.associated_from.rend(); ++a) {
      VolumeInfo below;
      VS_RETURN_IF_ERROR(LoadVolume(a->lvol_id, &below));
      stack.push_back(below);
    }
  }
  return Status::OK();
}

}  // namespace vastsky
