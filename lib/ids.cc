#include "lib/ids.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

namespace vastsky {

std::string DiskIqn(int64_t pdsk_id) { return "iqn.2010-10.org.vastsky:" + FormatId("pdsk", pdsk_id); }

std::string FormatId(const char* prefix, int64_t id) {
  char buf[48];
  snprintf(buf, sizeof buf, "%s-%08llx", prefix, static_cast<unsigned long long>(id));
  return buf;
}

namespace {
bool ParseHex8(const std::string& s, int64_t* id) {
  if (s.size() != 8) return false;
  int64_t v = 0;
  for (char c : s) {
    if (!isxdigit(static_cast<unsigned char>(c))) return false;
    v = v * 16 + (isdigit(static_cast<unsigned char>(c)) ? c - '0' : (tolower(c) - 'a' + 10));
  }
  if (v <= 0 || v > 0x7fffffff) return false;
  *id = v;
  return true;
}
}  // namespace

bool ParseId(const std::string& s, const char* prefix, int64_t* id) {
  std::string p = std::string(prefix) + "-";
  if (s.compare(0, p.size(), p) == 0) return ParseHex8(s.substr(p.size()), id);
  return ParseHex8(s, id);
}

bool ValidVolumeName(const std::string& name, std::string* why) {
  if (name.empty() || name.size() > 64) {
    *why = "a volume name has 1 to 64 characters";
    return false;
  }
  for (char c : name) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      *why = "a volume name uses only letters, digits, '.', '_' and '-'";
      return false;
    }
  }
  if (name == "." || name == "..") {
    *why = "'.' and '..' are not volume names";
    return false;
  }
  // Tools read 8 hex digits (bare or after "lvol-") as an id, whatever the value.
  std::string tail = name.compare(0, 5, "lvol-") == 0 ? name.substr(5) : name;
  if (tail.size() == 8 && std::all_of(tail.begin(), tail.end(), [](char c) { return isxdigit(static_cast<unsigned char>(c)); })) {
    *why = "a volume name must not look like a volume id (lvol-XXXXXXXX or 8 hex digits)";
    return false;
  }
  return true;
}

std::string IscsiPortal(const std::string& ip) {
  return ip.find(':') != std::string::npos ? "[" + ip + "]:3260" : ip + ":3260";
}

}  // namespace vastsky
