// Store: storage servers, head servers and their disks.
#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <set>

#include "lib/ids.h"
#include "lib/iscsi_names.h"
#include "lib/rpc_client.h"
#include "lib/secret.h"
#include "lib/health_words.h"
#include "manager/store.h"

namespace vastsky {

namespace {

Status CheckIps(const std::vector<std::string>& ips) {
  if (ips.empty() || ips.size() > 8) return Status::Error(EINVAL, "ip_data needs 1 to 8 addresses");
  std::set<std::string> seen;
  for (const std::string& ip : ips) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, ip.c_str(), buf) != 1 && inet_pton(AF_INET6, ip.c_str(), buf) != 1)
      return Status::Error(EINVAL, "'" + ip + "' is not an IPv4 or IPv6 address");
    if (!seen.insert(ip).second) return Status::Error(EINVAL, "address " + ip + " is listed twice");
  }
  return Status::OK();
}

Status CheckDomain(const std::string& d) {
  if (d.size() > 64) return Status::Error(EINVAL, "a failure domain name has at most 64 characters");
  for (char c : d)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' || c == '-'))
      return Status::Error(EINVAL, "a failure domain uses only letters, digits and . _ : -");
  return Status::OK();
}

Status CheckDiskPath(const std::string& p) {
  if (p.empty() || p[0] != '/' || p.size() > 1024)
    return Status::Error(EINVAL, "local_path must be an absolute path of at most 1024 bytes");
  for (char c : p)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return Status::Error(EINVAL, "local_path contains control characters");
  for (size_t at = 1; at <= p.size();) {
    size_t end = p.find('/', at);
    if (end == std::string::npos) end = p.size();
    std::string part = p.substr(at, end - at);
    if (part == "." || part == "..") return Status::Error(EINVAL, "local_path must not contain '.' or '..' components");
    at = end + 1;
  }
  return Status::OK();
}

// An agent's URL: https://, or http:// to loopback only (the manager sends
// the cluster secret on every call), no whitespace, bounded; "" is none.
Status CheckUrl(const std::string& url) {
  if (url.empty()) return Status::OK();
  if (url.size() > 1024) return Status::Error(EINVAL, "url has more than 1024 characters");
  for (char c : url)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return Status::Error(EINVAL, "url contains whitespace or control characters");
  return CheckCallUrl("url", url);
}

// Heads upgraded from schema 2 have none yet: they get theirs at their next
// registration. 16 characters, the most LIO accepts.
Status EnsureChap(Db& db, int64_t hsvr_id) {
  Stmt q(db, "SELECT chap_user FROM hsvr WHERE id = ?1");
  q.Bind(1, hsvr_id);
  if (!q.Step()) return q.status().ok() ? Status::Internal("hsvr " + std::to_string(hsvr_id) + " vanished") : q.status();
  if (!q.Text(0).empty()) return Status::OK();
  std::string secret;
  VS_RETURN_IF_ERROR(RandomString(16, kAlphanumeric, &secret));
  Stmt up(db, "UPDATE hsvr SET chap_user = ?2, chap_secret = ?3 WHERE id = ?1");
  return up.Bind(1, hsvr_id).Bind(2, "vastsky-" + FormatId("hsvr", hsvr_id)).Bind(3, secret).Run();
}

// Records what an agent said about itself at registration (null: unchanged).
// A head with an agent must name its initiator: the manager grants disk
// access by it.
Status SetAgentContact(Db& db, const char* kind, int64_t id, const std::string* url, const std::string* initiator) {
  if (url) {
    std::string sql = std::string("UPDATE ") + kind + " SET url = ?2 WHERE id = ?1";
    Stmt up(db, sql.c_str());
    VS_RETURN_IF_ERROR(up.Bind(1, id).Bind(2, *url).Run());
  }
  if (initiator) {
    // Disk access is granted by initiator name: two heads sharing one (a
    // cloned host) would get each other's disks and lose them together.
    Stmt other(db, "SELECT id FROM hsvr WHERE initiator = ?2 AND id != ?1");
    other.Bind(1, id).Bind(2, *initiator);
    if (other.Step())
      return Status::Error(EEXIST, "initiator " + *initiator + " belongs to " + FormatId("hsvr", other.Int(0)) +
                                       "; give each head its own (/etc/iscsi/initiatorname.iscsi)");
    VS_RETURN_IF_ERROR(other.status());
    // The storage agents granted the old name: revoking it later needs it.
    Stmt busy(db,
              "SELECT count(*) FROM hsvr h JOIN attachment a ON a.hsvr_id = h.id "
              "WHERE h.id = ?1 AND h.initiator != '' AND h.initiator != ?2");
    busy.Bind(1, id).Bind(2, *initiator);
    if (busy.Step() && busy.Int(0) > 0)
      return Status::Error(EBUSY, FormatId("hsvr", id) + " has " + std::to_string(busy.Int(0)) +
                                      " volumes attached under its old initiator name; detach them first");
    VS_RETURN_IF_ERROR(busy.status());
    Stmt up(db, "UPDATE hsvr SET initiator = ?2 WHERE id = ?1");
    VS_RETURN_IF_ERROR(up.Bind(1, id).Bind(2, *initiator).Run());
  }
  if (std::string(kind) != "hsvr") return Status::OK();
  Stmt q(db, "SELECT url != '' AND initiator = '' FROM hsvr WHERE id = ?1");
  q.Bind(1, id);
  if (q.Step() && q.Int(0)) return Status::Error(EINVAL, "a head server with an agent url needs its initiator name");
  return q.status();
}

