// The cluster's health verdict: HEALTH_OK, HEALTH_WARN or HEALTH_ERR with
// named checks (manager/API.md, "Health"). JudgeHealth is a pure function
// of counts the Store and the failure detector gather (Store::GetHealth):
// no database, no clock, so each check is unit-tested alone and any reader
// (getClusterStatus, the metrics endpoint) gets the same verdict.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lib/health_words.h"

namespace vastsky {

// What the checks judge, counted at one instant. Thresholds are given so
// that the summaries can name them.
struct HealthFacts {
  int64_t ssvrs_down = 0, hsvrs_down = 0, pdsks_down = 0;  // priority OFFLINE, FAULTY or HALT
  int64_t silent_servers = 0;  // silent beyond the grace period, not declared failed
  bool isolated = false;       // the storm guard holds every failure back
  // Mirrors by legs holding data (not SPARE): short of their redundancy
  // with at least two, down to one (redundancy >= 2), none at all.
  int64_t mirrors_degraded = 0, mirrors_one_leg = 0, mirrors_down = 0;
  // Live disks by their pool's last report: at or past nearfull (below
  // full), at or past full (or out of data space), failing (mode ro/fail).
  int64_t pools_nearfull = 0, pools_full = 0, pools_failed = 0;
  double nearfull_ratio = 0.85, full_ratio = 0.95;
  // Live servers whose agent's clock differs from the manager's by more
  // than max_clock_skew_s; the largest difference among them, in seconds.
  int64_t clock_skewed = 0;
  double max_clock_skew_s = 5, worst_clock_skew_s = 0;
  // Running rebuilds whose head reported no progress for kRebuildStallS
  // (manager/rebuild_progress.h), and the longest such wait.
  int64_t rebuilds_stalled = 0, longest_stall_s = 0;
  // What a check is about, by its code ("ssvr-00000003"), at most
  // kHealthDetailMax each: so an operator reads which, not only how many.
  std::map<std::string, std::vector<std::string>> names;
};

// Names a check lists at most; its count still counts them all.
constexpr size_t kHealthDetailMax = 10;

// How long a running rebuild may make no progress before it is a check: a
// throttled rebuild under heavy VM load still moves within minutes.
constexpr int64_t kRebuildStallS = 600;

struct HealthCheck {
  std::string code;  // lib/health_words.h
  int severity = kHealthWarn;
  std::string summary;  // what is wrong and what to do, in a sentence
  int64_t count = 0;
  std::vector<std::string> detail;  // HealthFacts::names of the check
};

struct Health {
  int status = kHealthOk;  // the worst check's severity; OK without checks
  std::vector<HealthCheck> checks;  // worst first, then in the order of API.md
};

Health JudgeHealth(const HealthFacts& facts);

}  // namespace vastsky
