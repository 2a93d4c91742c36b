// IscsiInitiator over iscsiadm and sysfs. Node records are created per
// target and portal (no SendTargets discovery: LIO answers it with every
// target on the box, and the head must only know what the manager told it).
// LUNs are found in sysfs by unit serial: LUN numbers are the target's
// business (each head's ACL maps its legs at numbers of its own).
// The CHAP user and secret are written into the node record file itself,
// never passed to iscsiadm: any user of the host can read a process's argv.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "agents/host/iscsi_initiator.h"
#include "lib/deadline.h"
#include "lib/iscsi_names.h"
#include "lib/state_file.h"
#include "lib/subprocess.h"

namespace vastsky {

std::vector<IscsiSession> ParseSessionDetails(const std::string& text) {
  std::vector<IscsiSession> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t at = line.find_first_not_of(" \t");
    if (at == std::string::npos) continue;
    line = line.substr(at);
    if (line.rfind("Target: ", 0) == 0) {
      IscsiSession s;
      s.iqn = line.substr(8);
      size_t sp = s.iqn.find(' ');  // "(non-flash)" suffix
      if (sp != std::string::npos) s.iqn = s.iqn.substr(0, sp);
      out.push_back(s);
    } else if (line.rfind("Current Portal: ", 0) == 0 && !out.empty()) {
      std::string p = line.substr(16);
      size_t comma = p.find(',');
      out.back().portal = p.substr(0, comma);
    } else if (line.rfind("Attached scsi disk ", 0) == 0 && !out.empty()) {
      std::string d = line.substr(19);
      out.back().device = "/dev/" + d.substr(0, d.find_first_of(" \t"));
    }
  }
  return out;
}

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Trim(const std::string& s) {
  const char* space = " \t\n";
  const std::string t = s.substr(0, s.find('\0'));
  const size_t a = t.find_first_not_of(space);
  return a == std::string::npos ? "" : t.substr(a, t.find_last_not_of(space) - a + 1);
}

// The unit serial in a raw VPD page 0x80 (4-byte header, then the serial).
std::string UnitSerial(const std::string& page) {
  if (page.size() < 4 || static_cast<unsigned char>(page[1]) != 0x80) return "";
  const size_t len = (static_cast<unsigned char>(page[2]) << 8) | static_cast<unsigned char>(page[3]);
  return Trim(page.substr(4, len));
}

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// iscsiadm's key of a record line "key = value" ("" for comments).
std::string RecordKey(const std::string& line) {
  if (line.empty() || line[0] == '#') return "";
  return Trim(line.substr(0, line.find('=')));
}

}  // namespace

std::string NodeRecordDir(const std::string& portal) {
  // Records live in <nodes>/<iqn>/<address>,<port>,<tpgt>/<iface>; an IPv6
  // address goes there without its brackets.
  const size_t colon = portal.rfind(':');
  if (colon == std::string::npos) return "";
  std::string address = portal.substr(0, colon);
  if (address.size() > 2 && address.front() == '[' && address.back() == ']')
    address = address.substr(1, address.size() - 2);
  return address + "," + portal.substr(colon + 1) + ",1";
}

std::string WithChapCredentials(const std::string& record, const std::string& user, const std::string& secret) {
  const std::string ours[] = {"node.session.auth.username", "node.session.auth.password"};
  std::istringstream in(record);
  std::string line, out;
  bool ended = false;
  while (std::getline(in, line)) {
    const std::string key = RecordKey(line);
    if (key == ours[0] || key == ours[1]) continue;
    if (!ended && StartsWith(line, "# END RECORD")) {
      out += ours[0] + " = " + user + "\n" + ours[1] + " = " + secret + "\n";
      ended = true;
    }
    out += line + "\n";
  }
  if (!ended) out += ours[0] + " = " + user + "\n" + ours[1] + " = " + secret + "\n";
  return out;
}

Status FindSysfsLun(const std::string& sysfs_root, const std::string& iqn, const std::string& serial, SysfsLun* out) {
  *out = SysfsLun();
  const std::string sessions = sysfs_root + "/class/iscsi_session";
  for (const std::string& sess : DirEntries(sessions)) {
    if (!StartsWith(sess, "session") || Trim(ReadAll(sessions + "/" + sess + "/targetname")) != iqn) continue;
    if (out->session.empty()) out->session = sess.substr(7);
    // session<N>/device/target<H:C:T>/<H:C:T:L>: the session's SCSI devices.
    const std::string dev = sessions + "/" + sess + "/device";
    for (const std::string& target : DirEntries(dev)) {
      if (!StartsWith(target, "target")) continue;
      for (const std::string& lun : DirEntries(dev + "/" + target)) {
        const std::string dir = dev + "/" + target + "/" + lun;
        if (!isdigit(static_cast<unsigned char>(lun[0])) || UnitSerial(ReadAll(dir + "/vpd_pg80")) != serial) continue;
        out->session = sess.substr(7);
        out->scsi_dir = dir;
        const std::vector<std::string> block = DirEntries(dir + "/block");
        if (!block.empty()) out->block = block[0];
        return Status::OK();
      }
    }
  }
  return out->session.empty() ? Status::Error(ENOENT, "no iSCSI session to " + iqn) : Status::OK();
}