std::string FormatWeight(double w) {
  char buf[16];
  snprintf(buf, sizeof buf, "%.2f", w);
  return buf;
}

bool Live(int priority) { return priority != kOffline && priority != kHalt; }

// True if server `id` (in table ssvr or hsvr) has exactly the addresses ips.
Status SameIps(Db& db, const char* kind, int64_t id, const std::vector<std::string>& ips, bool* same) {
  std::string sql = std::string("SELECT ip FROM ") + kind + "_ip WHERE " + kind + "_id = ?1";
  Stmt q(db, sql.c_str());
  q.Bind(1, id);
  std::set<std::string> have;
  while (q.Step()) have.insert(q.Text(0));
  *same = have == std::set<std::string>(ips.begin(), ips.end());
  return q.status();
}

Status Touch(Db& db, const char* kind, int64_t id) {
  std::string sql = std::string("UPDATE ") + kind + " SET last_seen = ?2 WHERE id = ?1";
  Stmt up(db, sql.c_str());
  return up.Bind(1, id).Bind(2, NowIso8601()).Run();
}

// Finds the one server (in table ssvr or hsvr) owning any of ips; 0 if none,
// EEXIST if they belong to several.
Status FindOwner(Db& db, const char* kind, const std::vector<std::string>& ips, int64_t* owner) {
  std::string sql = std::string("SELECT ") + kind + "_id FROM " + kind + "_ip WHERE ip = ?1";
  Stmt q(db, sql.c_str());
  *owner = 0;
  for (const std::string& ip : ips) {
    q.Reset();
    q.Bind(1, ip);
    if (q.Step()) {
      if (*owner != 0 && *owner != q.Int(0))
        return Status::Error(EEXIST, "the addresses belong to different registered servers");
      *owner = q.Int(0);
    }
    VS_RETURN_IF_ERROR(q.status());
  }
  return Status::OK();
}

Status InsertIps(Db& db, const char* kind, int64_t id, const std::vector<std::string>& ips) {
  std::string del = std::string("DELETE FROM ") + kind + "_ip WHERE " + kind + "_id = ?1";
  Stmt d(db, del.c_str());
  VS_RETURN_IF_ERROR(d.Bind(1, id).Run());
  std::string sql = std::string("INSERT INTO ") + kind + "_ip(" + kind + "_id, idx, ip) VALUES (?1, ?2, ?3)";
  Stmt ins(db, sql.c_str());
  for (size_t i = 0; i < ips.size(); ++i)
    VS_RETURN_IF_ERROR(ins.Bind(1, id).Bind(2, static_cast<int64_t>(i)).Bind(3, ips[i]).Run());
  return Status::OK();
}

Status LoadIps(Db& db, const char* kind, std::map<int64_t, std::vector<std::string>>* out) {
  std::string sql = std::string("SELECT ") + kind + "_id, ip FROM " + kind + "_ip ORDER BY " + kind + "_id, idx";
  Stmt q(db, sql.c_str());
  while (q.Step()) (*out)[q.Int(0)].push_back(q.Text(1));
  return q.status();
}

}  // namespace

