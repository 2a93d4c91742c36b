#include "manager/allocator.h"

#include "manager/rebuild_scheduler.h"

#include <algorithm>
#include <cerrno>

#include "lib/log.h"

namespace vastsky {

namespace {
// splitmix64's finaliser: a fixed, well-spread hash of the disk id.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

void Allocator::AddDisk(const DiskSpec& spec, const std::vector<Extent>& free) {
  RemoveDisk(spec.id);
  Disk& d = disks_[spec.id];
  d.spec = spec;
  d.salt = Mix(static_cast<uint64_t>(spec.id));
  for (const Extent& e : free) d.free[e.offset] = e.length;
  Recompute(d);
  Reindex(d);
}

void Allocator::RemoveDisk(int64_t pdsk_id) {
  auto it = disks_.find(pdsk_id);
  if (it == disks_.end()) return;
  Unindex(it->second);
  disks_.erase(it);
}

void Allocator::SetWeight(int64_t pdsk_id, double weight) {
  auto it = disks_.find(pdsk_id);
  if (it == disks_.end()) return;
  it->second.spec.weight = weight;
  Reindex(it->second);
}

void Allocator::SetAllocatable(int64_t pdsk_id, bool allocatable) {
  auto it = disks_.find(pdsk_id);
  if (it == disks_.end()) return;
  it->second.spec.allocatable = allocatable;
  Reindex(it->second);
}

void Allocator::SetServerDomain(int64_t ssvr_id, const std::string& domain) {
  if (domain.empty()) {
    server_domain_.erase(ssvr_id);
    return;
  }
  server_domain_[ssvr_id] = domain;
  domain_ids_.emplace(domain, static_cast<int64_t>(domain_ids_.size()) + 1);
}

int64_t Allocator::DomainOf(int64_t ssvr_id) const {
  auto it = server_domain_.find(ssvr_id);
  if (it == server_domain_.end()) return -ssvr_id;  // its own domain
  return domain_ids_.at(it->second);
}

void Allocator::Unindex(Disk& d) {
  if (d.indexed) order_.erase(OrderKey{d.key, d.salt, d.spec.id});
  d.indexed = false;
}

void Allocator::Reindex(Disk& d) {
  Unindex(d);
  if (!d.spec.allocatable || d.spec.weight <= 0 || d.largest == 0) return;
  d.key = static_cast<double>(d.used) / (static_cast<double>(d.spec.size_mib) * d.spec.weight);
  d.salt = rng_();
  order_.insert(OrderKey{d.key, d.salt, d.spec.id});
  d.indexed = true;
}

void Allocator::Recompute(Disk& d) {
  int64_t free_total = 0;
  d.largest = 0;
  for (const auto& e : d.free) {
    free_total += e.second;
    d.largest = std::max(d.largest, e.second);
  }
  d.used = d.spec.size_mib - free_total;
}

void Allocator::TakeRange(Disk& d, int64_t offset, int64_t length, Journal* j) {
  auto it = d.free.upper_bound(offset);
  --it;  // the caller guarantees an extent holds [offset, offset+length)
  const int64_t start = it->first, end = it->first + it->second;
  const int64_t left = offset - start, right = end - (offset + length);
  if (left > 0) {
    it->second = left;
    if (j) j->changes_.push_back({d.spec.id, start, start, left});
    if (right > 0) {
      d.free[offset + length] = right;
      if (j) j->changes_.push_back({d.spec.id, -1, offset + length, right});
    }
  } else {
    d.free.erase(it);
    if (right > 0) d.free[offset + length] = right;
    if (j) j->changes_.push_back({d.spec.id, start, offset + length, right});
  }
  Recompute(d);
  Reindex(d);
}

void Allocator::GiveRange(Disk& d, int64_t offset, int64_t length, Journal* j) {
  auto next = d.free.lower_bound(offset);
  bool has_next = next != d.free.end() && next->first == offset + length;
  bool has_prev = false;
  auto prev = next;
  if (next != d.free.begin()) {
    prev = std::prev(next);
    if (prev->first + prev->second > offset) {
      VS_LOG_ERROR("allocator: freeing pdsk %lld [%lld+%lld) overlaps free space; ignored",
                   static_cast<long long>(d.spec.id), static_cast<long long>(offset),
                   static_cast<long long>(length));
      return;
    }
    has_prev = prev->first + prev->second == offset;
  }
  if (has_prev) {
    int64_t merged = prev->second + length + (has_next ? next->second : 0);
    if (has_next) {
      if (j) j->changes_.push_back({d.spec.id, next->first, next->first, 0});
      d.free.erase(next);
    }
    prev->second = merged;
    if (j) j->changes_.push_back({d.spec.id, prev->first, prev->first, merged});
  } else if (has_next) {
    int64_t merged = length + next->second;
    if (j) j->changes_.push_back({d.spec.id, next->first, offset, merged});
    d.free.erase(next);
    d.free[offset] = merged;
  } else {
    d.free[offset] = length;
    if (j) j->changes_.push_back({d.spec.id, -1, offset, length});
  }
  Recompute(d);
  Reindex(d);
}

Status Allocator::PlaceMirror(int legs, int64_t length, const std::vector<Placement>& keep,
                              Journal* journal, std::vector<Placement>* out,
                              const std::unordered_map<int64_t, double>* load, int64_t source) {
  std::vector<int64_t> servers, domains;
  for (const Placement& p : keep) {
    servers.push_back(p.ssvr_id);
    domains.push_back(DomainOf(p.ssvr_id));
  }
  const size_t mark_ops = journal->ops_.size(), mark_changes = journal->changes_.size();
  std::vector<Placement> placed;
  for (int leg = 0; leg < legs; ++leg) {
    // The least full eligible disk; with `load`, the least loaded of those
    // at most two chunks fuller than it, the other side of `source` first.
    Disk* chosen = nullptr;
    double chosen_load = 0, limit = 0;
    auto cost = [&](int64_t pdsk, double l) {
      return source && RebuildSide(pdsk) == RebuildSide(source) ? l + 1e9 : l;
    };
    for (const auto& entry : order_) {
      Disk& d = disks_.at(std::get<2>(entry));
      if (chosen && (!load || d.key > limit)) break;
      if (d.largest < length) continue;
      if (std::find(servers.begin(), servers.end(), d.spec.ssvr_id) != servers.end()) continue;
      if (std::find(domains.begin(), domains.end(), DomainOf(d.spec.ssvr_id)) != domains.end())
        continue;
      double dl = 0;
      if (load) {
        auto l = load->find(d.spec.id);
        dl = cost(d.spec.id, l == load->end() ? 0 : l->second);
      }
      if (!chosen) {
        limit = d.key + 2.0 * length / (static_cast<double>(d.spec.size_mib) * d.spec.weight);
      } else if (dl >= chosen_load) {
        continue;
      }
      chosen = &d;
      chosen_load = dl;
      if (dl == 0) break;
    }
    if (!chosen) {
      // Put back what this call took; earlier mirrors of the journal stay.
      while (journal->ops_.size() > mark_ops) {
        Journal::Op op = journal->ops_.back();
        journal->ops_.pop_back();
        GiveRange(disks_.at(op.pdsk_id), op.offset, op.length, nullptr);
      }
      journal->changes_.resize(mark_changes);
      return Status::Error(ENOSPC, "no disk with " + std::to_string(length) +
                                       " MiB free on a server and failure domain apart from "
                                       "the mirror's other " + std::to_string(servers.size()) +
                                       " legs");
    }
    placed.push_back(TakeBestFit(*chosen, length, journal));
    servers.push_back(chosen->spec.ssvr_id);
    domains.push_back(DomainOf(chosen->spec.ssvr_id));
  }
  out->insert(out->end(), placed.begin(), placed.end());
  return Status::OK();
}

Placement Allocator::TakeBestFit(Disk& d, int64_t length, Journal* journal) {
  int64_t best_off = -1, best_len = 0;
  for (const auto& e : d.free) {
    if (e.second >= length && (best_off < 0 || e.second < best_len)) {
      best_off = e.first;
      best_len = e.second;
      if (best_len == length) break;
    }
  }
  // Take the head of the extent: reservations stay packed at the low
  // offsets, so lowering the overcommit ratio (which cuts the disk's
  // tail) fits whenever the reserved space does.
  TakeRange(d, best_off, length, journal);
  journal->ops_.push_back({true, d.spec.id, best_off, length});
  return {d.spec.id, d.spec.ssvr_id, best_off, length};
}

Status Allocator::PlaceOn(int64_t pdsk_id, int64_t length, Journal* journal, Placement* out) {
  auto it = disks_.find(pdsk_id);
  if (it == disks_.end()) return Status::Error(ENOENT, "no disk " + std::to_string(pdsk_id) + " in the allocator");
  if (it->second.largest < length)
    return Status::Error(ENOSPC, "pdsk " + std::to_string(pdsk_id) + " has no " + std::to_string(length) +
                                     " MiB of its slots free");
  *out = TakeBestFit(it->second, length, journal);
  return Status::OK();
}

void Allocator::Free(int64_t pdsk_id, int64_t offset, int64_t length, Journal* journal) {
  auto it = disks_.find(pdsk_id);
  if (it == disks_.end()) return;  // disk already gone: nothing to return
  GiveRange(it->second, offset, length, journal);
  journal->ops_.push_back({false, pdsk_id, offset, length});
}

void Allocator::Undo(Journal* journal) {
  for (auto op = journal->ops_.rbegin(); op != journal->ops_.rend(); ++op) {
    auto it = disks_.find(op->pdsk_id);
    if (it == disks_.end()) continue;
    if (op->alloc) GiveRange(it->second, op->offset, op->length, nullptr);
    else TakeRange(it->second, op->offset, op->length, nullptr);
  }
  journal->ops_.clear();
  journal->changes_.clear();
}

bool Allocator::Usage(int64_t pdsk_id, DiskUsage* out) const {
  auto it = disks_.find(pdsk_id);
  if (it == disks_.end()) return false;
  out->size_mib = it->second.spec.size_mib;
  out->used_mib = it->second.used;
  out->largest_free = it->second.largest;
  return true;
}

int64_t Allocator::Available(int64_t pdsk_id) const {
  auto it = disks_.find(pdsk_id);
  if (it == disks_.end()) return 0;
  const Disk& d = it->second;
  if (!d.spec.allocatable || d.spec.weight <= 0) return 0;
  return d.spec.size_mib - d.used;
}

const std::map<int64_t, int64_t>* Allocator::FreeList(int64_t pdsk_id) const {
  auto it = disks_.find(pdsk_id);
  return it == disks_.end() ? nullptr : &it->second.free;
}

std::string Allocator::Difference(const Allocator& other) const {
  if (disks_.size() != other.disks_.size())
    return std::to_string(disks_.size()) + " disks, not " + std::to_string(other.disks_.size());
  for (const auto& entry : disks_) {
    const Disk& a = entry.second;
    auto it = other.disks_.find(entry.first);
    const std::string name = "pdsk " + std::to_string(entry.first);
    if (it == other.disks_.end()) return name + " missing";
    const Disk& b = it->second;
    if (a.spec.ssvr_id != b.spec.ssvr_id || a.spec.size_mib != b.spec.size_mib || a.spec.weight != b.spec.weight ||
        a.spec.allocatable != b.spec.allocatable)
      return name + ": spec differs";
    if (a.free != b.free) return name + ": free list differs";
    if (a.used != b.used || a.largest != b.largest || a.indexed != b.indexed || (a.indexed && a.key != b.key))
      return name + ": derived figures or fill order differ";
  }
  if (server_domain_ != other.server_domain_)
    return "server domains differ (" + std::to_string(server_domain_.size()) + " servers with a domain, not " +
           std::to_string(other.server_domain_.size()) + ")";
  return "";
}

}  // namespace vastsky
