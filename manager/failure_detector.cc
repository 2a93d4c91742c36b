#include "manager/failure_detector.h"

#include <algorithm>
#include <set>

namespace vastsky {

FailureDetector::FailureDetector(const Clock* clock, Options options)
    : clock_(clock), options_(options), start_ms_(clock->MonotonicMs()) {}

std::vector<int64_t> FailureDetector::SilenceMs(const std::vector<MonitoredServer>& servers) const {
  const int64_t now = clock_->MonotonicMs();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> out;
  out.reserve(servers.size());
  for (const MonitoredServer& s : servers) {
    auto it = heard_ms_.find({s.kind, s.id});
    out.push_back(now - std::max(start_ms_, it == heard_ms_.end() ? start_ms_ : it->second));
  }
  return out;
}

void FailureDetector::Heard(int kind, int64_t id) {
  const int64_t now = clock_->MonotonicMs();
  std::lock_guard<std::mutex> lock(mu_);
  heard_ms_[{kind, id}] = now;
}

std::vector<MonitoredServer> FailureDetector::LargestStorm(
    const std::vector<std::pair<int64_t, MonitoredServer>>& silent) const {
  const int64_t window = 1000LL * options_.grace_s;
  size_t best_from = 0, best_n = 0;
  for (size_t from = 0, to = 0; from < silent.size(); ++from) {
    while (to < silent.size() && silent[to].first - silent[from].first <= window) ++to;
    if (to - from > best_n) best_from = from, best_n = to - from;
  }
  std::vector<MonitoredServer> out;
  for (size_t i = best_from; i < best_from + best_n; ++i) out.push_back(silent[i].second);
  return out;
}

SilenceVerdict FailureDetector::Judge(const std::vector<MonitoredServer>& live) {
  const int64_t now = clock_->MonotonicMs();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<int64_t, MonitoredServer>> silent;  // (silent since, server)
  std::map<std::pair<int, int64_t>, int64_t> still;
  for (const MonitoredServer& s : live) {
    auto it = heard_ms_.find({s.kind, s.id});
    const int64_t since = std::max(start_ms_, it == heard_ms_.end() ? start_ms_ : it->second);
    if (it != heard_ms_.end()) still.insert(*it);
    if (now - since > 1000LL * options_.grace_s) silent.push_back({since, s});
  }
  heard_ms_.swap(still);  // servers no longer live are forgotten
  std::sort(silent.begin(), silent.end(),
            [](const auto& a, const auto& b) { return a.first < b.first || (a.first == b.first && a.second.id < b.second.id); });
  SilenceVerdict v;
  for (const auto& s : silent) v.silent.push_back(s.second);
  const std::vector<MonitoredServer> storm = LargestStorm(silent);
  std::set<std::string> domains;
  for (const MonitoredServer& s : storm)
    if (!s.domain.empty()) domains.insert(s.domain);
  const bool too_many = storm.size() > 1 && storm.size() > options_.storm_share * static_cast<double>(live.size());
  if (too_many || domains.size() > 1) {
    v.isolated = true;
    v.why = std::to_string(storm.size()) + " of " + std::to_string(live.size()) + " servers fell silent together" +
            (domains.size() > 1 ? " across " + std::to_string(domains.size()) + " failure domains" : "");
  } else {
    v.failed = v.silent;
  }
  isolated_ = v.isolated;
  silent_count_ = static_cast<int>(v.silent.size());
  return v;
}

bool FailureDetector::isolated() const {
  std::lock_guard<std::mutex> lock(mu_);
  return isolated_;
}

int FailureDetector::silent_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return silent_count_;
}

}  // namespace vastsky
