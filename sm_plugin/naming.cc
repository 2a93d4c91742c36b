#include "sm_plugin/naming.h"

#include <cctype>
#include <cerrno>

#include "lib/secret.h"

namespace vastsky {
namespace sm {

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr size_t kTagLen = 22;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

bool ValidUuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : HexValue(s[i]) < 0) return false;
  }
  return true;
}

std::string SrTag(const std::string& sr_uuid) {
  unsigned char bytes[16] = {};
  size_t n = 0;
  for (size_t i = 0; i + 1 < sr_uuid.size() && n < 16; ++i) {
    if (sr_uuid[i] == '-') continue;
    bytes[n++] = static_cast<unsigned char>(HexValue(sr_uuid[i]) * 16 + HexValue(sr_uuid[i + 1]));
    ++i;
  }
  std::string tag;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      tag += kB64[(acc >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  tag += kB64[(acc << (6 - bits)) & 63];  // the last 2 bits
  return tag;
}

bool SrUuidOfTag(const std::string& tag, std::string* sr_uuid) {
  if (tag.size() != kTagLen) return false;
  unsigned char bytes[17] = {};
  size_t n = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : tag) {
    const char* p = std::char_traits<char>::find(kB64, 64, c);
    if (!p) return false;
    acc = (acc << 6) | static_cast<uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      if (n < sizeof(bytes)) bytes[n++] = static_cast<unsigned char>((acc >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  if (n != 16 || (acc & ((1u << bits) - 1)) != 0) return false;
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  *sr_uuid = out;
  return true;
}

std::string LvolName(const std::string& sr_uuid, const std::string& vdi_uuid) {
  return SrTag(sr_uuid) + "." + Lower(vdi_uuid);
}

bool TagOf(const std::string& lvolname, std::string* tag) {
  if (lvolname.size() <= kTagLen + 1 || lvolname[kTagLen] != '.') return false;
  std::string sr;
  if (!SrUuidOfTag(lvolname.substr(0, kTagLen), &sr)) return false;
  *tag = lvolname.substr(0, kTagLen);
  return true;
}

bool InSr(const std::string& lvolname, const std::string& sr_uuid, std::string* vdi_uuid) {
  const std::string prefix = SrTag(sr_uuid) + ".";
  if (lvolname.compare(0, prefix.size(), prefix) != 0 || lvolname.size() == prefix.size()) return false;
  if (vdi_uuid) *vdi_uuid = lvolname.substr(prefix.size());
  return true;
}

Status NewUuid(std::string* out) {
  std::string hex;
  VS_RETURN_IF_ERROR(RandomString(32, kHexDigits, &hex));
  hex[12] = '4';
  hex[16] = "89ab"[HexValue(hex[16]) & 3];
  *out = hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
  return Status::OK();
}

bool ParseBytes(const std::string& s, int64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) {
    if (!isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

bool LegalXml(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char u = static_cast<unsigned char>(s[i]);
    if (u < 0x20 && u != '\t' && u != '\n' && u != '\r') return false;
    if (u == 0x7f) return false;
    // C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F): legal XML that
    // XenCenter and xapi's exports choke on, which SM refuses too.
    if (u == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9f) return false;
  }
  return true;
}

time_t ParseUtc(const std::string& iso) {
  struct tm tm = {};
  const char* end = strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end || *end != '\0') return 0;
  return timegm(&tm);
}

}  // namespace sm
}  // namespace vastsky
