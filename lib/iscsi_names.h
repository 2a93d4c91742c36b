// iSCSI names and CHAP credentials as VastSky accepts them, checked before
// they reach a target (a malformed name would become a configfs directory)
// or the manager's database.
#pragma once

#include <cstdint>
#include <string>

#include "lib/status.h"

namespace vastsky {

// RFC 3720 names: "iqn.YYYY-MM.reversed.domain[:x]" (lowercase, digits,
// '.', '-', ':'), or "eui." + 16 hex digits; at most 223 bytes. False with
// a reason otherwise.
bool ValidIscsiName(const std::string& name, std::string* why);
// LIO's CHAP rules: a user of 1..255 printable characters, a secret of
// 12..16. EINVAL naming the problem otherwise.
Status CheckChap(const std::string& user, const std::string& secret);
// The SCSI unit serial of a leg's LUN: "leg-0000002a".
std::string LegSerial(int64_t chunk_id);

}  // namespace vastsky
