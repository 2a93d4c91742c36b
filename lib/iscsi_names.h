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

// A leg's LUN serial (SCSI VPD page 0x80), "leg-0000002a" for chunk 42: the
// head finds a leg's SCSI disk by it, the storage agent names the LUN by it.
std::string LegSerial(int64_t chunk_id);
// The chunk id of a LegSerial (surrounding blanks ignored: tgt pads the
// serial); false for any other serial.
bool ParseLegSerial(const std::string& serial, int64_t* chunk_id);

}  // namespace vastsky
