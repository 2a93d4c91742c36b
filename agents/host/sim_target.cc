// IscsiTarget simulated in one state file, for tests on a machine without
// configfs. It keeps LIO's rules (ENOENT for a LUN or ACL on a missing
// target, EEXIST for a serial that serves another device, an initiator sees
// exactly its mapped LUNs, idempotent removal) so the agent above it cannot
// tell the difference. Line format:
//   target <iqn> <portal,...|->
//   lun <iqn> <serial> <device> [<number>]
//   acl <iqn> <initiator> <chap_user|-> <chap_secret|-> [<mapped serial> ...]
// A LUN is mapped at its target number, as LIO's are.
#include <algorithm>
#include <cerrno>
#include <map>
#include <mutex>
#include <sstream>

#include "agents/host/iscsi_target.h"
#include "lib/state_file.h"

namespace vastsky {

namespace {

struct SimAcl {
  InitiatorAccess access;
  std::vector<std::string> serials;  // mapped, in mapping order
};

struct SimLun {
  std::string device;
  int number = -1;
};

struct SimExport {
  std::vector<std::string> portals;
  std::map<std::string, SimLun> luns;  // by serial
  std::map<std::string, SimAcl> acls;

  // The serial at LUN number n, "" if none.
  std::string SerialAt(int n) const {
    for (const auto& l : luns)
      if (l.second.number == n) return l.first;
    return "";
  }
  int SmallestFree() const {
    int n = kFirstLegLun;
    while (!SerialAt(n).empty()) ++n;
    return n;
  }
};

using SimState = std::map<std::string, SimExport>;

bool HasSpace(const std::string& s) { return s.empty() || s.find_first_of(" \t\n") != std::string::npos; }

std::string Dash(const std::string& s) { return s.empty() ? std::string("-") : s; }
std::string Undash(const std::string& s) { return s == "-" ? std::string() : s; }

class SimTarget : public IscsiTarget {
 public:
  explicit SimTarget(std::string path) : path_(std::move(path)) {}

  Status Export(const TargetSpec& spec) override {
    if (HasSpace(spec.iqn)) return Status::Error(EINVAL, "sim target: names must be non-empty and without spaces");
    return Change([&](SimState* all) {
      (*all)[spec.iqn].portals = spec.portals;
      return Status::OK();
    });
  }

  Status Unexport(const std::string& iqn) override {
    return Change([&](SimState* all) {
      all->erase(iqn);
      return Status::OK();
    });
  }

  Status AddLun(const std::string& iqn, const LunSpec& lun, int* number) override {
    if (HasSpace(lun.serial) || HasSpace(lun.device)) return Status::Error(EINVAL, "sim target: bad LUN");
    return Change([&](SimState* all) {
      SimExport* e;
      VS_RETURN_IF_ERROR(Find(all, iqn, &e));
      for (const auto& t : *all) {
        auto l = t.second.luns.find(lun.serial);
        if (l != t.second.luns.end() && l->second.device != lun.device)
          return Status::Error(EEXIST, "LUN " + lun.serial + " already serves " + l->second.device);
      }
      auto have = e->luns.find(lun.serial);
      int k = have != e->luns.end() ? have->second.number : lun.lun >= 0 ? lun.lun : e->SmallestFree();
      if (lun.lun >= 0 && k != lun.lun)
        return Status::Error(EEXIST, "LUN " + lun.serial + " is LUN " + std::to_string(k) + " of " + iqn + ", not " +
                                         std::to_string(lun.lun) + " as recorded");
      const std::string there = e->SerialAt(k);
      if (!there.empty() && there != lun.serial)
        return Status::Error(EEXIST, "LUN " + std::to_string(k) + " of " + iqn + " is " + there + ", not " + lun.serial);
      e->luns[lun.serial] = SimLun{lun.device, k};
      if (number) *number = k;
      return Status::OK();
    });
  }

  Status RemoveLun(const std::string& iqn, const std::string& serial) override {
    return Change([&](SimState* all) {
      auto it = all->find(iqn);
      if (it == all->end()) return Status::OK();
      for (auto& a : it->second.acls) {
        std::vector<std::string>& s = a.second.serials;
        s.erase(std::remove(s.begin(), s.end(), serial), s.end());
      }
      it->second.luns.erase(serial);
      return Status::OK();
    });
  }

  Status Allow(const std::string& iqn, const InitiatorAccess& access) override {
    if (HasSpace(access.initiator)) return Status::Error(EINVAL, "sim target: bad initiator name");
    return Change([&](SimState* all) {
      SimExport* e;
      VS_RETURN_IF_ERROR(Find(all, iqn, &e));
      e->acls[access.initiator].access = access;
      return Status::OK();
    });
  }

