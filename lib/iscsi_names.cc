// Validation of iSCSI names and CHAP credentials before they reach the
// target: a malformed name would otherwise become a configfs directory.
#include <cctype>
#include <cerrno>

#include "lib/iscsi_names.h"

#include "lib/ids.h"

namespace vastsky {

bool ValidIscsiName(const std::string& name, std::string* why) {
  if (name.size() > 223) {
    *why = "an iSCSI name has at most 223 bytes";
    return false;
  }
  if (name.compare(0, 4, "eui.") == 0) {
    bool hex = name.size() == 20;
    for (size_t i = 4; hex && i < name.size(); ++i) hex = isxdigit(static_cast<unsigned char>(name[i]));
    if (!hex) *why = "an eui. name is 'eui.' and 16 hex digits";
    return hex;
  }
  // iqn.YYYY-MM.<reversed domain>[:<anything>]
  auto digits = [&](size_t at, size_t n) {
    for (size_t i = at; i < at + n; ++i)
      if (i >= name.size() || !isdigit(static_cast<unsigned char>(name[i]))) return false;
    return true;
  };
  if (name.compare(0, 4, "iqn.") != 0 || !digits(4, 4) || name.size() < 12 || name[8] != '-' || !digits(9, 2) ||
      name[11] != '.' || name.size() == 12 || name[12] == ':' || name[12] == '.') {
    *why = "'" + name + "' is not an iSCSI name (iqn.YYYY-MM.reversed.domain[:id])";
    return false;
  }
  for (char c : name)
    if (!(islower(static_cast<unsigned char>(c)) || isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
          c == ':')) {
      *why = "an iSCSI name uses only lowercase letters, digits, '.', '-' and ':'";
      return false;
    }
  return true;
}

Status CheckChap(const std::string& user, const std::string& secret) {
  auto printable = [](const std::string& s) {
    for (char c : s)
      if (c <= ' ' || c == 0x7f) return false;
    return true;
  };
  if (user.empty() || user.size() > 255 || !printable(user))
    return Status::Error(EINVAL, "chap_user must be 1 to 255 printable characters without spaces");
  if (secret.size() < 12 || secret.size() > 16 || !printable(secret))
    return Status::Error(EINVAL, "chap_secret must be 12 to 16 printable characters without spaces");
  return Status::OK();
}

// The SCSI unit serial of a leg's LUN (VPD page 0x80); heads find legs by it.
std::string LegSerial(int64_t chunk_id) { return FormatId("leg", chunk_id); }

bool ParseLegSerial(const std::string& serial, int64_t* chunk_id) {
  const size_t a = serial.find_first_not_of(' '), b = serial.find_last_not_of(' ');
  if (a == std::string::npos || serial.compare(a, 4, "leg-") != 0) return false;
  return ParseId(serial.substr(a, b - a + 1), "leg", chunk_id);
}

}  // namespace vastsky
