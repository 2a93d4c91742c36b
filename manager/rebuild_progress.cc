#include "manager/rebuild_progress.h"

#include "lib/units.h"

namespace vastsky {

bool ParseSyncRatio(const std::string& ratio, RebuildSample* out) {
  int64_t done = 0, total = 0;
  if (!ParseSyncRatio(ratio, &done, &total)) return false;
  out->done = done * 512;
  out->total = total * 512;
  return true;
}

void RebuildProgress::Note(int64_t mirror_id, const RebuildSample& sample) {
  const int64_t now = clock_->MonotonicMs();
  std::lock_guard<std::mutex> lock(mu_);
  History& h = mirrors_[mirror_id];
  if (h.points.empty() || sample.total != h.total || sample.done < h.points.back().done) {
    h = History();
    h.total = sample.total;
    h.grew_ms = now;
  } else if (sample.done > h.points.back().done) {
    h.grew_ms = now;
  }
  h.points.push_back({now, sample.done});
  // Keep one point at or before the window's start, so the rate spans it.
  while (h.points.size() > 2 && h.points[1].ms <= now - kWindowMs) h.points.pop_front();
}

void RebuildProgress::Retain(const std::set<int64_t>& running) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = mirrors_.begin(); it != mirrors_.end();)
    it = running.count(it->first) ? std::next(it) : mirrors_.erase(it);
}

bool RebuildProgress::Estimate(int64_t mirror_id, RebuildEstimate* out) const {
  const int64_t now = clock_->MonotonicMs();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = mirrors_.find(mirror_id);
  if (it == mirrors_.end() || it->second.points.empty()) return false;
  const History& h = it->second;
  const Point& first = h.points.front();
  const Point& last = h.points.back();
  *out = RebuildEstimate();
  out->done = last.done;
  out->total = h.total;
  out->stalled_s = (now - h.grew_ms) / 1000;
  if (last.ms > first.ms && last.done > first.done) {
    out->rate = static_cast<double>(last.done - first.done) * 1000.0 / static_cast<double>(last.ms - first.ms);
    out->eta_s = static_cast<int64_t>(static_cast<double>(h.total - last.done) / out->rate + 0.5);
  }
  if (last.done == h.total) out->eta_s = 0;
  return true;
}

}  // namespace vastsky
