// IscsiTarget over tgt (scsi-target-utils): tgtd serves the disks from user
// space and tgtadm configures it. tgtd must already be running (systemctl
// start tgt); the agent never starts it, and says so (ECONNREFUSED) when
// tgtadm cannot reach it. Per disk:
//   target <tid> <iqn>      tid = the pdsk id in the IQN when that is free
//                           (stable across restarts), else the highest + 1;
//                           every call looks the tid up by IQN anyway
//   LUN k+1 per leg         backing store "rdwr", scsi_sn = the leg serial,
//                           k the caller's LunSpec::lun (recorded for the
//                           life of the leg), else the smallest free from kFirstLegLun + 1.
//                           tgt's LUN 0 is its own controller (SCSI type
//                           12, no block device on the head).
//   ACL: initiator names    bind --initiator-name per allowed head. No
//                           address ACL is ever bound: tgt admits a login if
//                           the address OR the name matches.
//   accounts                one CHAP account per head user, bound to the
//                           targets it may use, plus "vastsky-tgt-lock" with a
//                           random secret nobody knows, bound to every
//                           target: tgt only asks for CHAP while a target has
//                           an incoming account, so the lock keeps CHAP
//                           required (LIO's authentication=1) even between
//                           revoking the last head and allowing the next.
//
// What tgt cannot do that LIO does:
//  - No per-initiator LUN masking: every initiator allowed on a target sees
//    every LUN of it, so a head can read the legs of other heads' volumes on
//    that disk. Map only checks that the ACL and the LUNs exist, and List
//    reports every LUN as mapped to every initiator (the truth). Per-leg
//    isolation is LIO only.
//  - CHAP is per target, not per initiator. Any initiator name in a target's
//    ACL logs in with ANY account bound to that target: on a disk two heads
//    may use, head A can present head B's initiator name with A's own
//    secret. Revoking B closes every session that claims B's name (A's
//    too), but revoking A does not close a session A opened under B's name,
//    so fencing A is only sure while A uses its own name. Credentials and
//    names are tied together only when one head at a time is allowed on a
//    disk. (Once A's account is unbound, A cannot log in again under any
//    name.)
//  - Accounts are global in tgtd: one password per user name, for every
//    target, and tgtadm can neither show nor change a password. Giving a
//    head a new secret (or the first Allow after an agent restart, which
//    cannot know the old one) unbinds its account everywhere, deletes it,
//    creates it again and binds it again (the lock account keeps CHAP
//    required meanwhile); a login racing that moment is refused once and
//    retried by the initiator.
//  - Portals: tgtd listens where it was started (--iscsi portal=IP:PORT, by
//    default every address of the network namespace it runs in), for every
//    target. spec.portals is informational: a portal tgtd does not serve is
//    logged, not created.
//  - tgtd keeps nothing across its own restart; the agent re-exports at its
//    start, so restart the agent after restarting tgtd.
//  - tgtd's table of a target's incoming accounts may not have holes (tgt
//    1.0.85 to 1.0.97): "target show" walks the first nr_inaccount slots
//    and dereferences an empty one (tgtd segfaults), and CHAP looks only
//    there (an account past a hole never authenticates). Unbinding an
//    account that is not the last one makes such a hole, so UnbindAccount
//    unbinds from the end back to it and binds the others again; a login
//    with one of those accounts in that instant is refused once. The lock
//    account, bound first, stays in slot 0 and keeps CHAP required.
//  - The CHAP secret is on tgtadm's command line for the moment it runs
//    (tgtadm has no other way to take it).
//  - tgt pads the VPD unit serial (page 0x80) to 36 bytes with leading
//    spaces (seen in /sys/block/sdX/device/vpd_pg80); whoever matches on
//    the serial must trim it. tgtadm's "SCSI SN" shows it unpadded.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "agents/host/iscsi_target.h"
#include "lib/ids.h"
#include "lib/log.h"
#include "lib/subprocess.h"

namespace vastsky {

namespace {

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

bool ParseNumber(const std::string& s, uint64_t* v) {
  if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  *v = std::stoull(s);
  return true;
}

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  for (const std::string& e : v)
    if (e == x) return true;
  return false;
}

}  // namespace

