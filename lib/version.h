// The VastSky release, shown by every program and by getClusterStatus.
#pragma once

#define VASTSKY_VERSION "0.1.0"
