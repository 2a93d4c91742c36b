// A storage server's iSCSI target side, behind an interface: one target per
// physical disk, one LUN per leg (named by its serial, LegSerial(chunk)),
// and per allowed initiator an ACL with its own CHAP credentials and the
// LUNs it may see (LIO's mapped LUNs; tgt cannot mask LUNs per initiator,
// see tgt_target.cc). Every call is idempotent, because the agent replays
// them after a restart or reboot. A LUN keeps its number for the life of
// its leg: a head whose session recovers across a storage server reboot
// keeps its SCSI devices by LUN number, without checking serials, so the
// caller records each number and gives it back (LunSpec::lun), and every
// initiator sees a LUN at its target number. Implementations are
// thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/iscsi_names.h"
#include "lib/status.h"

namespace vastsky {

struct TargetSpec {
  std::string iqn;                   // iqn.2010-10.org.vastsky:pdsk-0000000a
  std::vector<std::string> portals;  // "10.0.0.5:3260"
};

// The lowest LUN number a leg gets. LUN 0 is never a leg: for an initiator
// without a mapped LUN 0, LIO answers LUN 0 from its read-only virtual LUN,
// so an unmapped leg at 0 would read zeros on a head instead of failing.
constexpr int kFirstLegLun = 1;

struct LunSpec {
  std::string serial;  // LegSerial(chunk): the head finds the leg by it
  std::string device;  // block device (or regular file, for tests)
  // The target LUN number (tgt: LUN lun + 1). -1 in AddLun: the number the
  // serial has on the target already, else the smallest free one.
  int lun = -1;
};

struct InitiatorAccess {
  std::string initiator;   // the head server's initiator IQN
  std::string chap_user;   // empty: no CHAP (tests only; the agent always sets it)
  std::string chap_secret; // 12..16 characters for LIO
};

struct InitiatorInfo {
  std::string initiator;
  std::vector<std::string> serials;  // the LUNs it sees (tgt: all of them)
  std::vector<int> luns;             // the LUN number it sees each at
};

struct TargetInfo {
  std::string iqn;
  std::vector<LunSpec> luns;
  std::vector<InitiatorInfo> initiators;
};

class IscsiTarget {
 public:
  virtual ~IscsiTarget() = default;
  // Creates or completes the target and its portals; no LUN.
  virtual Status Export(const TargetSpec& spec) = 0;
  // Tears the target down with its LUNs and ACLs; unknown is fine.
  virtual Status Unexport(const std::string& iqn) = 0;
  // Adds the LUN if missing, at lun.lun when that is set; *number (may be
  // null) is its LUN number. ENOENT if the target is not exported; EEXIST if
  // the serial already serves another device, or lun.lun is set and another
  // serial holds that number or this serial is at another number (kept
  // there: a head may use it, and a LUN is never renumbered under a head).
  virtual Status AddLun(const std::string& iqn, const LunSpec& lun, int* number) = 0;
  Status AddLun(const std::string& iqn, const LunSpec& lun) { return AddLun(iqn, lun, nullptr); }
  // Unmaps the LUN from every ACL, then removes it; absent is fine.
  virtual Status RemoveLun(const std::string& iqn, const std::string& serial) = 0;
  // Adds the initiator's ACL or updates its credentials; maps nothing.
  // ENOENT if the target is not exported.
  virtual Status Allow(const std::string& iqn, const InitiatorAccess& access) = 0;
  // Afterwards the initiator sees exactly these LUNs (by serial): the
  // missing are mapped at their target LUN numbers (so a LUN's number is
  // the same to every initiator and across reboots), the rest unmapped.
  // ENOENT if the ACL or one of the LUNs does not exist.
  virtual Status Map(const std::string& iqn, const std::string& initiator,
                     const std::vector<std::string>& serials) = 0;
  // Unmaps everything and removes the ACL; the initiator's sessions end
  // (fencing). Unknown is fine.
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
// tgt (scsi-target-utils) through tgtadm; tgtd must already run (the agent
// never starts it). control_port is tgtd's -C (several tgtds on one host);
// timeout_ms bounds each tgtadm call. See tgt_target.cc for what differs
// from LIO: LUNs from 1 (tgt's LUN 0 is its controller), every allowed
// initiator sees every LUN (no per-initiator masking), CHAP accounts per
// target rather than per initiator, portals decided by tgtd.
std::unique_ptr<IscsiTarget> NewTgtTarget(int control_port = 0, int timeout_ms = 15000);

// What `tgtadm --lld iscsi --mode target --op show` reports, per target.
struct TgtLun {
  int lun = -1;
  std::string type;    // "controller" (LUN 0), "disk"
  std::string serial;  // "SCSI SN"
  std::string path;    // backing store path; empty for "None"
};
struct TgtNexus {      // an I_T nexus: one iSCSI session
  uint64_t sid = 0;
  std::string initiator;
  std::vector<uint32_t> cids;
};
struct TgtTargetShow {
  int tid = 0;
  std::string iqn;
  std::vector<TgtNexus> sessions;
  std::vector<TgtLun> luns;
  std::vector<std::string> accounts;  // incoming CHAP accounts bound to it
  std::vector<std::string> acls;      // initiator addresses and names, as bound
};
std::vector<TgtTargetShow> ParseTgtShow(const std::string& text);
// `tgtadm --lld iscsi --mode conn --op show --tid N`: every connection.
struct TgtConnection {
  uint64_t sid = 0;
  uint32_t cid = 0;
  std::string initiator;
};
std::vector<TgtConnection> ParseTgtConnections(const std::string& text);
// `tgtadm --lld iscsi --mode account --op show`: every account's user name.
std::vector<std::string> ParseTgtAccounts(const std::string& text);


}  // namespace vastsky