std::vector<TgtTargetShow> ParseTgtShow(const std::string& text) {
  enum Section { kNone, kSystem, kNexus, kLun, kAccount, kAcl } section = kNone;
  std::vector<TgtTargetShow> out;
  std::istringstream in(text);
  std::string raw;
  while (std::getline(in, raw)) {
    const std::string line = Trim(raw);
    if (line.empty()) continue;
    if (raw[0] != ' ' && raw[0] != '\t') {  // "Target 10: iqn.2010-10.org.vastsky:pdsk-0000000a"
      section = kNone;
      size_t colon = line.find(':');
      uint64_t tid;
      if (StartsWith(line, "Target ") && colon != std::string::npos && ParseNumber(line.substr(7, colon - 7), &tid) &&
          tid <= INT_MAX) {
        TgtTargetShow t;
        t.tid = static_cast<int>(tid);
        t.iqn = Trim(line.substr(colon + 1));
        out.push_back(t);
      }
      continue;
    }
    if (out.empty()) continue;
    TgtTargetShow& t = out.back();
    if (line == "System information:") section = kSystem;
    else if (line == "I_T nexus information:") section = kNexus;
    else if (line == "LUN information:") section = kLun;
    else if (line == "Account information:") section = kAccount;
    else if (line == "ACL information:") section = kAcl;
    else if (section == kNexus) {
      uint64_t n;
      if (StartsWith(line, "I_T nexus: ") && ParseNumber(line.substr(11), &n)) {
        TgtNexus nexus;
        nexus.sid = n;
        t.sessions.push_back(nexus);
      } else if (t.sessions.empty()) {
        continue;
      } else if (StartsWith(line, "Initiator: ")) {  // "Initiator: <name> alias: <alias>"
        std::string name = line.substr(11);
        t.sessions.back().initiator = name.substr(0, name.find(' '));
      } else if (StartsWith(line, "Connection: ") && ParseNumber(line.substr(12), &n) && n <= UINT32_MAX) {
        t.sessions.back().cids.push_back(static_cast<uint32_t>(n));
      }
    } else if (section == kLun) {
      uint64_t n;
      if (StartsWith(line, "LUN: ") && ParseNumber(line.substr(5), &n) && n <= INT_MAX) {
        TgtLun lun;
        lun.lun = static_cast<int>(n);
        t.luns.push_back(lun);
      } else if (t.luns.empty()) {
        continue;
      } else if (StartsWith(line, "Type: ")) {
        t.luns.back().type = line.substr(6);
      } else if (StartsWith(line, "SCSI SN: ")) {
        t.luns.back().serial = line.substr(9);
      } else if (StartsWith(line, "Backing store path: ")) {
        std::string path = line.substr(20);
        t.luns.back().path = path == "None" ? "" : path;
      }
    } else if (section == kAccount) {
      // The outgoing (mutual CHAP) account is "<user> (outgoing)".
      if (line.find(' ') == std::string::npos) t.accounts.push_back(line);
    } else if (section == kAcl) {
      t.acls.push_back(line);
    }
  }
  return out;
}

std::vector<TgtConnection> ParseTgtConnections(const std::string& text) {
  // Session: 1
  //     Connection: 0
  //         Initiator: iqn.2024-01.org.vastsky.vmlab:head
  //         IP Address: 10.99.0.254
  std::vector<TgtConnection> out;
  std::istringstream in(text);
  std::string raw;
  bool have_session = false;
  uint64_t sid = 0;
  while (std::getline(in, raw)) {
    const std::string line = Trim(raw);
    uint64_t n = 0;
    if (StartsWith(line, "Session: ")) {
      have_session = ParseNumber(line.substr(9), &n);
      sid = n;
    } else if (have_session && StartsWith(line, "Connection: ") && ParseNumber(line.substr(12), &n) &&
               n <= UINT32_MAX) {
      TgtConnection c;
      c.sid = sid;
      c.cid = static_cast<uint32_t>(n);
      out.push_back(c);
    } else if (!out.empty() && out.back().sid == sid && StartsWith(line, "Initiator: ")) {
      std::string name = line.substr(11);
      out.back().initiator = name.substr(0, name.find(' '));
    }
  }
  return out;
}

std::vector<std::string> ParseTgtAccounts(const std::string& text) {
  // Account list:
  //     lock
  //     vastsky-head
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string raw;
  bool listing = false;
  while (std::getline(in, raw)) {
    const std::string line = Trim(raw);
    if (line == "Account list:") listing = true;
    else if (listing && !line.empty() && line.find(' ') == std::string::npos) out.push_back(line);
  }
  return out;
}