Status Store::Reregister(const char* kind, int64_t owner, const std::vector<std::string>& ips, bool reconnect,
                         bool* reconnected) {
  int prio;
  VS_RETURN_IF_ERROR(GetPriority(kind, owner, &prio));
  const bool alive = Live(prio) && prio != kFaulty;
  bool same = false;
  if (alive && reconnect) VS_RETURN_IF_ERROR(SameIps(db_, kind, owner, ips, &same));
  *reconnected = alive && same;
  // A restarted agent keeps its priority (maybe set by an admin).
  if (*reconnected) return Status::OK();
  if (alive)
    return Status::Error(EEXIST, FormatId(kind, owner) + " is registered and alive");
  std::string sql = std::string("UPDATE ") + kind + " SET priority = 1 WHERE id = ?1";
  Stmt up(db_, sql.c_str());
  VS_RETURN_IF_ERROR(up.Bind(1, owner).Run());
  return InsertIps(db_, kind, owner, ips);
}

Status Store::RegisterHeadServer(const std::vector<std::string>& ips, int64_t* id, bool reconnect,
                                 const std::string* url, const std::string* initiator, const Caller* caller) {
  VS_RETURN_IF_ERROR(CheckIps(ips));
  if (url) VS_RETURN_IF_ERROR(CheckUrl(*url));
  std::string why;
  if (initiator && !ValidIscsiName(*initiator, &why)) return Status::Error(EINVAL, "initiator: " + why);
  return Mutate([&](Change*) {
    int64_t owner;
    VS_RETURN_IF_ERROR(FindOwner(db_, "hsvr", ips, &owner));
    bool reconnected = false;
    if (owner != 0) {
      VS_RETURN_IF_ERROR(Reregister("hsvr", owner, ips, reconnect, &reconnected));
      *id = owner;
    } else {
      VS_RETURN_IF_ERROR(NextIds("hsvr", 1, id));
      Stmt ins(db_, "INSERT INTO hsvr(id, priority, ctime) VALUES (?1, 1, ?2)");
      VS_RETURN_IF_ERROR(ins.Bind(1, *id).Bind(2, NowIso8601()).Run());
      VS_RETURN_IF_ERROR(InsertIps(db_, "hsvr", *id, ips));
    }
    VS_RETURN_IF_ERROR(BindCredential("hsvr", caller, *id, owner == 0));
    VS_RETURN_IF_ERROR(SetAgentContact(db_, "hsvr", *id, url, initiator));
    VS_RETURN_IF_ERROR(EnsureChap(db_, *id));
    VS_RETURN_IF_ERROR(Touch(db_, "hsvr", *id));
    return AddEvent("info", "register", "hsvr", *id,
                    reconnected ? "head agent reconnected"
                    : owner     ? "head server back online"
                                : "head server registered at " + ips[0]);
  });
}

Status Store::RegisterStorageServer(const std::vector<std::string>& ips, const std::string* domain,
                                    int64_t* id, bool reconnect, const std::string* url, const Caller* caller) {
  VS_RETURN_IF_ERROR(CheckIps(ips));
  if (domain) VS_RETURN_IF_ERROR(CheckDomain(*domain));
  if (url) VS_RETURN_IF_ERROR(CheckUrl(*url));
  return Mutate([&](Change* change) {
    int64_t owner;
    VS_RETURN_IF_ERROR(FindOwner(db_, "ssvr", ips, &owner));
    bool reconnected = false;
    if (owner != 0) {
      VS_RETURN_IF_ERROR(Reregister("ssvr", owner, ips, reconnect, &reconnected));
      *id = owner;
    } else {
      VS_RETURN_IF_ERROR(NextIds("ssvr", 1, id));
      Stmt ins(db_, "INSERT INTO ssvr(id, priority, ctime) VALUES (?1, 1, ?2)");
      VS_RETURN_IF_ERROR(ins.Bind(1, *id).Bind(2, NowIso8601()).Run());
      VS_RETURN_IF_ERROR(InsertIps(db_, "ssvr", *id, ips));
    }
    VS_RETURN_IF_ERROR(BindCredential("ssvr", caller, *id, owner == 0));
    if (domain) {
      Stmt d(db_, "UPDATE ssvr SET domain = ?2 WHERE id = ?1");
      VS_RETURN_IF_ERROR(d.Bind(1, *id).Bind(2, *domain).Run());
      alloc_.SetServerDomain(*id, *domain);
      change->specs_changed = true;
    }
    VS_RETURN_IF_ERROR(SetAgentContact(db_, "ssvr", *id, url, nullptr));
    VS_RETURN_IF_ERROR(RefreshAllocatable(*id, change));
    VS_RETURN_IF_ERROR(Touch(db_, "ssvr", *id));
    return AddEvent("info", "register", "ssvr", *id,
                    reconnected ? "storage agent reconnected"
                    : owner     ? "storage server back online"
                                : "storage server registered at " + ips[0]);
  });
}

