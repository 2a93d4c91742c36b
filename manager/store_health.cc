// Store: the facts the health verdict judges (manager/health.h), and the
// settings it judges them by.
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "lib/health_words.h"
#include "lib/ids.h"
#include "manager/store.h"

namespace vastsky {

namespace {
constexpr double kMaxClockSkewSetting = 3600;

// One more thing the check `code` is about: counted, and named while the
// list is short.
void NoteName(HealthFacts* f, const char* code, const std::string& name, int64_t* count) {
  ++*count;
  std::vector<std::string>& names = f->names[code];
  if (names.size() < kHealthDetailMax) names.push_back(name);
}

Status ParseNumber(const std::string& name, const std::string& value, double* out) {
  char* end = nullptr;
  *out = strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !std::isfinite(*out))
    return Status::Error(EINVAL, name + " must be a number, not '" + value + "'");
  return Status::OK();
}
}  // namespace

Status Store::SaveSetting(const std::string& name, const std::string& value) {
  return Mutate([&](Change*) {
    Stmt w(db_, "INSERT INTO setting(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2");
    VS_RETURN_IF_ERROR(w.Bind(1, name).Bind(2, value).Run());
    return AddEvent("info", "setting", "cluster", 0, name + " set to " + value);
  });
}

// The ratios are validated together: one is set at a time, and nearfull
// must stay below full whichever moves.
Status Store::SetRatio(const std::string& name, const std::string& value) {
  double v;
  VS_RETURN_IF_ERROR(ParseNumber(name, value, &v));
  double nearfull = nearfull_ratio_, full = full_ratio_, skew = max_clock_skew_s_;
  if (name == kSettingMaxClockSkew) {
    if (!(v > 0 && v <= kMaxClockSkewSetting))
      return Status::Error(EINVAL, std::string(kSettingMaxClockSkew) + " must be above 0 and at most 3600 seconds");
    skew = v;
  } else {
    (name == kSettingNearfullRatio ? nearfull : full) = v;
    if (!(nearfull > 0 && nearfull < full && full <= 1))
      return Status::Error(EINVAL, "the pool ratios must keep 0 < " + std::string(kSettingNearfullRatio) + " < " +
                                       kSettingFullRatio + " <= 1 (now " + std::to_string(nearfull_ratio_) + " and " +
                                       std::to_string(full_ratio_) + ")");
  }
  VS_RETURN_IF_ERROR(SaveSetting(name, value));
  nearfull_ratio_ = nearfull;
  full_ratio_ = full;
  max_clock_skew_s_ = skew;
  return Status::OK();
}

// Only mirrors with a SPARE leg can lack one (a leg on a failed disk is
// SPARE or replaced: see the schema), so a healthy cluster reads no chunk.
// Legs on HALT disks (shutdownAll) still hold their data and count.
Status Store::HealthOfMirrors(HealthFacts* f) {
  Stmt q(db_,
         "SELECT l.redundancy, (SELECT count(*) FROM chunk o WHERE o.mirror_id = m.id AND o.status != 3), l.name, m.id "
         "FROM (SELECT DISTINCT mirror_id AS id FROM chunk INDEXED BY chunk_spare WHERE status = 3) d "
         "JOIN mirror m ON m.id = d.id JOIN lvol l ON l.id = m.lvol_id");
  while (q.Step()) {
    const int64_t redundancy = q.Int(0), holding = q.Int(1);
    if (holding >= redundancy) continue;  // a drain's extra leg, being rebuilt
    // The volume's name first: that is what an operator knows.
    const std::string name = q.Text(2) + " " + FormatId("mirr", q.Int(3));
    if (holding == 0) NoteName(f, kCheckMirrorDown, name, &f->mirrors_down);
    else if (holding == 1) NoteName(f, kCheckMirrorOneLeg, name, &f->mirrors_one_leg);
    else NoteName(f, kCheckMirrorDegraded, name, &f->mirrors_degraded);
  }
  return q.status();
}