namespace {

const char kLockUser[] = "vastsky-tgt-lock";

bool IsIscsiName(const std::string& s) {
  return StartsWith(s, "iqn.") || StartsWith(s, "eui.") || StartsWith(s, "naa.");
}

// tgtadm packs its options into one "key=value,key=value" string for tgtd,
// which splits it at commas: a comma (or a blank) inside a value would
// become another option.
Status CheckWord(const char* what, const std::string& value) {
  if (value.empty() || value.find_first_of(", \t\n\r") != std::string::npos)
    return Status::Error(EINVAL, std::string("tgt: ") + what + " '" + value +
                                     "' must be non-empty, without commas or blanks");
  return Status::OK();
}

const TgtTargetShow* Find(const std::vector<TgtTargetShow>& all, const std::string& iqn) {
  for (const TgtTargetShow& t : all)
    if (t.iqn == iqn) return &t;
  return nullptr;
}

Status RandomSecret(std::string* out) {
  unsigned char bytes[12];
  FILE* f = fopen("/dev/urandom", "r");
  if (!f) return Status::Error(errno, std::string("/dev/urandom: ") + strerror(errno));
  size_t n = fread(bytes, 1, sizeof bytes, f);
  fclose(f);
  if (n != sizeof bytes) return Status::Error(EIO, "short read from /dev/urandom");
  out->clear();
  char hex[3];
  for (unsigned char b : bytes) {
    snprintf(hex, sizeof hex, "%02x", b);
    *out += hex;
  }
  return Status::OK();
}

class TgtTarget : public IscsiTarget {
 public:
  TgtTarget(int control_port, int timeout_ms) : port_(control_port), timeout_ms_(timeout_ms) {}

  Status Export(const TargetSpec& spec) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(CheckWord("target name", spec.iqn));
    std::vector<TgtTargetShow> all;
    VS_RETURN_IF_ERROR(Show(&all));
    const TgtTargetShow* t = Find(all, spec.iqn);
    int tid;
    if (t) {
      tid = t->tid;
    } else {
      tid = ChooseTid(spec.iqn, all);
      VS_RETURN_IF_ERROR(Adm({"--mode", "target", "--op", "new", "--tid", std::to_string(tid), "--targetname", spec.iqn}));
    }
    if (!t || !Contains(t->accounts, kLockUser)) {
      VS_RETURN_IF_ERROR(EnsureLockAccount());
      VS_RETURN_IF_ERROR(Adm({"--mode", "account", "--op", "bind", "--tid", std::to_string(tid), "--user", kLockUser}));
    }
    WarnUnservedPortals(spec);
    return Status::OK();
  }

