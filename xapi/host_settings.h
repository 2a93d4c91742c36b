// What the XCP driver and the host plugin know about this host, from
// /etc/vastsky/sm.conf (section [sm]; VASTSKY_SM_CONF names another file):
// xapi's socket, where the head agent keeps its id and puts volume links,
// the cluster secret file used when an SR carries no credentials, and
// where SR locks live.
#pragma once

#include <cstdint>
#include <string>

#include "lib/status.h"

namespace vastsky {

struct HostSettings {
  std::string xapi_socket = "/var/lib/xcp/xapi";
  std::string head_state_dir = "/var/lib/vastsky/head-agent";
  std::string device_dir = "/dev/vastsky";
  std::string secret_file = "/etc/vastsky/secret";
  std::string lock_dir = "/var/lock/sm";  // SM's: <lock_dir>/<sr uuid>/sr
  std::string ca_file;  // verifies the manager's certificate; empty: system store
  std::string log_level = "info";

  // A missing default file leaves the defaults; a missing named one is ENOENT.
  Status Load();
  // The id the head agent on this host registered as (its `hsvrid` file);
  // ENOENT if it never registered.
  Status HeadServerId(int64_t* id) const;
};

}  // namespace vastsky
