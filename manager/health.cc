#include "manager/health.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace vastsky {

namespace {

// "1 storage server is" / "3 storage servers are"
std::string Many(int64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string Percent(double ratio) {
  char buf[32];
  snprintf(buf, sizeof buf, "%g%%", std::round(ratio * 1000) / 10);
  return buf;
}

std::string Seconds(double s) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.0f s", s);
  return buf;
}

void Add(Health* h, const char* code, int severity, int64_t count, const std::string& summary) {
  if (count <= 0) return;
  h->checks.push_back({code, severity, summary, count, {}});
}

void Servers(const HealthFacts& f, Health* h) {
  Add(h, kCheckSsvrDown, kHealthWarn, f.ssvrs_down,
      Many(f.ssvrs_down, "storage server is", "storage servers are") +
          " OFFLINE, FAULTY or HALT: their legs are replaced or wait for them; start their agents, or drain "
          "and delete them for good (`vastsky ssvr list`)");
  Add(h, kCheckHsvrDown, kHealthWarn, f.hsvrs_down,
      Many(f.hsvrs_down, "head server is", "head servers are") +
          " OFFLINE, FAULTY or HALT: nothing attaches there; start their agents, or delete them for good "
          "(`vastsky hsvr list`)");
  Add(h, kCheckPdskDown, kHealthWarn, f.pdsks_down,
      Many(f.pdsks_down, "disk is", "disks are") +
          " OFFLINE, FAULTY or HALT: their legs are replaced elsewhere; replace the disks, or delete their "
          "records once empty (`vastsky pdsk list`)");
  Add(h, kCheckServerSilent, kHealthWarn, f.silent_servers,
      Many(f.silent_servers, "server has", "servers have") + " sent no heartbeat for longer than the grace period: " +
          (f.isolated ? "the storm guard holds their failure back" : "declared failed at the next pass unless heard") +
          "; check their agents and network");
  if (f.isolated)
    Add(h, kCheckStormGuard, kHealthWarn, 1,
        "the storm guard holds every failure back: so many servers fell silent at once that the manager "
        "suspects its own network; check the manager's links, or notifyFailure the servers really down");
}

void Mirrors(const HealthFacts& f, Health* h) {
  Add(h, kCheckMirrorDown, kHealthErr, f.mirrors_down,
      Many(f.mirrors_down, "mirror has", "mirrors have") +
          " no leg holding data: that part of their volumes cannot be read; bring back a failed server or "
          "disk that held their legs (`vastsky event list` names them)");
  Add(h, kCheckMirrorOneLeg, kHealthWarn, f.mirrors_one_leg,
      Many(f.mirrors_one_leg, "mirror is", "mirrors are") +
          " down to one leg: one more failure loses data; let their rebuilds run first (add disks if they have "
          "no room) and keep their servers up");
  Add(h, kCheckMirrorDegraded, kHealthWarn, f.mirrors_degraded,
      Many(f.mirrors_degraded, "mirror lacks", "mirrors lack") +
          " a leg but keeps at least two: rebuilds restore them (see rebuilds queued and running; add disks if "
          "no replacement leg found room)");
}

void Pools(const HealthFacts& f, Health* h) {
  Add(h, kCheckPoolFailed, kHealthErr, f.pools_failed,
      Many(f.pools_failed, "disk's thin pool is", "disks' thin pools are") +
          " failing (I/O errors, held ro or fail): its legs are dead on the heads; fix the cause, then `vastsky "
          "pdsk repair`");
  Add(h, kCheckPoolFull, kHealthErr, f.pools_full,
      Many(f.pools_full, "disk's thin pool is", "disks' thin pools are") + " at or past " +
          Percent(f.full_ratio) +
          " (full_ratio): writes to legs there may fail; add disks, delete volumes or snapshots, or lower "
          "overcommit");
  Add(h, kCheckPoolNearfull, kHealthWarn, f.pools_nearfull,
      Many(f.pools_nearfull, "disk's thin pool is", "disks' thin pools are") + " at or past " +
          Percent(f.nearfull_ratio) + " (nearfull_ratio): no new legs go there; add disks or free space");
}

void Clocks(const HealthFacts& f, Health* h) {
  Add(h, kCheckClockSkew, kHealthWarn, f.clock_skewed,
      Many(f.clock_skewed, "agent's clock differs", "agents' clocks differ") + " from the manager's by more than " +
          Seconds(f.max_clock_skew_s) + " (up to " + Seconds(std::fabs(f.worst_clock_skew_s)) +
          "): event times and certificates go wrong; run NTP (chrony) on the agents and the manager");
}

void Rebuilds(const HealthFacts& f, Health* h) {
  Add(h, kCheckRebuildStalled, kHealthWarn, f.rebuilds_stalled,
      Many(f.rebuilds_stalled, "rebuild has", "rebuilds have") + " made no progress for " +
          Seconds(static_cast<double>(f.longest_stall_s)) +
          " or more: see `vastsky rebuild list` and the head's log (a failing source disk, a hung session)");
}

}  // namespace

Health JudgeHealth(const HealthFacts& facts) {
  Health h;
  Servers(facts, &h);
  Mirrors(facts, &h);
  Pools(facts, &h);
  Clocks(facts, &h);
  Rebuilds(facts, &h);
  // Worst first; within a severity, the order above (API.md's).
  std::stable_sort(h.checks.begin(), h.checks.end(),
                   [](const HealthCheck& a, const HealthCheck& b) { return a.severity > b.severity; });
  for (HealthCheck& c : h.checks) {
    h.status = std::max(h.status, c.severity);
    auto names = facts.names.find(c.code);
    if (names != facts.names.end()) c.detail = names->second;
  }
  return h;
}

}  // namespace vastsky