  // A LUN is found by its serial; one with the device but another serial is
  // this call's own earlier attempt that stopped between "new" and "update".
  Status AddLun(const std::string& iqn, const LunSpec& lun, int* number) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(CheckWord("device", lun.device));
    VS_RETURN_IF_ERROR(CheckWord("serial", lun.serial));
    if (lun.serial.size() > 36) return Status::Error(EINVAL, "tgt: a SCSI serial has at most 36 characters");
    struct stat st;
    if (stat(lun.device.c_str(), &st) != 0) return Status::Error(ENOENT, lun.device + " does not exist");
    const TgtTargetShow* t = nullptr;
    VS_RETURN_IF_ERROR(Target(iqn, &t));
    const TgtLun* found = nullptr;
    std::map<int, const TgtLun*> at;
    for (const TgtLun& l : t->luns) {
      at[l.lun] = &l;
      if (l.serial == lun.serial && l.path != lun.device)
        return Status::Error(EEXIST, "LUN " + lun.serial + " already serves " + l.path);
      if (l.path == lun.device && (!found || l.serial == lun.serial)) found = &l;
    }
    int n = found ? found->lun : (lun.lun >= 0 ? lun.lun : kFirstLegLun) + 1;  // tgt's LUN 0 is its controller
    while (!found && lun.lun < 0 && at.count(n)) ++n;
    if (lun.lun >= 0 && n != lun.lun + 1)
      return Status::Error(EEXIST, "LUN " + lun.serial + " is tgt LUN " + std::to_string(n) + " of " + iqn +
                                       ", not " + std::to_string(lun.lun + 1) + " as recorded");
    if (!found && at.count(n))
      return Status::Error(EEXIST, "tgt LUN " + std::to_string(n) + " of " + iqn + " is " + at[n]->serial + ", not " +
                                       lun.serial);
    if (number) *number = n - 1;
    const std::string tid = std::to_string(t->tid);
    if (!found)
      VS_RETURN_IF_ERROR(Adm({"--mode", "logicalunit", "--op", "new", "--tid", tid, "--lun", std::to_string(n),
                              "--backing-store", lun.device}));
    if (found && found->serial == lun.serial) return Status::OK();
    return Adm({"--mode", "logicalunit", "--op", "update", "--tid", tid, "--lun", std::to_string(n), "--params",
                "scsi_sn=" + lun.serial});
  }

  Status RemoveLun(const std::string& iqn, const std::string& serial) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<TgtTargetShow> all;
    VS_RETURN_IF_ERROR(Show(&all));
    const TgtTargetShow* t = Find(all, iqn);
    if (!t) return Status::OK();
    for (const TgtLun& l : t->luns)
      if (l.lun != 0 && l.serial == serial)
        VS_RETURN_IF_ERROR(Adm({"--mode", "logicalunit", "--op", "delete", "--tid", std::to_string(t->tid), "--lun",
                                std::to_string(l.lun)}));
    return Status::OK();
  }

  // tgt cannot mask LUNs per initiator (see the top of this file): every
  // allowed initiator sees every LUN whatever this is asked.
  Status Map(const std::string& iqn, const std::string& initiator, const std::vector<std::string>& serials) override {
    std::lock_guard<std::mutex> lock(mu_);
    const TgtTargetShow* t = nullptr;
    VS_RETURN_IF_ERROR(Target(iqn, &t));
    if (!Contains(t->acls, initiator)) return Status::Error(ENOENT, initiator + " has no ACL on " + iqn);
    for (const std::string& serial : serials) {
      bool has = false;
      for (const TgtLun& l : t->luns) has |= l.lun != 0 && l.serial == serial;
      if (!has) return Status::Error(ENOENT, "no LUN " + serial + " on " + iqn);
    }
    return Status::OK();
  }

  Status Unexport(const std::string& iqn) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<TgtTargetShow> all;
    VS_RETURN_IF_ERROR(Show(&all));
    std::set<std::string> users;
    for (const auto& u : users_[iqn])
      if (!u.second.empty()) users.insert(u.second);
    users_.erase(iqn);
    const TgtTargetShow* t = Find(all, iqn);
    if (!t) return Status::OK();
    // --force: tgtd refuses to delete a target with sessions otherwise; this
    // closes them (the disk is going away).
    VS_RETURN_IF_ERROR(Adm({"--mode", "target", "--op", "delete", "--force", "--tid", std::to_string(t->tid)}));
    for (const std::string& user : users) VS_RETURN_IF_ERROR(DeleteIfUnbound(user, t->tid));
    return Status::OK();
  }

  Status Allow(const std::string& iqn, const InitiatorAccess& access) override {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(CheckWord("initiator name", access.initiator));
    if (!access.chap_user.empty()) {
      VS_RETURN_IF_ERROR(CheckWord("CHAP user", access.chap_user));
      if (access.chap_user == kLockUser) return Status::Error(EINVAL, std::string("tgt: CHAP user ") + kLockUser + " is reserved");
      if (access.chap_secret.empty()) return Status::Error(EINVAL, "tgt: a CHAP user needs a secret");
    }
    std::vector<TgtTargetShow> all;
    VS_RETURN_IF_ERROR(Show(&all));
    const TgtTargetShow* t = Find(all, iqn);
    if (!t) return Status::Error(ENOENT, iqn + " is not exported");
    const std::string tid = std::to_string(t->tid);
    // The account first, the name after: the initiator never gets in with
    // a stale secret (and, thanks to the lock account, never without one).
    if (!access.chap_user.empty()) {
      VS_RETURN_IF_ERROR(EnsureAccount(access.chap_user, access.chap_secret, all));
      if (!Contains(t->accounts, access.chap_user))
        VS_RETURN_IF_ERROR(Adm({"--mode", "account", "--op", "bind", "--tid", tid, "--user", access.chap_user}));
    }
    if (!Contains(t->acls, access.initiator))
      VS_RETURN_IF_ERROR(Adm({"--mode", "target", "--op", "bind", "--tid", tid, "--initiator-name", access.initiator}));
    auto& users = users_[iqn];
    auto old = users.find(access.initiator);
    std::string old_user = old == users.end() ? "" : old->second;
    users[access.initiator] = access.chap_user;
    if (!old_user.empty() && old_user != access.chap_user) return Release(iqn, t->tid, old_user);
    return Status::OK();
  }

  Status Revoke(const std::string& iqn, const std::string& initiator) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<TgtTargetShow> all;
    VS_RETURN_IF_ERROR(Show(&all));
    auto& users = users_[iqn];
    auto known = users.find(initiator);
    std::string user = known == users.end() ? "" : known->second;
    if (known != users.end()) users.erase(known);
    const TgtTargetShow* t = Find(all, iqn);
    if (!t) return Status::OK();
    const std::string tid = std::to_string(t->tid);
    // The name first, so the initiator cannot log in again; then its
    // account, if no other initiator of this target uses it; then its live
    // connections, which is what fences a logged-in head (LIO ends the
    // sessions when the ACL goes).
    if (Contains(t->acls, initiator))
      VS_RETURN_IF_ERROR(Adm({"--mode", "target", "--op", "unbind", "--tid", tid, "--initiator-name", initiator}));
    if (!user.empty()) VS_RETURN_IF_ERROR(Release(iqn, t->tid, user));
    return CloseConnections(t->tid, initiator);
  }

  Status List(std::vector<TargetInfo>* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<TgtTargetShow> all;
    VS_RETURN_IF_ERROR(Show(&all));
    for (const TgtTargetShow& t : all) {
      TargetInfo info;
      info.iqn = t.iqn;
      InitiatorInfo sees;  // every initiator sees every LUN
      for (const TgtLun& l : t.luns)
        if (l.lun != 0) {
          info.luns.push_back({l.serial, l.path, l.lun - 1});
          sees.serials.push_back(l.serial);
          sees.luns.push_back(l.lun);
        }
      for (const std::string& acl : t.acls)
        if (IsIscsiName(acl)) {
          sees.initiator = acl;
          info.initiators.push_back(sees);
        }
      out->push_back(info);
    }
    return Status::OK();
  }

 private:
  // Runs tgtadm --lld iscsi ARGS; its output in *out.
  Status Adm(const std::vector<std::string>& args, std::string* out = nullptr) {
    std::vector<std::string> argv = {"tgtadm"};
    if (port_ != 0) argv.insert(argv.end(), {"-C", std::to_string(port_)});
    argv.insert(argv.end(), {"--lld", "iscsi"});
    argv.insert(argv.end(), args.begin(), args.end());
    SubprocessResult r;
    Status st = RunProgram(argv, timeout_ms_, &r);
    if (st.code() == ENOENT) return Status::Error(ENOENT, "tgtadm not found: install tgt (scsi-target-utils)");
    VS_RETURN_IF_ERROR(st);
    if (r.exit_code == 0) {
      if (out) *out = r.output;
      return Status::OK();
    }
    std::string msg = Trim(r.output);
    // tgtadm exits with connect()'s or write()'s errno when it cannot talk
    // to tgtd (no socket: "failed to send request hdr ... not connected").
    if (r.exit_code == ENOTCONN || r.exit_code == ECONNREFUSED || msg.find("tgt daemon") != std::string::npos)
      return Status::Error(ECONNREFUSED, std::string("tgtd is not running: start it (systemctl start tgt)") +
                                             (port_ ? " with control port " + std::to_string(port_) : "") + " [" +
                                             msg + "]");
    // Every refusal from tgtd itself is exit 22 with a sentence.
    int code = EIO;
    if (msg.find("can't find") != std::string::npos) code = ENOENT;
    else if (msg.find("already exists") != std::string::npos) code = EEXIST;
    std::string what;
    for (size_t i = 0; i < args.size(); ++i) {
      const bool secret = i > 0 && args[i - 1] == "--password";
      what += (what.empty() ? "" : " ") + (secret ? std::string("***") : args[i]);
    }
    return Status::Error(code, "tgtadm " + what + " (exit " + std::to_string(r.exit_code) + "): " + msg);
  }

  // The target iqn as tgtd shows it now (valid until the next Show); ENOENT
  // if it is not exported.
  Status Target(const std::string& iqn, const TgtTargetShow** t) {
    VS_RETURN_IF_ERROR(Show(&shown_));
    *t = Find(shown_, iqn);
    return *t ? Status::OK() : Status::Error(ENOENT, iqn + " is not exported");
  }

  Status Show(std::vector<TgtTargetShow>* all) {
    std::string text;
    VS_RETURN_IF_ERROR(Adm({"--mode", "target", "--op", "show"}, &text));
    *all = ParseTgtShow(text);
    return Status::OK();
  }

  Status Accounts(std::vector<std::string>* users) {
    std::string text;
    VS_RETURN_IF_ERROR(Adm({"--mode", "account", "--op", "show"}, &text));
    *users = ParseTgtAccounts(text);
    return Status::OK();
  }

  // The pdsk id in the IQN when no target has it as tid yet, so a disk keeps
  // its tid across agent and tgtd restarts; otherwise one past the highest.
  static int ChooseTid(const std::string& iqn, const std::vector<TgtTargetShow>& all) {
    std::set<int> used;
    int highest = 0;
    for (const TgtTargetShow& t : all) {
      used.insert(t.tid);
      highest = std::max(highest, t.tid);
    }
    int64_t id;
    size_t colon = iqn.rfind(':');
    if (colon != std::string::npos && ParseId(iqn.substr(colon + 1), "pdsk", &id) && id >= 1 && id <= INT_MAX &&
        !used.count(static_cast<int>(id)))
      return static_cast<int>(id);
    return highest + 1;
  }

  Status EnsureLockAccount() {
    std::vector<std::string> users;
    VS_RETURN_IF_ERROR(Accounts(&users));
    if (Contains(users, kLockUser)) return Status::OK();
    std::string secret;
    VS_RETURN_IF_ERROR(RandomSecret(&secret));
    return Adm({"--mode", "account", "--op", "new", "--user", kLockUser, "--password", secret});
  }

  // Creates USER with SECRET, or gives it SECRET. tgt cannot show or update
  // a password: an account this process did not set, or set to another
  // secret, is unbound from every target that has it, deleted, created
  // again and bound again to those targets. (Deleting a bound account would
  // unbind it in place, leaving holes: see UnbindAccount.)
  Status EnsureAccount(const std::string& user, const std::string& secret, const std::vector<TgtTargetShow>& all) {
    std::vector<std::string> users;
    VS_RETURN_IF_ERROR(Accounts(&users));
    const bool exists = Contains(users, user);
    auto known = secrets_.find(user);
    if (exists && known != secrets_.end() && known->second == secret) return Status::OK();
    std::vector<int> bound;
    for (const TgtTargetShow& t : all)
      if (Contains(t.accounts, user)) bound.push_back(t.tid);
    for (int tid : bound) VS_RETURN_IF_ERROR(UnbindAccount(tid, user));
    if (exists) VS_RETURN_IF_ERROR(Adm({"--mode", "account", "--op", "delete", "--user", user}));
    secrets_.erase(user);
    VS_RETURN_IF_ERROR(Adm({"--mode", "account", "--op", "new", "--user", user, "--password", secret}));
    secrets_[user] = secret;
    for (int tid : bound)
      VS_RETURN_IF_ERROR(Adm({"--mode", "account", "--op", "bind", "--tid", std::to_string(tid), "--user", user}));
    return Status::OK();
  }

  // Unbinds USER from target TID without leaving a hole in tgtd's account
  // table (see the top of this file): the accounts bound after it, from the
  // last one back, then USER, then the others bound again in their order.
  // Works on a fresh show, since "target show" lists the table in slot order.
  Status UnbindAccount(int tid, const std::string& user) {
    std::vector<TgtTargetShow> all;
    VS_RETURN_IF_ERROR(Show(&all));
    std::vector<std::string> accounts;
    for (const TgtTargetShow& t : all)
      if (t.tid == tid) accounts = t.accounts;
    auto at = std::find(accounts.begin(), accounts.end(), user);
    if (at == accounts.end()) return Status::OK();
    const std::string tid_s = std::to_string(tid);
    const std::vector<std::string> after(at + 1, accounts.end());
    for (auto it = accounts.rbegin(); it != accounts.rend(); ++it) {
      VS_RETURN_IF_ERROR(Adm({"--mode", "account", "--op", "unbind", "--tid", tid_s, "--user", *it}));
      if (*it == user) break;
    }
    for (const std::string& a : after)
      VS_RETURN_IF_ERROR(Adm({"--mode", "account", "--op", "bind", "--tid", tid_s, "--user", a}));
    return Status::OK();
  }

  // USER no longer serves some initiator of target T: unbind it from T if
  // no other initiator there uses it, and delete it once no target has it.
  Status Release(const std::string& iqn, int tid, const std::string& user) {
    for (const auto& u : users_[iqn])
      if (u.second == user) return Status::OK();
    VS_RETURN_IF_ERROR(UnbindAccount(tid, user));
    return DeleteIfUnbound(user, tid);
  }

  // Deletes an account this process created once no target other than
  // `gone` has it bound, so no secret stays in tgtd longer than needed.
  Status DeleteIfUnbound(const std::string& user, int gone) {
    if (!secrets_.count(user)) return Status::OK();
    std::vector<TgtTargetShow> all;
    VS_RETURN_IF_ERROR(Show(&all));
    for (const TgtTargetShow& t : all)
      if (t.tid != gone && Contains(t.accounts, user)) return Status::OK();
    Status st = Adm({"--mode", "account", "--op", "delete", "--user", user});
    if (!st.ok() && st.code() != ENOENT) return st;
    secrets_.erase(user);
    return Status::OK();
  }

  // Closes every connection INITIATOR has to target TID and waits until
  // tgtd lists none (the initiator cannot log in again: its name is gone).
  Status CloseConnections(int tid, const std::string& initiator) {
    const std::string tid_s = std::to_string(tid);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::min(timeout_ms_, 5000));
    for (;;) {
      std::string text;
      VS_RETURN_IF_ERROR(Adm({"--mode", "conn", "--op", "show", "--tid", tid_s}, &text));
      std::vector<TgtConnection> open;
      for (const TgtConnection& c : ParseTgtConnections(text))
        if (c.initiator == initiator) open.push_back(c);
      if (open.empty()) return Status::OK();
      if (std::chrono::steady_clock::now() > deadline)
        return Status::Error(ETIMEDOUT, initiator + " still has " + std::to_string(open.size()) +
                                            " connection(s) to tid " + tid_s + " after closing them");
      for (const TgtConnection& c : open) {
        // ENOENT: the session or connection ended meanwhile.
        Status st = Adm({"--mode", "conn", "--op", "delete", "--tid", tid_s, "--sid", std::to_string(c.sid), "--cid",
                         std::to_string(c.cid)});
        if (!st.ok() && st.code() != ENOENT) return st;
        VS_LOG_INFO("tgt: closed connection %u of session %llu of %s to tid %d", c.cid,
                    static_cast<unsigned long long>(c.sid), initiator.c_str(), tid);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  // tgtd serves whatever portals it listens on, for every target.
  void WarnUnservedPortals(const TargetSpec& spec) {
    if (spec.portals.empty()) return;
    std::string text;
    if (!Adm({"--mode", "portal", "--op", "show"}, &text).ok()) return;
    std::set<std::string> served;  // "10.99.0.1:3260", "[::]:3260"
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      line = Trim(line);
      if (!StartsWith(line, "Portal: ")) continue;
      std::string p = line.substr(8);
      served.insert(p.substr(0, p.rfind(',')));
    }
    for (const std::string& p : spec.portals) {
      size_t colon = p.rfind(':');
      const std::string port = colon == std::string::npos ? ":3260" : p.substr(colon);
      if (served.count(p) || served.count("0.0.0.0" + port) || served.count("[::]" + port)) continue;
      if (warned_.insert(p).second)
        VS_LOG_WARN("tgt: tgtd does not listen on %s (it decides its portals; start it with --iscsi portal=%s)",
                    p.c_str(), p.c_str());
    }
  }

  const int port_;
  const int timeout_ms_;
  std::mutex mu_;
  // Which CHAP user each allowed initiator has, per target IQN: tgt binds
  // accounts to targets, not to initiators, so only this says when an
  // account is no longer needed. Rebuilt at start-up, when the agent
  // re-applies its recorded ACLs.
  std::map<std::string, std::map<std::string, std::string>> users_;
  std::map<std::string, std::string> secrets_;  // accounts this process set
  std::set<std::string> warned_;
  std::vector<TgtTargetShow> shown_;  // Target()'s latest show
};

}  // namespace

std::unique_ptr<IscsiTarget> NewTgtTarget(int control_port, int timeout_ms) {
  return std::unique_ptr<IscsiTarget>(new TgtTarget(control_port, timeout_ms));
}

}  // namespace vastsky