// A disk's slots: its pool's data size times the overcommit ratio.
int64_t Store::SlotMib(int64_t pool_mib) const {
  return static_cast<int64_t>(static_cast<double>(pool_mib) * overcommit_);
}

Status Store::ResizeSlots(int64_t pdsk_id, int64_t new_size, Change* change) {
  Stmt q(db_,
         "SELECT p.ssvr_id, p.size_mib, p.weight, p.priority, s.priority FROM pdsk p JOIN ssvr s ON s.id = p.ssvr_id "
         "WHERE p.id = ?1");
  q.Bind(1, pdsk_id);
  if (!q.Step()) return q.status().ok() ? Status::Error(ENOENT, "no disk " + FormatId("pdsk", pdsk_id)) : q.status();
  const int64_t old_size = q.Int(1);
  DiskSpec spec{pdsk_id, q.Int(0), new_size, q.Double(2),
                DiskTakesLegs(pdsk_id, static_cast<int>(q.Int(3)), static_cast<int>(q.Int(4)))};
  q.Reset();
  if (new_size == old_size) return Status::OK();
  std::vector<Extent> free;
  if (const auto* fl = alloc_.FreeList(pdsk_id))
    for (const auto& e : *fl) free.push_back({e.first, e.second});
  if (new_size < old_size) {
    // Only free space may go: the tail [new_size, old_size) must be one free extent's end.
    if (free.empty() || free.back().offset + free.back().length != old_size || free.back().offset > new_size)
      return Status::Error(EBUSY, FormatId("pdsk", pdsk_id) + " has legs reserved beyond " +
                                      std::to_string(new_size) + " MiB: they would not fit");
    Extent& tail = free.back();
    tail.length = new_size - tail.offset;
    Stmt up(db_, "UPDATE free_extent SET length_mib = ?3 WHERE pdsk_id = ?1 AND offset_mib = ?2");
    Stmt del(db_, "DELETE FROM free_extent WHERE pdsk_id = ?1 AND offset_mib = ?2");
    if (tail.length > 0) VS_RETURN_IF_ERROR(up.Bind(1, pdsk_id).Bind(2, tail.offset).Bind(3, tail.length).Run());
    else VS_RETURN_IF_ERROR(del.Bind(1, pdsk_id).Bind(2, tail.offset).Run());
    if (tail.length == 0) free.pop_back();
  }
  Stmt up(db_, "UPDATE pdsk SET size_mib = ?2 WHERE id = ?1");
  VS_RETURN_IF_ERROR(up.Bind(1, pdsk_id).Bind(2, new_size).Run());
  alloc_.AddDisk(spec, free);
  change->specs_changed = true;
  // A larger disk's new tail is free space, released through the journal.
  if (new_size > old_size) alloc_.Free(pdsk_id, old_size, new_size - old_size, &change->journal);
  return Status::OK();
}

// Which record a registration names: the disk's label (label_pdsk, this
// server's disk or nothing), else the same path on the same server.
Status Store::FindDiskRecord(int64_t ssvr_id, const std::string& path, const int64_t* label_pdsk, int64_t* id) {
  *id = 0;
  if (!label_pdsk) {
    Stmt find(db_, "SELECT id FROM pdsk WHERE ssvr_id = ?1 AND local_path = ?2");
    find.Bind(1, ssvr_id).Bind(2, path);
    if (find.Step()) *id = find.Int(0);
    return find.status();
  }
  Stmt q(db_, "SELECT ssvr_id FROM pdsk WHERE id = ?1");
  q.Bind(1, *label_pdsk);
  if (!q.Step()) {
    VS_RETURN_IF_ERROR(q.status());
    return Status::Error(ENOENT, path + " is labelled " + FormatId("pdsk", *label_pdsk) +
                                     ", a disk this manager does not know (deleted, or a database restored from "
                                     "an old backup); wipe it to use it again");
  }
  if (q.Int(0) != ssvr_id)
    return Status::Error(EEXIST, path + " is labelled " + FormatId("pdsk", *label_pdsk) + " of " +
                                     FormatId("ssvr", q.Int(0)) + ", not of " + FormatId("ssvr", ssvr_id));
  q.Reset();
  // Its path may have changed (device names are not stable): the label says which disk it is.
  Stmt other(db_, "SELECT id FROM pdsk WHERE ssvr_id = ?1 AND local_path = ?2 AND id != ?3");
  other.Bind(1, ssvr_id).Bind(2, path).Bind(3, *label_pdsk);
  if (other.Step())
    return Status::Error(EEXIST, path + " is recorded as " + FormatId("pdsk", other.Int(0)) + " but labelled " +
                                     FormatId("pdsk", *label_pdsk));
  VS_RETURN_IF_ERROR(other.status());
  Stmt up(db_, "UPDATE pdsk SET local_path = ?2 WHERE id = ?1");
  VS_RETURN_IF_ERROR(up.Bind(1, *label_pdsk).Bind(2, path).Run());
  *id = *label_pdsk;
  return Status::OK();
}