namespace {

class OpenIscsiInitiator : public IscsiInitiator {
 public:
  OpenIscsiInitiator(int timeout_ms, std::string sysfs, std::vector<std::string> node_dirs)
      : timeout_ms_(timeout_ms), sysfs_(std::move(sysfs)), node_dirs_(std::move(node_dirs)) {}

  Status InitiatorName(std::string* name) override {
    std::ifstream in("/etc/iscsi/initiatorname.iscsi");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("InitiatorName=", 0) == 0) {
        *name = line.substr(14);
        return Status::OK();
      }
    return Status::Error(ENOENT, "no InitiatorName in /etc/iscsi/initiatorname.iscsi");
  }

  Status Login(const IscsiLogin& l) override {
    // iscsiadm is not safe to run concurrently against one node database.
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<IscsiSession> sessions;
    VS_RETURN_IF_ERROR(SessionsLocked(&sessions));
    for (const IscsiSession& s : sessions)
      if (s.iqn == l.iqn && s.portal == l.portal) return Status::OK();
    // The ",1" (target portal group) keeps the record in the per-portal
    // layout; without it iscsiadm writes a legacy flat record.
    const std::vector<std::string> node = {"iscsiadm", "-m", "node", "-T", l.iqn, "-p", l.portal + ",1"};
    VS_RETURN_IF_ERROR(Admin(Plus(node, {"-o", "new"}), {0, 15}));
    const std::pair<const char*, std::string> settings[] = {
        {"node.startup", "manual"},
        {"node.session.auth.authmethod", "CHAP"},
    };
    for (const auto& s : settings) VS_RETURN_IF_ERROR(Admin(Plus(node, {"-o", "update", "-n", s.first, "-v", s.second}), {0}));
    Status st = WriteChap(l);
    if (st.ok()) st = Admin(Plus(node, {"--login"}), {0, 15});
    // The login's failure is the answer; a node record that outlives it
    // holds no session and is replaced at the next login.
    if (!st.ok()) (void)Admin(Plus(node, {"-o", "delete"}), {0, 21});
    return st;
  }

