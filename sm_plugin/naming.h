// How an XCP SR and its VDIs map onto VastSky volume names. An SR owns the
// volumes whose name is "<tag>.<vdi uuid>", where the tag is the SR's uuid
// in 22 characters of base64url: every name fits the manager's 64, the VDI
// uuid stays readable in `vastsky lvol list`, and sr_probe can give the SR
// uuid back. A VDI's location is its volume name.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>

#include "lib/status.h"

namespace vastsky {
namespace sm {

bool ValidUuid(const std::string& s);
std::string SrTag(const std::string& sr_uuid);           // sr_uuid must be valid
bool SrUuidOfTag(const std::string& tag, std::string* sr_uuid);
std::string LvolName(const std::string& sr_uuid, const std::string& vdi_uuid);
// True if the volume belongs to the SR; *vdi_uuid is its uuid part (which
// may not be a valid uuid if somebody else named the volume).
bool InSr(const std::string& lvolname, const std::string& sr_uuid, std::string* vdi_uuid = nullptr);
// The SR tag of any volume named the driver's way; false otherwise.
bool TagOf(const std::string& lvolname, std::string* tag);

// A random (version 4) uuid; EIO if the kernel's random source fails.
Status NewUuid(std::string* out);

// A decimal byte count as xapi sends it; false for anything else.
bool ParseBytes(const std::string& s, int64_t* out);
constexpr int64_t kGiB = int64_t(1) << 30;
inline int64_t GiBFor(int64_t bytes) { return (bytes + kGiB - 1) / kGiB; }

// The manager's "YYYY-MM-DDTHH:MM:SS" (UTC) as a time; 0 if it is not one.
time_t ParseUtc(const std::string& iso);

// Names and descriptions go into XML documents xapi stores: control
// characters (C0 other than tab and newlines, DEL, C1) are refused, as SM
// does. (C0 cannot even reach the driver: XML cannot carry them.)
bool LegalXml(const std::string& s);

}  // namespace sm
}  // namespace vastsky