Status Store::RegisterPhysicalDisk(int64_t ssvr_id, const std::string& path, int64_t sectors,
                                   int64_t* id, bool reconnect, const int64_t* label_pdsk) {
  VS_RETURN_IF_ERROR(CheckDiskPath(path));
  const int64_t pool_mib = sectors / 2048;
  const int64_t min_mib = chunk_gib_ * 1024 + kMetaMib;
  if (sectors <= 0 || pool_mib < min_mib)
    return Status::Error(EINVAL, "disk " + path + " is smaller than one chunk (" +
                                     std::to_string(min_mib) + " MiB)");
  const int64_t size_mib = SlotMib(pool_mib);
  return Mutate([&](Change* change) {
    int sprio;
    Status st = GetPriority("ssvr", ssvr_id, &sprio);
    if (st.code() == ENOENT) return Status::Error(EINVAL, "storage server " + std::to_string(ssvr_id) + " is not registered");
    VS_RETURN_IF_ERROR(st);
    if (!TakesNewWork(sprio))
      return Status::Error(EINVAL, "storage server " + std::to_string(ssvr_id) + " is " + PriorityName(sprio));
    int64_t old_id;
    VS_RETURN_IF_ERROR(FindDiskRecord(ssvr_id, path, label_pdsk, &old_id));
    if (old_id != 0) {
      int prio;
      VS_RETURN_IF_ERROR(GetPriority("pdsk", old_id, &prio));
      const bool live = Live(prio);
      if (live && !reconnect)
        return Status::Error(EEXIST, path + " is already registered as pdsk " + std::to_string(old_id));
      Stmt q(db_, "SELECT pool_mib FROM pdsk WHERE id = ?1");
      q.Bind(1, old_id);
      if (q.Step() && pool_mib < q.Int(0))
        return Status::Error(EINVAL, path + " came back smaller than it was; delete and re-add it");
      VS_RETURN_IF_ERROR(q.status());
      q.Reset();
      // A live disk of a restarted agent keeps its priority.
      Stmt up(db_, "UPDATE pdsk SET priority = CASE WHEN ?4 THEN priority ELSE 1 END, sectors = ?2, "
                   "pool_mib = ?3 WHERE id = ?1");
      VS_RETURN_IF_ERROR(up.Bind(1, old_id).Bind(2, sectors).Bind(3, pool_mib).Bind(4, static_cast<int64_t>(live)).Run());
      VS_RETURN_IF_ERROR(ResizeSlots(old_id, size_mib, change));
      *id = old_id;
      VS_RETURN_IF_ERROR(RefreshAllocatable(ssvr_id, change));
      return AddEvent("info", "register", "pdsk", old_id, path + (live ? " reconnected" : " back online"));
    }
    VS_RETURN_IF_ERROR(NextIds("pdsk", 1, id));
    Stmt ins(db_,
             "INSERT INTO pdsk(id, ssvr_id, local_path, sectors, size_mib, pool_mib, priority, ctime) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7)");
    ins.Bind(1, *id).Bind(2, ssvr_id).Bind(3, path).Bind(4, sectors).Bind(5, size_mib).Bind(6, pool_mib);
    VS_RETURN_IF_ERROR(ins.Bind(7, NowIso8601()).Run());
    Stmt fe(db_, "INSERT INTO free_extent(pdsk_id, offset_mib, length_mib) VALUES (?1, 0, ?2)");
    VS_RETURN_IF_ERROR(fe.Bind(1, *id).Bind(2, size_mib).Run());
    alloc_.AddDisk(DiskSpec{*id, ssvr_id, size_mib, 1.0, true}, {{0, size_mib}});
    change->specs_changed = true;
    return AddEvent("info", "register", "pdsk", *id,
                    path + " (" + std::to_string(pool_mib / 1024) + " GiB pool) on ssvr " + std::to_string(ssvr_id));
  });
}

