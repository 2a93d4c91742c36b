// The words of the health verdict as they go on the wire (getClusterStatus
// `health` and `checks`), one name per concept, for every program that
// writes or reads them: the manager, the CLI, the metrics endpoint. Their
// meaning is manager/API.md's, section "Health".
#pragma once

namespace vastsky {

// The overall verdict, and each check's severity (the worst check's wins).
enum HealthSeverity { kHealthOk = 0, kHealthWarn = 1, kHealthErr = 2 };
constexpr const char* kHealthOkWord = "HEALTH_OK";
constexpr const char* kHealthWarnWord = "HEALTH_WARN";
constexpr const char* kHealthErrWord = "HEALTH_ERR";
inline const char* HealthWord(int severity) {
  return severity >= kHealthErr ? kHealthErrWord : severity == kHealthWarn ? kHealthWarnWord : kHealthOkWord;
}

// Check codes.
constexpr const char* kCheckSsvrDown = "SSVR_DOWN";
constexpr const char* kCheckHsvrDown = "HSVR_DOWN";
constexpr const char* kCheckPdskDown = "PDSK_DOWN";
constexpr const char* kCheckServerSilent = "SERVER_SILENT";
constexpr const char* kCheckStormGuard = "FAILURE_STORM_GUARD";
constexpr const char* kCheckMirrorDegraded = "MIRROR_DEGRADED";
constexpr const char* kCheckMirrorOneLeg = "MIRROR_ONE_LEG";
constexpr const char* kCheckMirrorDown = "MIRROR_DOWN";
constexpr const char* kCheckPoolNearfull = "POOL_NEARFULL";
constexpr const char* kCheckPoolFull = "POOL_FULL";
constexpr const char* kCheckPoolFailed = "POOL_FAILED";
constexpr const char* kCheckClockSkew = "CLOCK_SKEW";
constexpr const char* kCheckRebuildStalled = "REBUILD_STALLED";

// The cluster settings (setClusterSetting) the checks judge by.
constexpr const char* kSettingNearfullRatio = "nearfull_ratio";
constexpr const char* kSettingFullRatio = "full_ratio";
constexpr const char* kSettingMaxClockSkew = "max_clock_skew";

}  // namespace vastsky