// Pools and clocks as last reported, of disks and servers still live.
Status Store::HealthOfPoolsAndClocks(HealthFacts* f) {
  Stmt disk(db_,
            "SELECT 1 FROM pdsk p JOIN ssvr s ON s.id = p.ssvr_id WHERE p.id = ?1 AND p.priority IN (1, 2, 3) "
            "AND s.priority IN (1, 2, 3)");
  for (const auto& entry : pools_) {
    const PoolReport& r = entry.second.report;
    const int level = PoolLevel(r);
    if (level == 0) continue;
    disk.Bind(1, entry.first);
    const bool live = disk.Step();
    VS_RETURN_IF_ERROR(disk.status());
    disk.Reset();
    if (!live) continue;
    const std::string name = FormatId("pdsk", entry.first);
    if (r.mode == "ro" || r.mode == "fail") NoteName(f, kCheckPoolFailed, name, &f->pools_failed);
    else if (level == 2) NoteName(f, kCheckPoolFull, name, &f->pools_full);
    else NoteName(f, kCheckPoolNearfull, name, &f->pools_nearfull);
  }
  Stmt ssvr(db_, "SELECT 1 FROM ssvr WHERE id = ?1 AND priority IN (1, 2, 3)");
  Stmt hsvr(db_, "SELECT 1 FROM hsvr WHERE id = ?1 AND priority IN (1, 2, 3)");
  for (const auto& entry : clock_skew_) {
    if (std::fabs(entry.second) <= max_clock_skew_s_) continue;
    Stmt& q = entry.first.first == kTargetSsvr ? ssvr : hsvr;
    q.Bind(1, entry.first.second);
    const bool live = q.Step();
    VS_RETURN_IF_ERROR(q.status());
    q.Reset();
    if (!live) continue;
    NoteName(f, kCheckClockSkew, FormatId(entry.first.first == kTargetSsvr ? "ssvr" : "hsvr", entry.first.second),
             &f->clock_skewed);
    if (std::fabs(entry.second) > std::fabs(f->worst_clock_skew_s)) f->worst_clock_skew_s = entry.second;
  }
  return Status::OK();
}

Status Store::GetHealth(int64_t silent_servers, bool isolated, int64_t rebuilds_stalled, int64_t longest_stall_s,
                        Health* out) {
  HealthFacts f;
  f.rebuilds_stalled = rebuilds_stalled;
  f.longest_stall_s = longest_stall_s;
  f.silent_servers = silent_servers;
  f.isolated = isolated;
  f.nearfull_ratio = nearfull_ratio_;
  f.full_ratio = full_ratio_;
  f.max_clock_skew_s = max_clock_skew_s_;
  struct Down {
    const char* code;
    const char* kind;  // the names' prefix
    const char* sql;
    int64_t* count;
  };
  const Down downs[] = {
      {kCheckSsvrDown, "ssvr", "SELECT id FROM ssvr WHERE priority IN (4, 5, 6) ORDER BY id", &f.ssvrs_down},
      {kCheckHsvrDown, "hsvr", "SELECT id FROM hsvr WHERE priority IN (4, 5, 6) ORDER BY id", &f.hsvrs_down},
      {kCheckPdskDown, "pdsk", "SELECT id FROM pdsk WHERE priority IN (4, 5, 6) ORDER BY id", &f.pdsks_down},
  };
  for (const Down& d : downs) {
    Stmt q(db_, d.sql);
    while (q.Step()) NoteName(&f, d.code, FormatId(d.kind, q.Int(0)), d.count);
    VS_RETURN_IF_ERROR(q.status());
  }
  VS_RETURN_IF_ERROR(HealthOfMirrors(&f));
  VS_RETURN_IF_ERROR(HealthOfPoolsAndClocks(&f));
  *out = JudgeHealth(f);
  return Status::OK();
}

}  // namespace vastsky