Status Store::SetClusterSetting(const std::string& name, const std::string& value) {
  if (name == kSettingNearfullRatio || name == kSettingFullRatio || name == kSettingMaxClockSkew)
    return SetRatio(name, value);
  if (name != "overcommit")
    return Status::Error(EINVAL, "unknown cluster setting '" + name + "' (known: overcommit, " +
                                     kSettingNearfullRatio + ", " + kSettingFullRatio + ", " + kSettingMaxClockSkew +
                                     ")");
  char* end = nullptr;
  const double ratio = strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !(ratio >= kMinOvercommit && ratio <= kMaxOvercommit))
    return Status::Error(EINVAL, "overcommit must be a number from 1.0 to 20");
  const double before = overcommit_;
  overcommit_ = ratio;
  Status st = Mutate([&](Change* change) {
    Stmt w(db_, "UPDATE setting SET value = ?1 WHERE key = 'overcommit'");
    VS_RETURN_IF_ERROR(w.Bind(1, value).Run());
    Stmt q(db_, "SELECT id, pool_mib FROM pdsk ORDER BY id");
    std::vector<std::pair<int64_t, int64_t>> disks;
    while (q.Step()) disks.emplace_back(q.Int(0), q.Int(1));
    VS_RETURN_IF_ERROR(q.status());
    for (const auto& d : disks) VS_RETURN_IF_ERROR(ResizeSlots(d.first, SlotMib(d.second), change));
    return AddEvent("info", "setting", "cluster", 0, "overcommit set to " + value);
  });
  if (!st.ok()) overcommit_ = before;
  return st;
}

Status Store::Heartbeat(int target, int64_t id) {
  const char* kind = target == kTargetHsvr ? "hsvr" : "ssvr";
  // Not through Mutate: no event, no allocator change, one row touched.
  Txn txn(db_);
  VS_RETURN_IF_ERROR(txn.status());
  int prio;
  VS_RETURN_IF_ERROR(GetPriority(kind, id, &prio));
  // Declared failed (silent beyond the grace period, or reported): its
  // legs were replaced or it was fenced. ENOENT makes the agent register
  // again, which brings it back as a fresh server.
  if (!Live(prio) || prio == kFaulty)
    return Status::Error(ENOENT, FormatId(kind, id) + " is " + PriorityName(prio) + "; register again");
  VS_RETURN_IF_ERROR(Touch(db_, kind, id));
  return txn.Commit();
}

Status Store::CheckDeletable(const char* table, const char* what, int64_t id, const char* holding_sql,
                             const char* holding) {
  int prio;
  VS_RETURN_IF_ERROR(GetPriority(table, id, &prio));
  if (prio != kOffline && prio != kFaulty && prio != kEvacuate)
    return Status::Error(EBUSY, std::string(what) + " " + std::to_string(id) + " is " + PriorityName(prio) +
                                    "; only OFFLINE, FAULTY or drained (EVACUATE) ones can be deleted");
  Stmt q(db_, holding_sql);
  q.Bind(1, id);
  if (q.Step() && q.Int(0) > 0)
    return Status::Error(EBUSY, std::string(what) + " " + std::to_string(id) + " still holds " +
                                    std::to_string(q.Int(0)) + " " + holding);
  return q.status();
}

Status Store::DeleteHeadServer(int64_t id) {
  Status st = Mutate([&](Change* change) {
    VS_RETURN_IF_ERROR(CheckDeletable("hsvr", "head server", id, "SELECT count(*) FROM attachment WHERE hsvr_id = ?1",
                                      "attached volumes"));
    // The operator says it is gone for good: nothing it had is written now.
    HeldFilter held;
    held.hsvr_id = id;
    VS_RETURN_IF_ERROR(FreeHeld(held, change));
    Stmt del(db_, "DELETE FROM hsvr WHERE id = ?1");
    VS_RETURN_IF_ERROR(del.Bind(1, id).Run());
    Stmt grants(db_, "DELETE FROM tenant_head WHERE hsvr_id = ?1");
    VS_RETURN_IF_ERROR(grants.Bind(1, id).Run());
    return AddEvent("info", "delete", "hsvr", id, "head server deleted");
  });
  if (st.ok()) clock_skew_.erase({kTargetHsvr, id});  // its last clock reading goes with it
  return st;
}

