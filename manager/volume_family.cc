#include "manager/volume_family.h"

#include <future>
#include <utility>

#include "lib/ids.h"
#include "lib/log.h"

namespace vastsky {

namespace {

const char* KindOf(const VolumeInfo& v) {
  if (v.kind == 1) return "snapshot";
  return v.source_id != 0 ? "clone" : "volume";
}

// A leg's disk can be asked: up, with an agent.
bool Askable(const ChunkInfo& c) { return c.reachable && !c.ssvr_url.empty(); }

struct Disk {
  int64_t pdsk_id = 0, ssvr_id = 0;
  std::string url;
};

// Every disk holding a leg of the family that can be asked, once each.
std::vector<Disk> DisksToAsk(const std::vector<VolumeLayout>& family) {
  std::map<int64_t, Disk> disks;
  for (const VolumeLayout& v : family)
    for (const MirrorInfo& m : v.mirrors)
      for (const ChunkInfo& c : m.chunks)
        if (Askable(c)) disks.emplace(c.pdsk_id, Disk{c.pdsk_id, c.ssvr_id, c.ssvr_url});
  std::vector<Disk> out;
  for (auto& d : disks) out.push_back(std::move(d.second));
  return out;
}

// legUsage of every disk at once (each is a quick call); a disk that fails
// is left out of the answer, with a warning saying whose agent to look at.
DiskThins AskDisks(StorageAgentClient* storage, const std::vector<Disk>& disks) {
  std::vector<std::future<std::pair<Status, std::vector<ThinSpace>>>> calls;
  for (const Disk& d : disks)
    calls.push_back(std::async(std::launch::async, [storage, &d] {
      std::vector<ThinSpace> thins;
      Status st = storage->LegUsage(d.url, d.pdsk_id, &thins);
      return std::make_pair(st, std::move(thins));
    }));
  DiskThins usage;
  for (size_t i = 0; i < calls.size(); ++i) {
    auto answer = calls[i].get();
    const Disk& d = disks[i];
    if (answer.first.ok()) {
      usage[d.pdsk_id] = std::move(answer.second);
      continue;
    }
    VS_LOG_WARN("space of the legs on %s not reported: legUsage on the storage agent of %s (%s): %s",
                FormatId("pdsk", d.pdsk_id).c_str(), FormatId("ssvr", d.ssvr_id).c_str(), d.url.c_str(),
                answer.first.ToString().c_str());
  }
  return usage;
}

void AddLeg(const ChunkInfo& c, const DiskThins& usage, FamilyMember* m) {
  auto disk = usage.find(c.pdsk_id);
  if (!Askable(c) || disk == usage.end()) {
    ++m->legs_unreported;
    return;
  }
  for (const ThinSpace& t : disk->second)
    if (t.thin_id == c.thin_id) {
      m->mapped_mib += t.mapped_mib;
      m->exclusive_mib += t.exclusive_mib;
      return;
    }
}

}  // namespace

std::vector<FamilyMember> SumFamily(const std::vector<VolumeLayout>& family, const DiskThins& usage) {
  std::vector<FamilyMember> out;
  for (const VolumeLayout& v : family) {
    FamilyMember m;
    m.lvol_id = v.volume.id;
    m.name = v.volume.name;
    m.tenant = v.volume.tenant;
    m.kind = KindOf(v.volume);
    m.source_id = v.volume.kind == 1 ? v.volume.origin_id : v.volume.source_id;
    m.capacity_gib = v.volume.capacity_gib;
    for (const MirrorInfo& mirror : v.mirrors)
      for (const ChunkInfo& c : mirror.chunks) AddLeg(c, usage, &m);
    out.push_back(std::move(m));
  }
  return out;
}

Status GetVolumeFamily(Store* store, const Attacher::Locked& locked, StorageAgentClient* storage,
                       const VolumeRef& ref, std::vector<FamilyMember>* out) {
  std::vector<VolumeLayout> family;
  VS_RETURN_IF_ERROR(locked([&] { return store->VolumeFamily(ref, &family); }));
  *out = SumFamily(family, AskDisks(storage, DisksToAsk(family)));
  return Status::OK();
}

}  // namespace vastsky
