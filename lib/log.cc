#include "lib/log.h"

#include <syslog.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <string>

namespace vastsky {

namespace {
LogLevel g_min = LogLevel::kInfo;
bool g_syslog = false;
std::string g_ident = "vastsky";

const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarning: return "WARNING";
    case LogLevel::kError: return "ERROR";
  }
  return "?";
}

int SyslogPriority(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return LOG_DEBUG;
    case LogLevel::kInfo: return LOG_INFO;
    case LogLevel::kWarning: return LOG_WARNING;
    case LogLevel::kError: return LOG_ERR;
  }
  return LOG_INFO;
}
}  // namespace

bool ParseLogLevel(const std::string& s, LogLevel* out) {
  if (s == "debug") *out = LogLevel::kDebug;
  else if (s == "info") *out = LogLevel::kInfo;
  else if (s == "warning" || s == "warn") *out = LogLevel::kWarning;
  else if (s == "error") *out = LogLevel::kError;
  else return false;
  return true;
}

void LogInit(const std::string& ident, LogLevel min_level, bool use_syslog, int facility) {
  g_ident = ident;
  g_min = min_level;
  g_syslog = use_syslog;
  if (g_syslog) openlog(g_ident.c_str(), LOG_PID, facility < 0 ? LOG_DAEMON : facility);
}

void Log(LogLevel level, const char* fmt, ...) {
  if (level < g_min) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (g_syslog) {
    syslog(SyslogPriority(level), "%s", msg);
    return;
  }
  char ts[32];
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm tm;
  gmtime_r(&now.tv_sec, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  char line[2200];
  int n = snprintf(line, sizeof line, "%s.%03ldZ %s[%d] %s: %s\n", ts, now.tv_nsec / 1000000,
                   g_ident.c_str(), static_cast<int>(getpid()), LevelName(level), msg);
  if (n > static_cast<int>(sizeof line) - 1) n = sizeof line - 1;
  // One write(2) per line keeps lines whole across threads.
  ssize_t ignored = write(STDERR_FILENO, line, static_cast<size_t>(n));
  (void)ignored;
}

}  // namespace vastsky
