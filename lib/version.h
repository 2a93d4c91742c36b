// The VastSky release, shown by every program and by getClusterStatus.
#pragma once

#define VASTSKY_VERSION "0.1.0"

namespace vastsky {
// The `ver` every XML-RPC call carries (manager and agents alike).
constexpr int kProtocolVersion = 5;
}  // namespace vastsky
