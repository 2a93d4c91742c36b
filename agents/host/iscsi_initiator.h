// A head server's iSCSI initiator (open-iscsi), behind an interface: one
// session per remote disk, CHAP always, and the SCSI disk it yields. Calls
// are idempotent and bounded in time (iscsiadm can hang on a dead portal).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lib/status.h"

namespace vastsky {

struct IscsiLogin {
  std::string iqn;
  std::string portal;  // "10.0.0.5:3260"
  std::string chap_user, chap_secret;
};

struct IscsiSession {
  std::string iqn, portal;
  std::string device;  // "/dev/sdb", empty while the LUN is not attached yet
};

class IscsiInitiator {
 public:
  virtual ~IscsiInitiator() = default;
  // This host's initiator name (from /etc/iscsi/initiatorname.iscsi).
  virtual Status InitiatorName(std::string* name) = 0;
  // Logs in (or finds the existing session) and waits for its disk.
  virtual Status Login(const IscsiLogin& login, std::string* device) = 0;
  // Logs out of every session to iqn and forgets the node; none is fine.
  virtual Status Logout(const std::string& iqn) = 0;
  virtual Status Sessions(std::vector<IscsiSession>* out) = 0;
};

// open-iscsi through iscsiadm; timeout_ms bounds each iscsiadm call and the
// wait for the disk to appear.
std::unique_ptr<IscsiInitiator> NewOpenIscsiInitiator(int timeout_ms = 30000);

// A simulated initiator for integration tests without open-iscsi: sessions
// live in files under dir; a login to an IQN listed in dir/refuse fails
// EACCES as a login without an ACL would.
std::unique_ptr<IscsiInitiator> NewSimInitiator(const std::string& dir, const std::string& initiator_name);

// Parses `iscsiadm -m session -P 3` (exposed for unit tests).
std::vector<IscsiSession> ParseSessionDetails(const std::string& text);

}  // namespace vastsky
