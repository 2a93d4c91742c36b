// The fault codes VastSkySR answers xapi with. A Status inside the driver
// carries one of these as its code (not an errno). 16, 24, 38, 39 and 144
// are the codes xapi turns into named errors (SR_DEVICE_IN_USE,
// VDI_IN_USE, SR_OPERATION_NOT_SUPPORTED, SR_NOT_EMPTY, VDI_MISSING); the
// others are SM's published codes (XE_SR_ERRORCODES.xml) or VastSky's own
// range 7200-7299, which xapi reports as SR_BACKEND_FAILURE_<code>.
#pragma once

#include <string>

#include "lib/status.h"

namespace vastsky {
namespace sm {

enum Fault : int {
  kSrInUse = 16,
  kVdiInUse = 24,
  kUnimplemented = 38,
  kSrNotEmpty = 39,
  kSrScan = 40,
  kVdiExists = 43,
  kSrNoSpace = 44,
  kVdiUnavailable = 46,
  kVdiCreate = 78,
  kVdiSize = 79,
  kVdiDelete = 80,
  kVdiClone = 81,
  kVdiSnapshot = 82,
  kVdiResize = 110,
  kConfigParamsMissing = 115,
  kBadRequest = 143,
  kVdiMissing = 144,
  kSmGeneral = 202,
  kIllegalXmlChar = 447,
  kCbtActivate = 457,
  kCbtDeactivate = 458,
  kCbtChangedBlocks = 460,
  // VastSky's range (sm_plugin/README.md lists them).
  kManagerUnreachable = 7201,
  kManagerAuth = 7202,
  kNoHeadServer = 7203,
  kConfigInvalid = 7204,
  kPolicyUnmet = 7205,
  kManagerRefused = 7206,
  kXapiFailed = 7207,
  kNotMaster = 7208,
  kNotInSr = 7209,
  kHostsNotReady = 7210,
  kNotASnapshot = 7211,
};

inline Status Fail(int fault, std::string msg) { return Status::Error(fault, std::move(msg)); }

// A manager or agent call's errno Status as a fault: unreachable and
// refused credentials get their own codes; ENOSPC is SRNoSpace, EBUSY
// VDIInUse; anything else `otherwise`. `what` starts the sentence.
Status FromCluster(const Status& st, int otherwise, const std::string& what);
// A XenAPI call's Status as kXapiFailed.
Status FromXapi(const Status& st, const std::string& what);

}  // namespace sm
}  // namespace vastsky
