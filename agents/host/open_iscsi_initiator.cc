// IscsiInitiator over iscsiadm. Node records are created per target and
// portal (no SendTargets discovery: LIO answers it with every target on the
// box, and the head must only know what the manager told it).
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "agents/host/iscsi_initiator.h"
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

class OpenIscsiInitiator : public IscsiInitiator {
 public:
  explicit OpenIscsiInitiator(int timeout_ms) : timeout_ms_(timeout_ms) {}

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

  Status Login(const IscsiLogin& l, std::string* device) override {
    // iscsiadm is not safe to run concurrently against one node database.
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<IscsiSession> sessions;
    VS_RETURN_IF_ERROR(SessionsLocked(&sessions));
    bool logged_in = false;
    for (const IscsiSession& s : sessions) logged_in |= s.iqn == l.iqn && s.portal == l.portal;
    if (!logged_in) {
      // The ",1" (target portal group) keeps the record in the per-portal
      // layout; without it iscsiadm writes a legacy flat record.
      const std::vector<std::string> node = {"iscsiadm", "-m", "node", "-T", l.iqn, "-p", l.portal + ",1"};
      VS_RETURN_IF_ERROR(Admin(Plus(node, {"-o", "new"}), {0, 15}));
      const std::pair<const char*, std::string> settings[] = {
          {"node.startup", "manual"},
          {"node.session.auth.authmethod", "CHAP"},
          {"node.session.auth.username", l.chap_user},
          {"node.session.auth.password", l.chap_secret},
      };
      for (const auto& s : settings) VS_RETURN_IF_ERROR(Admin(Plus(node, {"-o", "update", "-n", s.first, "-v", s.second}), {0}));
      Status st = Admin(Plus(node, {"--login"}), {0, 15});
      if (!st.ok()) {
        // The login's failure is the answer; a node record that outlives
        // it holds no session and is replaced at the next login.
        (void)Admin(Plus(node, {"-o", "delete"}), {0, 21});
        return st;
      }
    }
    // The SCSI disk shows up shortly after the login returns.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
    for (;;) {
      sessions.clear();
      VS_RETURN_IF_ERROR(SessionsLocked(&sessions));
      for (const IscsiSession& s : sessions)
        if (s.iqn == l.iqn && s.portal == l.portal && !s.device.empty() && access(s.device.c_str(), F_OK) == 0) {
          *device = s.device;
          return Status::OK();
        }
      if (std::chrono::steady_clock::now() > deadline)
        return Status::Error(ETIMEDOUT, "logged in to " + l.iqn + " but no disk appeared");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
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

  int timeout_ms_;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<IscsiInitiator> NewOpenIscsiInitiator(int timeout_ms) {
  return std::unique_ptr<IscsiInitiator>(new OpenIscsiInitiator(timeout_ms));
}

}  // namespace vastsky
