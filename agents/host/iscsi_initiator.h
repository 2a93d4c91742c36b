// A head server's iSCSI initiator (open-iscsi), behind an interface: one
// session per remote disk, CHAP always, and in it one LUN per leg, found by
// its SCSI unit serial (VPD page 0x80; LegSerial in lib/iscsi_names.h).
// Calls are idempotent and bounded in time (iscsiadm can hang on a dead
// portal). Thread-safe.
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
  std::string device;  // a SCSI disk of the session ("/dev/sdb"), if any; LunDevice finds a given one
};

class IscsiInitiator {
 public:
  virtual ~IscsiInitiator() = default;
  // This host's initiator name (from /etc/iscsi/initiatorname.iscsi).
  virtual Status InitiatorName(std::string* name) = 0;
  // Logs in, or finds the existing session; waits for no device.
  virtual Status Login(const IscsiLogin& login) = 0;
  // The block device ("/dev/sdc") of the LUN whose unit serial is `serial`
  // in the session to iqn: rescans the session (new LUNs mapped since the
  // login) and waits for it, bounded. ENOENT if there is no session to iqn;
  // ETIMEDOUT (naming the serial and iqn) if no such LUN shows up in time:
  // the target does not map it to this initiator.
  virtual Status LunDevice(const std::string& iqn, const std::string& serial, std::string* device) = 0;
  // Deletes the SCSI device of that LUN, so the kernel forgets a LUN the
  // target removed or unmapped; absent (or no session) is fine. The caller
  // has let go of the device.
  virtual Status ForgetLun(const std::string& iqn, const std::string& serial) = 0;
  // Logs out of every session to iqn and forgets the node; none is fine.
  virtual Status Logout(const std::string& iqn) = 0;
  virtual Status Sessions(std::vector<IscsiSession>* out) = 0;
};

// open-iscsi through iscsiadm and sysfs (/sys/class/iscsi_session, never
// /dev/disk/by-id: no udev is needed); timeout_ms bounds each iscsiadm call
// and the wait for a LUN to appear. sysfs_root is for tests.
std::unique_ptr<IscsiInitiator> NewOpenIscsiInitiator(int timeout_ms = 30000, const std::string& sysfs_root = "/sys");

// The directory of a node record for portal ("10.0.0.1:3260",
// "[fd00::1]:3260") in target portal group 1: "10.0.0.1,3260,1"; "" without
// a port.
std::string NodeRecordDir(const std::string& portal);
// An iscsiadm node record with the CHAP user and secret set (replacing any
// before), every other line as it was. Exposed for tests.
std::string WithChapCredentials(const std::string& record, const std::string& user, const std::string& secret);

// A simulated initiator for integration tests without open-iscsi: sessions
// live in files under dir, a LUN is the file dir/luns/<iqn>/<serial>. A
// login to an IQN listed in dir/refuse fails EACCES as a login without an
// ACL would; a serial listed in dir/refuse-luns never shows up (ENXIO at
// once: a LUN the target does not map to this head).
std::unique_ptr<IscsiInitiator> NewSimInitiator(const std::string& dir, const std::string& initiator_name);

// A LUN of an iSCSI session as sysfs shows it.
struct SysfsLun {
  std::string session;   // the session's number, iscsiadm's SID ("3")
  std::string scsi_dir;  // the LUN's SCSI device directory; "" if no LUN has the serial
  std::string block;     // its disk ("sdc"); "" until the kernel has attached it
};
// Looks in sysfs_root (normally "/sys") for the session to iqn and its LUN
// whose unit serial (vpd_pg80, trimmed: tgt pads it) is `serial`. ENOENT if
// there is no session to iqn. Exposed for unit tests.
Status FindSysfsLun(const std::string& sysfs_root, const std::string& iqn, const std::string& serial, SysfsLun* out);

// Parses `iscsiadm -m session -P 3` (exposed for unit tests).
std::vector<IscsiSession> ParseSessionDetails(const std::string& text);

}  // namespace vastsky