Status Store::DeleteStorageServer(int64_t id) {
  Status st = Mutate([&](Change* change) {
    VS_RETURN_IF_ERROR(CheckDeletable("ssvr", "storage server", id,
                                      "SELECT (SELECT count(*) FROM chunk c JOIN pdsk p ON p.id = c.pdsk_id "
                                      "WHERE p.ssvr_id = ?1) + (SELECT count(*) FROM held_extent h "
                                      "JOIN pdsk p ON p.id = h.pdsk_id WHERE p.ssvr_id = ?1)",
                                      "chunks or old legs a head may still write"));
    // Legs doomed there go with the disks: a disk that comes back is refused by its label.
    Stmt doomed(db_, "DELETE FROM doomed_leg WHERE pdsk_id IN (SELECT id FROM pdsk WHERE ssvr_id = ?1)");
    VS_RETURN_IF_ERROR(doomed.Bind(1, id).Run());
    Stmt disks(db_, "SELECT id FROM pdsk WHERE ssvr_id = ?1");
    disks.Bind(1, id);
    while (disks.Step()) alloc_.RemoveDisk(disks.Int(0));
    VS_RETURN_IF_ERROR(disks.status());
    alloc_.SetServerDomain(id, "");
    change->specs_changed = true;
    Stmt del(db_, "DELETE FROM ssvr WHERE id = ?1");
    VS_RETURN_IF_ERROR(del.Bind(1, id).Run());
    return AddEvent("info", "delete", "ssvr", id, "storage server and its disks deleted");
  });
  if (st.ok()) clock_skew_.erase({kTargetSsvr, id});  // its last clock reading goes with it
  return st;
}

Status Store::DeletePhysicalDisk(int64_t id) {
  return Mutate([&](Change* change) {
    VS_RETURN_IF_ERROR(CheckDeletable("pdsk", "disk", id,
                                      "SELECT (SELECT count(*) FROM chunk WHERE pdsk_id = ?1) + "
                                      "(SELECT count(*) FROM held_extent WHERE pdsk_id = ?1)",
                                      "chunks or old legs a head may still write"));
    Stmt doomed(db_, "DELETE FROM doomed_leg WHERE pdsk_id = ?1");
    VS_RETURN_IF_ERROR(doomed.Bind(1, id).Run());
    Stmt del(db_, "DELETE FROM pdsk WHERE id = ?1");
    VS_RETURN_IF_ERROR(del.Bind(1, id).Run());
    alloc_.RemoveDisk(id);
    change->specs_changed = true;
    return AddEvent("info", "delete", "pdsk", id, "disk deleted");
  });
}

Status Store::SetStorageServerDomain(int64_t id, const std::string& domain) {
  VS_RETURN_IF_ERROR(CheckDomain(domain));
  return Mutate([&](Change* change) {
    int prio;
    VS_RETURN_IF_ERROR(GetPriority("ssvr", id, &prio));
    Stmt up(db_, "UPDATE ssvr SET domain = ?2 WHERE id = ?1");
    VS_RETURN_IF_ERROR(up.Bind(1, id).Bind(2, domain).Run());
    alloc_.SetServerDomain(id, domain);
    change->specs_changed = true;
    // Existing mirrors are not moved; say how many now share a domain.
    Stmt shared(db_,
                "SELECT count(*) FROM (SELECT c.mirror_id FROM chunk c JOIN pdsk p ON p.id = c.pdsk_id "
                "JOIN ssvr s ON s.id = p.ssvr_id WHERE s.domain != '' GROUP BY c.mirror_id, s.domain "
                "HAVING count(*) > 1)");
    int64_t n = shared.Step() ? shared.Int(0) : 0;
    VS_RETURN_IF_ERROR(shared.status());
    return AddEvent(n ? "warning" : "info", "domain", "ssvr", id,
                    "failure domain set to '" + domain + "'" +
                        (n ? "; " + std::to_string(n) + " mirrors have two legs in one domain" : ""));
  });
}

Status Store::SetPhysicalDiskWeight(int64_t id, double weight) {
  if (!(weight >= 0.0 && weight <= 1.0)) return Status::Error(EINVAL, "weight must be between 0.0 and 1.0");
  return Mutate([&](Change* change) {
    int prio;
    VS_RETURN_IF_ERROR(GetPriority("pdsk", id, &prio));
    Stmt up(db_, "UPDATE pdsk SET weight = ?2 WHERE id = ?1");
    VS_RETURN_IF_ERROR(up.Bind(1, id).Bind(2, weight).Run());
    alloc_.SetWeight(id, weight);
    change->specs_changed = true;
    return AddEvent("info", "weight", "pdsk", id, "weight set to " + FormatWeight(weight));
  });
}

