// A storage server's iSCSI target side, behind an interface: one target per
// physical disk, one LUN (0), and access only for the initiators the manager
// authorises, each with its own CHAP credentials. Every call is idempotent,
// because the agent replays them after a restart or reboot.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lib/iscsi_names.h"
#include "lib/status.h"

namespace vastsky {

struct TargetSpec {
  std::string iqn;                   // iqn.2010-10.org.vastsky:pdsk-0000000a
  std::string device;                // block device (or file, for tests)
  std::string serial;                // stable SCSI serial: heads match on it
  std::vector<std::string> portals;  // "10.0.0.5:3260"
};

struct InitiatorAccess {
  std::string initiator;   // the head server's initiator IQN
  std::string chap_user;   // empty: no CHAP (tests only; the agent always sets it)
  std::string chap_secret; // 12..16 characters for LIO
};

struct TargetInfo {
  std::string iqn, device;
  std::vector<std::string> initiators;
};

class IscsiTarget {
 public:
  virtual ~IscsiTarget() = default;
  // Creates or completes the export; a target already serving another
  // device is EEXIST.
  virtual Status Export(const TargetSpec& spec) = 0;
  // Tears the target down; unknown is fine (already gone).
  virtual Status Unexport(const std::string& iqn) = 0;
  // Adds the initiator's ACL or updates its credentials.
  virtual Status Allow(const std::string& iqn, const InitiatorAccess& access) = 0;
  // Removes the ACL; the kernel ends that initiator's sessions (fencing).
  virtual Status Revoke(const std::string& iqn, const std::string& initiator) = 0;
  virtual Status List(std::vector<TargetInfo>* out) = 0;
};

// Kernel LIO through configfs (root: /sys/kernel/config/target).
std::unique_ptr<IscsiTarget> NewLioTarget(const std::string& configfs_root = "/sys/kernel/config/target");
// A simulated target for tests on machines without configfs: no I/O is
// served, but exports and ACLs behave as LIO's do and live in state_file,
// so a restarted process sees them (as the kernel keeps LIO's across a
// daemon restart).
std::unique_ptr<IscsiTarget> NewSimTarget(const std::string& state_file);


}  // namespace vastsky