  Status LunDevice(const std::string& iqn, const std::string& serial, std::string* device) override {
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + std::chrono::milliseconds(timeout_ms_);
    auto rescan_at = start;  // look once before the first rescan
    for (;;) {
      SysfsLun lun;
      VS_RETURN_IF_ERROR(FindSysfsLun(sysfs_, iqn, serial, &lun));
      // devtmpfs makes the node with the disk: no udev needed.
      if (!lun.block.empty() && access(("/dev/" + lun.block).c_str(), F_OK) == 0) {
        *device = "/dev/" + lun.block;
        return Status::OK();
      }
      const auto now = std::chrono::steady_clock::now();
      if (now > deadline)
        return Status::Error(ETIMEDOUT, "no LUN with serial " + serial + " in the session to " + iqn + " after " +
                                            std::to_string(timeout_ms_ / 1000) + " s: the target does not map it to this head");
      if (lun.scsi_dir.empty() && now >= rescan_at) {
        VS_RETURN_IF_ERROR(Rescan(iqn, lun.session, now));
        rescan_at = now + std::chrono::seconds(2);  // a LUN mapped meanwhile shows at the next
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  Status ForgetLun(const std::string& iqn, const std::string& serial) override {
    SysfsLun lun;
    Status st = FindSysfsLun(sysfs_, iqn, serial, &lun);
    if (st.code() == ENOENT || (st.ok() && lun.scsi_dir.empty())) return Status::OK();
    VS_RETURN_IF_ERROR(st);
    // The kernel flushes the disk's cache on delete, which blocks while the
    // session is down: bounded, and the write then goes on by itself.
    const std::string file = lun.scsi_dir + "/delete";
    return RunWithDeadline(timeout_ms_, "deleting the SCSI device of " + serial, [file] {
      std::ofstream out(file);
      out << "1";
      out.flush();
      return out ? Status::OK() : Status::Error(EIO, "cannot write " + file);
    });
  }

  Status Logout(const std::string& iqn) override {
    std::lock_guard<std::mutex> lock(mu_);
    // 21: no records or sessions found, which is the goal anyway.
    VS_RETURN_IF_ERROR(Admin({"iscsiadm", "-m", "node", "-T", iqn, "--logout"}, {0, 21}));
    return Admin({"iscsiadm", "-m", "node", "-T", iqn, "-o", "delete"}, {0, 21});
  }

  Status Sessions(std::vector<IscsiSession>* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    return SessionsLocked(out);
  }

 private:
  static std::vector<std::string> Plus(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  // Rescans the session unless another call did since `asked` (LUNs of
  // one disk are looked for in parallel: one rescan finds them all).
  Status Rescan(const std::string& iqn, const std::string& sid, std::chrono::steady_clock::time_point asked) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& last = last_rescan_[iqn];
    if (last > asked) return Status::OK();
    last = std::chrono::steady_clock::now();
    Status st = Admin({"iscsiadm", "-m", "session", "-r", sid, "--rescan"}, {0});
    return st.ok() ? st : Status::Error(st.code(), "rescan of the session to " + iqn + ": " + st.message());
  }

  Status SessionsLocked(std::vector<IscsiSession>* out) {
    SubprocessResult r;
    VS_RETURN_IF_ERROR(RunProgram({"iscsiadm", "-m", "session", "-P", "3"}, timeout_ms_, &r));
    if (r.exit_code == 21) return Status::OK();  // no sessions
    if (r.exit_code != 0) return Status::Error(EIO, "iscsiadm -m session: " + r.output);
    *out = ParseSessionDetails(r.output);
    return Status::OK();
  }

  // Runs iscsiadm; exit codes in `ok` count as success (15: session exists,
  // 21: nothing found). A login the target refuses is 24 (authentication:
  // CHAP, or LIO's ACL) or 19 (a non-retryable login status: tgt answers
  // "target not found" to an initiator outside its ACL, as LIO does for a
  // target it does not have); both are EACCES.
  // The record iscsiadm has just made (Debian keeps them under /etc/iscsi,
  // CentOS and so XCP-ng's dom0 under /var/lib/iscsi) gets the credentials.
  Status WriteChap(const IscsiLogin& l) {
    // A line break in either would add lines of its own to the record.
    VS_RETURN_IF_ERROR(CheckChap(l.chap_user, l.chap_secret));
    const std::string portal_dir = NodeRecordDir(l.portal);
    if (portal_dir.empty()) return Status::Error(EINVAL, "portal " + l.portal + " has no port");
    for (const std::string& nodes : node_dirs_) {
      const std::string path = nodes + "/" + l.iqn + "/" + portal_dir + "/default";
      std::string record;
      Status st = ReadStateFile(path, &record);
      if (st.code() == ENOENT) continue;
      if (st.ok()) st = WriteStateFile(path, WithChapCredentials(record, l.chap_user, l.chap_secret), 0600);
      if (!st.ok()) return Status::Error(st.code(), "CHAP credentials into the node record of " + l.iqn + ": " + st.message());
      return Status::OK();
    }
    return Status::Error(ENOENT, "iscsiadm made no node record for " + l.iqn + " at " + portal_dir + " under " +
                                     node_dirs_[0] + " or " + node_dirs_.back());
  }

  Status Admin(const std::vector<std::string>& argv, const std::vector<int>& ok) {
    SubprocessResult r;
    VS_RETURN_IF_ERROR(RunProgram(argv, timeout_ms_, &r));
    for (int code : ok)
      if (r.exit_code == code) return Status::OK();
    std::string what = argv[argv.size() - 1] == "--login" ? "login to " : "iscsiadm on ";
    int err = r.exit_code == 24 || r.exit_code == 19 ? EACCES : (r.exit_code == 8 ? ETIMEDOUT : EIO);
    std::string out = r.output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return Status::Error(err, what + argv[4] + " failed (iscsiadm exit " + std::to_string(r.exit_code) + "): " + out);
  }

  const int timeout_ms_;
  const std::string sysfs_;
  const std::vector<std::string> node_dirs_;
  std::mutex mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_rescan_;  // by iqn
};

}  // namespace

std::unique_ptr<IscsiInitiator> NewOpenIscsiInitiator(int timeout_ms, const std::string& sysfs_root) {
  return std::unique_ptr<IscsiInitiator>(
      new OpenIscsiInitiator(timeout_ms, sysfs_root, {"/etc/iscsi/nodes", "/var/lib/iscsi/nodes"}));
}

}  // namespace vastsky