Status Store::ListHeadServers(int64_t id, std::vector<HeadServerInfo>* out) {
  std::map<int64_t, std::vector<std::string>> ips;
  VS_RETURN_IF_ERROR(LoadIps(db_, "hsvr", &ips));
  Stmt q(db_,
         "SELECT h.id, h.priority, (SELECT count(*) FROM rebuild r CROSS JOIN mirror m ON m.id = r.mirror_id "
         "JOIN attachment a ON a.lvol_id = m.lvol_id WHERE a.hsvr_id = h.id), h.last_seen, h.url, h.initiator "
         "FROM hsvr h WHERE ?1 = 0 OR h.id = ?1 ORDER BY h.id");
  q.Bind(1, id);
  while (q.Step()) {
    HeadServerInfo h;
    h.id = q.Int(0);
    h.priority = static_cast<int>(q.Int(1));
    h.resync = static_cast<int>(q.Int(2));
    h.last_seen = q.Text(3);
    h.url = q.Text(4);
    h.initiator = q.Text(5);
    h.ips = ips[h.id];
    out->push_back(h);
  }
  VS_RETURN_IF_ERROR(q.status());
  if (id != 0 && out->empty()) return Status::Error(ENOENT, "no head server " + std::to_string(id));
  return Status::OK();
}

Status Store::ListStorageServers(int64_t id, std::vector<StorageServerInfo>* out) {
  std::map<int64_t, std::vector<std::string>> ips;
  VS_RETURN_IF_ERROR(LoadIps(db_, "ssvr", &ips));
  std::vector<PhysicalDiskInfo> disks;
  if (id != 0) {
    int prio;
    VS_RETURN_IF_ERROR(GetPriority("ssvr", id, &prio));
  }
  VS_RETURN_IF_ERROR(ListPhysicalDisks(id, &disks));
  std::map<int64_t, StorageServerInfo> sums;
  for (const PhysicalDiskInfo& d : disks) {
    sums[d.ssvr_id].capacity_gib += d.capacity_gib;
    sums[d.ssvr_id].available_gib += d.available_gib;
    sums[d.ssvr_id].resync += d.resync;
  }
  Stmt q(db_, "SELECT id, priority, domain, last_seen, url FROM ssvr WHERE ?1 = 0 OR id = ?1 ORDER BY id");
  q.Bind(1, id);
  while (q.Step()) {
    StorageServerInfo s = sums[q.Int(0)];
    s.id = q.Int(0);
    s.priority = static_cast<int>(q.Int(1));
    s.domain = q.Text(2);
    s.last_seen = q.Text(3);
    s.url = q.Text(4);
    s.ips = ips[s.id];
    out->push_back(s);
  }
  return q.status();
}

Status Store::ListPhysicalDisks(int64_t ssvr_id, std::vector<PhysicalDiskInfo>* out) {
  if (ssvr_id != 0) {
    int prio;
    VS_RETURN_IF_ERROR(GetPriority("ssvr", ssvr_id, &prio));
  }
  std::map<int64_t, int> resync;
  {
    // The queue is short and chunk is huge: walk the queue, look legs up.
    Stmt r(db_, "SELECT c.pdsk_id, count(*) FROM rebuild r CROSS JOIN chunk c ON c.mirror_id = r.mirror_id GROUP BY c.pdsk_id");
    while (r.Step()) resync[r.Int(0)] = static_cast<int>(r.Int(1));
    VS_RETURN_IF_ERROR(r.status());
  }
  Stmt q(db_,
         "SELECT id, ssvr_id, priority, local_path, size_mib, weight, pool_mib FROM pdsk "
         "WHERE ?1 = 0 OR ssvr_id = ?1 ORDER BY id");
  q.Bind(1, ssvr_id);
  while (q.Step()) {
    PhysicalDiskInfo d;
    d.id = q.Int(0);
    d.ssvr_id = q.Int(1);
    d.priority = static_cast<int>(q.Int(2));
    d.path = q.Text(3);
    d.capacity_gib = q.Int(4) / 1024;
    d.available_gib = alloc_.Available(d.id) / 1024;
    d.weight = q.Double(5);
    d.resync = resync[d.id];
    d.pool_mib = q.Int(6);
    auto pool = pools_.find(d.id);
    if (pool != pools_.end()) {
      const PoolReport& r = pool->second.report;
      d.pool_used_mib = r.data_used_mib;
      d.pool_mib = r.data_mib;
      d.pool_meta_used_kib = r.meta_used_kib;
      d.pool_meta_kib = r.meta_kib;
      d.pool_mode = r.mode;
    }
    out->push_back(d);
  }
  return q.status();
}

}  // namespace vastsky
