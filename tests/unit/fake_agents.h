// FakeAgents: the storage and head agents as the manager's logic sees them
// (manager/agent_clients.h), in memory. ACLs, the chunks each initiator is
// mapped, thin devices and assembled volumes are kept per agent URL (a
// grant naming a leg whose device is missing without `create` is ENOENT,
// as the agent answers), every call is recorded, an agent can be made to fail every
// call with an errno (ETIMEDOUT: a hung agent), and grants can be held in
// flight until released (a slow storage agent); legMap, legDelta and legUsage
// answer what a test set (SetLegMap, SetLegDelta, SetLegUsage); snapshotLegs makes thins beside
// existing ones (ENOENT without the origin thin); a head's freezes are
// kept, and a thaw answers what a test set (SetThaw). Thread-safe.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "manager/agent_clients.h"

namespace vastsky {

class FakeAgents : public StorageAgentClient, public HeadAgentClient {
 public:
  // Every later call to url fails with code (0: the agent answers again).
  void Fail(const std::string& url, int code) {
    std::lock_guard<std::mutex> lock(mu_);
    failing_[url] = code;
  }
  // While held, AllowInitiator calls wait (counted in grants_waiting()).
  void HoldGrants(bool hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_grants_ = hold;
    cv_.notify_all();
  }
  int grants_waiting() {
    std::lock_guard<std::mutex> lock(mu_);
    return grants_waiting_;
  }
  // The initiators allowed on each disk, over every storage agent.
  std::map<int64_t, std::set<std::string>> Acls() {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<int64_t, std::set<std::string>> out;
    for (const auto& agent : acls_)
      for (const auto& disk : agent.second)
        if (!disk.second.empty()) out[disk.first] = disk.second;
    return out;
  }
  std::set<int64_t> VolumesOn(const std::string& head_url) {
    std::lock_guard<std::mutex> lock(mu_);
    std::set<int64_t> out;
    for (const auto& v : volumes_[head_url]) out.insert(v.first);
    return out;
  }
  // "<method> <url>" for every call, in order.
  std::vector<std::string> Calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  // An ACL the manager did not grant (made by hand, or restored by an
  // agent that restarted).
  void Allow(const std::string& url, int64_t pdsk, const std::string& initiator) {
    std::lock_guard<std::mutex> lock(mu_);
    acls_[url][pdsk].insert(initiator);
  }

  // The chunks mapped to an initiator on a disk (over every agent).
  std::set<int64_t> Mapped(int64_t pdsk, const std::string& initiator) {
    std::lock_guard<std::mutex> lock(mu_);
    std::set<int64_t> out;
    for (const auto& agent : maps_) {
      auto d = agent.second.find(pdsk);
      if (d == agent.second.end()) continue;
      auto i = d->second.find(initiator);
      if (i != d->second.end()) out.insert(i->second.begin(), i->second.end());
    }
    return out;
  }
  // The thin ids of the devices in a disk's pool (over every agent).
  std::set<int64_t> ThinIds(int64_t pdsk) {
    std::lock_guard<std::mutex> lock(mu_);
    std::set<int64_t> out;
    for (const auto& agent : thins_) {
      auto d = agent.second.find(pdsk);
      if (d != agent.second.end())
        for (const auto& t : d->second) out.insert(t.second.thin_id);
    }
    return out;
  }
  // A thin device the manager does not know (an agent's leftover), or a
  // mapping beyond the grant.
  void AddThin(const std::string& url, int64_t pdsk, const LegGrant& leg) {
    std::lock_guard<std::mutex> lock(mu_);
    thins_[url][pdsk][leg.chunk_id] = leg;
  }
  void Map(const std::string& url, int64_t pdsk, const std::string& initiator, int64_t chunk) {
    std::lock_guard<std::mutex> lock(mu_);
    maps_[url][pdsk][initiator].insert(chunk);
  }