  Status Map(const std::string& iqn, const std::string& initiator, const std::vector<std::string>& serials) override {
    return Change([&](SimState* all) {
      SimExport* e;
      VS_RETURN_IF_ERROR(Find(all, iqn, &e));
      auto acl = e->acls.find(initiator);
      if (acl == e->acls.end()) return Status::Error(ENOENT, initiator + " has no ACL on " + iqn);
      for (const std::string& s : serials)
        if (!e->luns.count(s)) return Status::Error(ENOENT, "no LUN " + s + " on " + iqn);
      std::vector<std::string>& mapped = acl->second.serials;
      auto wanted = [&](const std::string& s) { return std::find(serials.begin(), serials.end(), s) != serials.end(); };
      mapped.erase(std::remove_if(mapped.begin(), mapped.end(), [&](const std::string& s) { return !wanted(s); }),
                   mapped.end());
      for (const std::string& s : serials)
        if (std::find(mapped.begin(), mapped.end(), s) == mapped.end()) mapped.push_back(s);
      return Status::OK();
    });
  }

  Status Revoke(const std::string& iqn, const std::string& initiator) override {
    return Change([&](SimState* all) {
      auto it = all->find(iqn);
      if (it != all->end()) it->second.acls.erase(initiator);
      return Status::OK();
    });
  }

  Status List(std::vector<TargetInfo>* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    SimState all;
    VS_RETURN_IF_ERROR(Load(&all));
    for (const auto& e : all) {
      TargetInfo t{e.first, {}, {}};
      for (const auto& l : e.second.luns) t.luns.push_back({l.first, l.second.device, l.second.number});
      for (const auto& a : e.second.acls) {
        InitiatorInfo i{a.first, a.second.serials, {}};
        for (const std::string& s : i.serials) i.luns.push_back(e.second.luns.at(s).number);
        t.initiators.push_back(i);
      }
      out->push_back(t);
    }
    return Status::OK();
  }

 private:
  static Status Find(SimState* all, const std::string& iqn, SimExport** e) {
    auto it = all->find(iqn);
    if (it == all->end()) return Status::Error(ENOENT, iqn + " is not exported");
    *e = &it->second;
    return Status::OK();
  }

  // Loads the state, applies fn, and saves it if fn succeeded.
  template <typename Fn>
  Status Change(Fn fn) {
    std::lock_guard<std::mutex> lock(mu_);
    SimState all;
    VS_RETURN_IF_ERROR(Load(&all));
    VS_RETURN_IF_ERROR(fn(&all));
    return Save(all);
  }

  Status Load(SimState* all) {
    std::string text;
    Status st = ReadStateFile(path_, &text);
    if (st.code() == ENOENT) return Status::OK();
    VS_RETURN_IF_ERROR(st);
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string kind, iqn, a, b, c;
      f >> kind >> iqn >> a;
      if (kind == "target") {
        std::istringstream portals(Undash(a));
        SimExport& e = (*all)[iqn];  // also without portals
        for (std::string p; std::getline(portals, p, ',');) e.portals.push_back(p);
      } else if (kind == "lun" && f >> b) {
        SimExport& e = (*all)[iqn];
        int n = -1;
        if (!(f >> n)) n = e.SmallestFree();  // a line from before numbers were kept
        e.luns[a] = SimLun{b, n};
      } else if (kind == "acl" && f >> b >> c) {
        SimAcl& acl = (*all)[iqn].acls[a];
        acl.access = InitiatorAccess{a, Undash(b), Undash(c)};
        for (std::string s; f >> s;) acl.serials.push_back(s);
      } else if (!kind.empty()) {
        return Status::Internal(path_ + ": unreadable line '" + line + "'");
      }
    }
    return Status::OK();
  }

  Status Save(const SimState& all) {
    std::string text;
    for (const auto& e : all) {
      std::string portals;
      for (const std::string& p : e.second.portals) portals += (portals.empty() ? "" : ",") + p;
      text += "target " + e.first + " " + Dash(portals) + "\n";
      for (const auto& l : e.second.luns)
        text += "lun " + e.first + " " + l.first + " " + l.second.device + " " + std::to_string(l.second.number) + "\n";
      for (const auto& a : e.second.acls) {
        text += "acl " + e.first + " " + a.first + " " + Dash(a.second.access.chap_user) + " " +
                Dash(a.second.access.chap_secret);
        for (const std::string& s : a.second.serials) text += " " + s;
        text += "\n";
      }
    }
    return WriteStateFile(path_, text, 0600);
  }

  std::mutex mu_;
  std::string path_;
};

}  // namespace

std::unique_ptr<IscsiTarget> NewSimTarget(const std::string& state_file) {
  return std::unique_ptr<IscsiTarget>(new SimTarget(state_file));
}

}  // namespace vastsky
