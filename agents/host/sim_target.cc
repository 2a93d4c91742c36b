// IscsiTarget simulated in one state file, for integration tests on a
// machine without configfs. It keeps LIO's rules (EEXIST for a target that
// serves another device, ENOENT for an ACL on a missing target, idempotent
// removal) so the agent above it cannot tell the difference. Line format:
//   target <iqn> <device> <serial> <portal,...>
//   acl <iqn> <initiator> <chap_user|-> <chap_secret|->
#include <cerrno>
#include <map>
#include <sstream>

#include "agents/host/iscsi_target.h"
#include "lib/state_file.h"

namespace vastsky {

namespace {

struct SimExport {
  TargetSpec spec;
  std::map<std::string, InitiatorAccess> acls;
};

bool HasSpace(const std::string& s) { return s.empty() || s.find_first_of(" \t\n") != std::string::npos; }

class SimTarget : public IscsiTarget {
 public:
  explicit SimTarget(std::string path) : path_(std::move(path)) {}

  Status Export(const TargetSpec& spec) override {
    if (HasSpace(spec.iqn) || HasSpace(spec.device) || HasSpace(spec.serial))
      return Status::Error(EINVAL, "sim target: names must be non-empty and without spaces");
    std::map<std::string, SimExport> all;
    VS_RETURN_IF_ERROR(Load(&all));
    auto it = all.find(spec.iqn);
    if (it != all.end() && it->second.spec.device != spec.device)
      return Status::Error(EEXIST, spec.iqn + " already exports " + it->second.spec.device);
    all[spec.iqn].spec = spec;
    return Save(all);
  }

  Status Unexport(const std::string& iqn) override {
    std::map<std::string, SimExport> all;
    VS_RETURN_IF_ERROR(Load(&all));
    if (all.erase(iqn) == 0) return Status::OK();
    return Save(all);
  }

  Status Allow(const std::string& iqn, const InitiatorAccess& access) override {
    if (HasSpace(access.initiator)) return Status::Error(EINVAL, "sim target: bad initiator name");
    std::map<std::string, SimExport> all;
    VS_RETURN_IF_ERROR(Load(&all));
    auto it = all.find(iqn);
    if (it == all.end()) return Status::Error(ENOENT, iqn + " is not exported");
    it->second.acls[access.initiator] = access;
    return Save(all);
  }

  Status Revoke(const std::string& iqn, const std::string& initiator) override {
    std::map<std::string, SimExport> all;
    VS_RETURN_IF_ERROR(Load(&all));
    auto it = all.find(iqn);
    if (it == all.end() || it->second.acls.erase(initiator) == 0) return Status::OK();
    return Save(all);
  }

  Status List(std::vector<TargetInfo>* out) override {
    std::map<std::string, SimExport> all;
    VS_RETURN_IF_ERROR(Load(&all));
    for (const auto& e : all) {
      TargetInfo t{e.first, e.second.spec.device, {}};
      for (const auto& a : e.second.acls) t.initiators.push_back(a.first);
      out->push_back(t);
    }
    return Status::OK();
  }

 private:
  Status Load(std::map<std::string, SimExport>* all) {
    std::string text;
    Status st = ReadStateFile(path_, &text);
    if (st.code() == ENOENT) return Status::OK();
    VS_RETURN_IF_ERROR(st);
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string kind, iqn, a, b, c;
      f >> kind >> iqn >> a >> b >> c;
      if (kind == "target") {
        TargetSpec& s = (*all)[iqn].spec;
        s = TargetSpec{iqn, a, b, {}};
        std::istringstream portals(c == "-" ? "" : c);
        for (std::string p; std::getline(portals, p, ',');) s.portals.push_back(p);
      } else if (kind == "acl") {
        (*all)[iqn].acls[a] = InitiatorAccess{a, b == "-" ? "" : b, c == "-" ? "" : c};
      } else if (!kind.empty()) {
        return Status::Internal(path_ + ": unreadable line '" + line + "'");
      }
    }
    return Status::OK();
  }

  Status Save(const std::map<std::string, SimExport>& all) {
    auto dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
    std::string text;
    for (const auto& e : all) {
      std::string portals;
      for (const std::string& p : e.second.spec.portals) portals += (portals.empty() ? "" : ",") + p;
      text += "target " + e.first + " " + e.second.spec.device + " " + e.second.spec.serial + " " + dash(portals) + "\n";
      for (const auto& a : e.second.acls)
        text += "acl " + e.first + " " + a.first + " " + dash(a.second.chap_user) + " " + dash(a.second.chap_secret) + "\n";
    }
    return WriteStateFile(path_, text, 0600);
  }

  std::string path_;
};

}  // namespace

std::unique_ptr<IscsiTarget> NewSimTarget(const std::string& state_file) {
  return std::unique_ptr<IscsiTarget>(new SimTarget(state_file));
}

}  // namespace vastsky
