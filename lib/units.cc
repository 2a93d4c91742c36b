#include "lib/units.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace vastsky {

Status ParseWhole(const char* what, const char* unit, const std::string& text, int min, int* out) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(text) < min)
    return Status::Error(EINVAL, std::string(what) + " must be a whole number of " + unit + ", at least " +
                                     std::to_string(min));
  *out = std::stoi(text);
  return Status::OK();
}

bool ParseSize(const std::string& s, uint64_t* bytes, std::string* why) {
  size_t i = 0;
  while (i < s.size() && (isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  std::string num = s.substr(0, i), unit = s.substr(i);
  if (num.empty() || num == "." || num.find('.') != num.rfind('.')) {
    *why = "'" + s + "' is not a size (try 10G or 1T)";
    return false;
  }
  for (char& c : unit) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && (unit.substr(1) == "B" || unit.substr(1) == "IB")) unit = unit.substr(0, 1);
  int shift;
  if (unit.empty() || unit == "M") shift = 20;
  else if (unit == "K") shift = 10;
  else if (unit == "G") shift = 30;
  else if (unit == "T") shift = 40;
  else if (unit == "P") shift = 50;
  else {
    *why = "unknown unit in '" + s + "' (use K, M, G, T or P)";
    return false;
  }
  long double v = strtold(num.c_str(), nullptr) * powl(2.0L, shift);
  if (!(v >= 0) || v > 9.0e18L) {
    *why = "'" + s + "' is too large";
    return false;
  }
  *bytes = static_cast<uint64_t>(llroundl(v));
  return true;
}

std::string FormatBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 6) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  if (u == 0) snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  else if (v >= 100) snprintf(buf, sizeof buf, "%.0f %s", v, kUnits[u]);
  else if (v >= 10) snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  else snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[u]);
  return buf;
}

bool ParseSyncRatio(const std::string& ratio, int64_t* done_sectors, int64_t* total_sectors) {
  const size_t slash = ratio.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= ratio.size()) return false;
  char* end = nullptr;
  errno = 0;
  const long long done = strtoll(ratio.c_str(), &end, 10);
  if (end != ratio.c_str() + slash || errno != 0) return false;
  const long long total = strtoll(ratio.c_str() + slash + 1, &end, 10);
  if (*end != '\0' || errno != 0 || done < 0 || total <= 0 || done > total) return false;
  *done_sectors = done;
  *total_sectors = total;
  return true;
}

}  // namespace vastsky
