// Leveled logging to stderr (with a timestamp) or to syslog.
// One line per event, written whole, so concurrent threads never interleave.
#pragma once

#include <string>

namespace vastsky {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "debug", "info", "warning"/"warn", "error"; false if unknown.
bool ParseLogLevel(const std::string& s, LogLevel* out);
// ident: program name for syslog; use_syslog false means stderr.
// facility: syslog's (LOG_LOCAL2 for the XCP driver, whose lines go to
// /var/log/SMlog); -1 is LOG_DAEMON.
void LogInit(const std::string& ident, LogLevel min_level, bool use_syslog, int facility = -1);
void Log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace vastsky

#define VS_LOG_DEBUG(...) ::vastsky::Log(::vastsky::LogLevel::kDebug, __VA_ARGS__)
#define VS_LOG_INFO(...) ::vastsky::Log(::vastsky::LogLevel::kInfo, __VA_ARGS__)
#define VS_LOG_WARN(...) ::vastsky::Log(::vastsky::LogLevel::kWarning, __VA_ARGS__)
#define VS_LOG_ERROR(...) ::vastsky::Log(::vastsky::LogLevel::kError, __VA_ARGS__)