  Status AllowInitiator(const std::string& url, const std::string&, int64_t pdsk_id, const HeadAgentInfo& head,
                        const std::vector<LegGrant>& legs) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++grants_waiting_;
    cv_.wait(lock, [this] { return !hold_grants_; });
    --grants_waiting_;
    VS_RETURN_IF_ERROR(Enter(url, "allowInitiator"));
    std::map<int64_t, LegGrant>& thins = thins_[url][pdsk_id];
    for (const LegGrant& l : legs)
      if (!l.create && !thins.count(l.chunk_id))
        return Status::Error(ENOENT, "no thin device for leg " + std::to_string(l.chunk_id) + " (fake)");
    std::set<int64_t>& mapped = maps_[url][pdsk_id][head.initiator];
    mapped.clear();
    for (const LegGrant& l : legs) {
      if (!thins.count(l.chunk_id)) thins[l.chunk_id] = l;
      mapped.insert(l.chunk_id);
    }
    acls_[url][pdsk_id].insert(head.initiator);
    return Status::OK();
  }
  Status RevokeInitiator(const std::string& url, const std::string&, int64_t pdsk_id,
                         const std::string& initiator) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Enter(url, "revokeInitiator"));
    acls_[url][pdsk_id].erase(initiator);
    maps_[url][pdsk_id].erase(initiator);
    return Status::OK();
  }
  Status DeleteLegs(const std::string& url, const std::string&, int64_t pdsk_id,
                    const std::vector<LegRef>& legs) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Enter(url, "deleteLegs"));
    for (const LegRef& l : legs) {
      thins_[url][pdsk_id].erase(l.chunk_id);
      for (auto& m : maps_[url][pdsk_id]) m.second.erase(l.chunk_id);
    }
    return Status::OK();
  }
  Status ListExports(const std::string& url, std::vector<ExportAcl>* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Enter(url, "listExports"));
    std::set<int64_t> disks;
    for (const auto& d : acls_[url]) disks.insert(d.first);
    for (const auto& d : thins_[url]) disks.insert(d.first);
    for (int64_t pdsk : disks) {
      ExportAcl e;
      e.pdsk_id = pdsk;
      const std::set<std::string>& acl = acls_[url][pdsk];
      e.initiators.assign(acl.begin(), acl.end());
      for (const auto& m : maps_[url][pdsk]) e.maps[m.first].assign(m.second.begin(), m.second.end());
      for (const auto& t : thins_[url][pdsk]) e.legs.push_back(t.second);
      out->push_back(e);
    }
    return Status::OK();
  }
  // What legMap answers for a thin device of a disk at url; a device
  // with no map set is ENOENT (no such thin), as the agent answers.
  void SetLegMap(const std::string& url, int64_t pdsk, int64_t thin_id, const LegBlocks& map) {
    std::lock_guard<std::mutex> lock(mu_);
    leg_maps_[url][{pdsk, thin_id}] = map;
  }
  Status LegMap(const std::string& url, int64_t pdsk_id, int64_t thin_id, LegBlocks* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Enter(url, "legMap"));
    auto m = leg_maps_[url].find({pdsk_id, thin_id});
    if (m == leg_maps_[url].end())
      return Status::Error(ENOENT, "no thin device " + std::to_string(thin_id) + " (fake)");
    *out = m->second;
    return Status::OK();
  }
  Status SnapshotLegs(const std::string& url, const std::string&, int64_t pdsk_id,
                      const std::vector<LegCopy>& legs) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Enter(url, "snapshotLegs"));
    std::map<int64_t, LegGrant>& thins = thins_[url][pdsk_id];
    for (const LegCopy& l : legs) {
      bool origin = false;
      for (const auto& t : thins) origin = origin || t.second.thin_id == l.origin_thin_id;
      if (!origin) return Status::Error(ENOENT, "no origin thin " + std::to_string(l.origin_thin_id) + " (fake)");
      thins[l.chunk_id] = LegGrant{l.chunk_id, l.thin_id, l.size_mib, false};
      snapshots_[{pdsk_id, l.thin_id}] = l.origin_thin_id;
    }
    return Status::OK();
  }
  // The thin a snapshot thin was made from (0: none).
  int64_t SnapshotOrigin(int64_t pdsk, int64_t thin_id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = snapshots_.find({pdsk, thin_id});
    return it == snapshots_.end() ? 0 : it->second;
  }
  // What legDelta answers for (thin, base) of a disk; unset: ENOENT.
  void SetLegDelta(int64_t pdsk, int64_t thin_id, int64_t base_thin_id, const LegBlocks& delta) {
    std::lock_guard<std::mutex> lock(mu_);
    deltas_[{pdsk, thin_id, base_thin_id}] = delta;
  }
  Status LegDelta(const std::string& url, int64_t pdsk_id, int64_t thin_id, int64_t base_thin_id,
                  LegBlocks* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Enter(url, "legDelta"));
    auto d = deltas_.find({pdsk_id, thin_id, base_thin_id});
    if (d == deltas_.end()) return Status::Error(ENOENT, "no delta set (fake)");
    *out = d->second;
    return Status::OK();
  }
  // What legUsage answers for a disk at url; unset: ENOENT (pool not open).
  void SetLegUsage(const std::string& url, int64_t pdsk, const std::vector<ThinSpace>& thins) {
    std::lock_guard<std::mutex> lock(mu_);
    usage_[url][pdsk] = thins;
  }
  Status LegUsage(const std::string& url, int64_t pdsk_id, std::vector<ThinSpace>* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Enter(url, "legUsage"));
    auto u = usage_[url].find(pdsk_id);
    if (u == usage_[url].end()) return Status::Error(ENOENT, "no pool usage set (fake)");
    *out = u->second;
    return Status::OK();
  }
  // What repairPool answers for a disk (OK unless set); while repairs are
  // held, calls wait (counted in repairs_waiting()).
  void SetRepair(int64_t pdsk, Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    repair_result_[pdsk] = st;
  }
  void HoldRepairs(bool hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_repairs_ = hold;
    cv_.notify_all();
  }
  std::vector<StaleLeg> StaleOf(int64_t pdsk) {
    std::lock_guard<std::mutex> lock(mu_);
    return stale_[pdsk];
  }
  int repairs_waiting() {
    std::lock_guard<std::mutex> lock(mu_);
    return repairs_waiting_;
  }
  Status RepairPool(const std::string& url, const std::string&, int64_t pdsk_id,
                    const std::vector<StaleLeg>& stale) override {
    std::unique_lock<std::mutex> lock(mu_);
    stale_[pdsk_id] = stale;
    ++repairs_waiting_;
    cv_.wait(lock, [this] { return !hold_repairs_; });
    --repairs_waiting_;
    VS_RETURN_IF_ERROR(Enter(url, "repairPool"));
    return repair_result_[pdsk_id];
  }
  Status AttachVolume(const std::string& url, const std::string&, const VolumeLayout& layout, const HeadAgentInfo&,
                      std::string* device) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Enter(url, "attachLogicalVolume"));
    volumes_[url][layout.volume.id] = layout;
    *device = "/dev/vastsky/" + layout.volume.name;
    return Status::OK();
  }
  Status DetachVolume(const std::string& url, const std::string&, int64_t lvol_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Enter(url, "detachLogicalVolume"));
    volumes_[url].erase(lvol_id);
    return Status::OK();
  }
  Status GrowVolume(const std::string& url, const std::string&, const VolumeLayout& layout) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Enter(url, "growLogicalVolume"));
    volumes_[url][layout.volume.id] = layout;
    return Status::OK();
  }
  Status RebuildMirror(const std::string& url, const std::string&, const VolumeLayout& layout, int64_t, int64_t,
                       int64_t) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Enter(url, "rebuildMirror"));
    volumes_[url][layout.volume.id] = layout;
    return Status::OK();
  }
  Status SetRebuildRate(const std::string& url, int64_t) override {
    std::lock_guard<std::mutex> lock(mu_);
    return Enter(url, "setRebuildRate");
  }
  Status FreezeVolume(const std::string& url, const std::string&, int64_t lvol_id, int64_t) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Enter(url, "freezeVolume"));
    if (!volumes_[url].count(lvol_id)) return Status::Error(ENOENT, "not assembled (fake)");
    if (!frozen_[url].insert(lvol_id).second) return Status::Error(EBUSY, "frozen already (fake)");
    return Status::OK();
  }
  // The next thaws answer code (ETIME: the head had thawed by itself).
  void SetThaw(int code) {
    std::lock_guard<std::mutex> lock(mu_);
    thaw_code_ = code;
  }
  bool Frozen(const std::string& url, int64_t lvol_id) {
    std::lock_guard<std::mutex> lock(mu_);
    return frozen_[url].count(lvol_id) != 0;
  }
  Status ThawVolume(const std::string& url, const std::string&, int64_t lvol_id, int64_t* paused_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Enter(url, "thawVolume"));
    if (!frozen_[url].erase(lvol_id)) return Status::Error(ENOENT, "not frozen (fake)");
    if (thaw_code_) return Status::Error(thaw_code_, "thaw failed (fake)");
    *paused_ms = 7;
    return Status::OK();
  }
  // What listVolumes says of one mirror from now on, e.g. a recovery
  // half done: ("Aa", "1024/2048", "recover").
  void SetMirrorState(int64_t mirror_id, const std::string& health, const std::string& sync,
                      const std::string& action) {
    std::lock_guard<std::mutex> lock(mu_);
    mirror_states_[mirror_id] = {mirror_id, health, sync, action};
  }
  // Every mirror of the head's volumes is in sync, unless SetMirrorState
  // said otherwise.
  Status ListVolumes(const std::string& url, std::vector<HeadVolumeState>* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(Enter(url, "listVolumes"));
    for (const auto& v : volumes_[url]) {
      HeadVolumeState s{v.first, {}};
      for (const MirrorInfo& m : v.second.mirrors) {
        auto set = mirror_states_.find(m.id);
        s.mirrors.push_back(set != mirror_states_.end()
                                ? set->second
                                : HeadMirrorState{m.id, std::string(m.chunks.size(), 'A'), "1/1", "idle"});
      }
      out->push_back(s);
    }
    return Status::OK();
  }

 private:
  // Records the call; the agent's programmed failure, if any (under mu_).
  Status Enter(const std::string& url, const char* method) {
    calls_.push_back(std::string(method) + " " + url);
    auto f = failing_.find(url);
    if (f == failing_.end() || f->second == 0) return Status::OK();
    return Status::Error(f->second, url + ": " + method + " failed (fake)");
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, HeadMirrorState> mirror_states_;
  bool hold_grants_ = false, hold_repairs_ = false;
  int grants_waiting_ = 0, repairs_waiting_ = 0;
  std::map<int64_t, Status> repair_result_;
  std::map<int64_t, std::vector<StaleLeg>> stale_;  // pdsk -> the last repairPool's stale legs
  std::map<std::string, int> failing_;
  std::map<std::string, std::map<int64_t, std::set<std::string>>> acls_;
  // url -> pdsk -> initiator -> mapped chunks; url -> pdsk -> chunk -> thin device
  std::map<std::string, std::map<int64_t, std::map<std::string, std::set<int64_t>>>> maps_;
  std::map<std::string, std::map<int64_t, std::map<int64_t, LegGrant>>> thins_;
  std::map<std::string, std::map<int64_t, VolumeLayout>> volumes_;
  std::map<std::string, std::map<std::pair<int64_t, int64_t>, LegBlocks>> leg_maps_;  // url -> (pdsk, thin id)
  std::map<std::pair<int64_t, int64_t>, int64_t> snapshots_;  // (pdsk, thin) -> origin thin
  std::map<std::tuple<int64_t, int64_t, int64_t>, LegBlocks> deltas_;  // (pdsk, thin, base)
  std::map<std::string, std::map<int64_t, std::vector<ThinSpace>>> usage_;  // url -> pdsk -> thins
  std::map<std::string, std::set<int64_t>> frozen_;  // head url -> frozen volumes
  int thaw_code_ = 0;
  std::vector<std::string> calls_;
};

}  // namespace vastsky
