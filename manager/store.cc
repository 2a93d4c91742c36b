// Store: opening, the allocator's rebuild from the database, and the helpers
// every transaction shares (ids, events, journals).
#include "manager/store.h"

#include <cerrno>

#include "lib/ids.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "manager/schema.h"

namespace vastsky {

namespace {
// Events are for people, not an audit trail: keep the newest this many.
constexpr int64_t kEventRetention = 100000;
}  // namespace

Status Store::Open(const std::string& path, const Options& options) {
  VS_RETURN_IF_ERROR(lock_.Acquire(path));  // before anything is written
  VS_RETURN_IF_ERROR(db_.Open(path));
  // An event counts once its transaction commits; a rolled-back one never happened.
  db_.OnTransactionEnd([this](bool committed) {
    if (committed && count_event_)
      for (const auto& e : uncommitted_events_) count_event_(e.first, e.second);
    uncommitted_events_.clear();
  });
  VS_RETURN_IF_ERROR(Migrate(db_));
  bool stored = false;
  {
    Stmt q(db_, "SELECT value FROM setting WHERE key = 'chunk_gib'");
    if (q.Step()) {
      chunk_gib_ = std::stoll(q.Text(0));
      stored = true;
    }
    VS_RETURN_IF_ERROR(q.status());
  }
  // The chunk size is the cluster's, stored with it: a new default in a
  // later release must not change it. Existing mirrors keep their size; an
  // explicit new size applies to new volumes only.
  if (!stored || (options.chunk_explicit && options.chunk_gib != chunk_gib_)) {
    if (options.chunk_explicit) chunk_gib_ = options.chunk_gib;
    Stmt w(db_, "INSERT OR REPLACE INTO setting(key, value) VALUES ('chunk_gib', ?1)");
    VS_RETURN_IF_ERROR(w.Bind(1, std::to_string(chunk_gib_)).Run());
    VS_LOG_INFO("chunk size for new volumes: %lld GiB", static_cast<long long>(chunk_gib_));
  }
  VS_RETURN_IF_ERROR(LoadClusterSettings());
  VS_RETURN_IF_ERROR(LoadAllocator(&alloc_));
  VS_RETURN_IF_ERROR(ClearInterruptedTransitions());
  return ClearInterruptedCopies();
}

namespace {
// A version 4 uuid (RFC 4122 layout) from the kernel's random source.
Status MakeUuid(std::string* out) {
  std::string hex;
  VS_RETURN_IF_ERROR(RandomString(32, kHexDigits, &hex));
  hex[12] = '4';
  hex[16] = "89ab"[hex[16] % 4];
  *out = hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
  return Status::OK();
}
}  // namespace

// The cluster id is made once, with the database: the storage agents
// write it in every disk's label, so a disk is known as this cluster's.
Status Store::LoadClusterSettings() {
  Txn txn(db_);
  VS_RETURN_IF_ERROR(txn.status());
  Stmt q(db_, "SELECT key, value FROM setting");
  while (q.Step()) {
    const std::string key = q.Text(0);
    if (key == "cluster_id") cluster_id_ = q.Text(1);
    else if (key == "node_key") node_key_ = q.Text(1);
    else if (key == "overcommit") overcommit_ = std::stod(q.Text(1));
    else if (key == kSettingNearfullRatio) nearfull_ratio_ = std::stod(q.Text(1));
    else if (key == kSettingFullRatio) full_ratio_ = std::stod(q.Text(1));
    else if (key == kSettingMaxClockSkew) max_clock_skew_s_ = std::stod(q.Text(1));
  }
  VS_RETURN_IF_ERROR(q.status());
  if (cluster_id_.empty()) {
    Status st = MakeUuid(&cluster_id_);
    if (!st.ok()) return Status::Error(st.code(), "cannot make the cluster id: " + st.message());
    Stmt w(db_, "INSERT INTO setting(key, value) VALUES ('cluster_id', ?1)");
    VS_RETURN_IF_ERROR(w.Bind(1, cluster_id_).Run());
    VS_LOG_INFO("new cluster %s", cluster_id_.c_str());
  }
  if (node_key_.empty()) {  // a new cluster, or one from before credentials
    Status st = RandomString(64, kHexDigits, &node_key_);
    if (!st.ok()) return Status::Error(st.code(), "cannot make the node key: " + st.message());
    Stmt w(db_, "INSERT INTO setting(key, value) VALUES ('node_key', ?1)");
    VS_RETURN_IF_ERROR(w.Bind(1, node_key_).Run());
  }
  return txn.Commit();
}

Status Store::AllocatorDifference(std::string* difference) {
  Allocator fresh;
  VS_RETURN_IF_ERROR(LoadAllocator(&fresh));
  *difference = alloc_.Difference(fresh);
  return Status::OK();
}

Status Store::LoadAllocator(Allocator* into) {
  std::map<int64_t, std::vector<Extent>> free;
  {
    Stmt q(db_, "SELECT pdsk_id, offset_mib, length_mib FROM free_extent");
    while (q.Step()) free[q.Int(0)].push_back({q.Int(1), q.Int(2)});
    VS_RETURN_IF_ERROR(q.status());
  }
  {
    Stmt q(db_, "SELECT id, domain FROM ssvr WHERE domain != ''");
    while (q.Step()) into->SetServerDomain(q.Int(0), q.Text(1));
    VS_RETURN_IF_ERROR(q.status());
  }
  Stmt q(db_,
         "SELECT p.id, p.ssvr_id, p.size_mib, p.weight, p.priority, s.priority "
         "FROM pdsk p JOIN ssvr s ON s.id = p.ssvr_id");
  while (q.Step()) {
    DiskSpec spec;
    spec.id = q.Int(0);
    spec.ssvr_id = q.Int(1);
    spec.size_mib = q.Int(2);
    spec.weight = q.Double(3);
    spec.allocatable = DiskTakesLegs(spec.id, static_cast<int>(q.Int(4)), static_cast<int>(q.Int(5)));
    into->AddDisk(spec, free[spec.id]);
  }
  return q.status();
}

Status Store::NextIds(const char* kind, int64_t count, int64_t* first) {
  Stmt q(db_, "UPDATE idseq SET next = next + ?2 WHERE kind = ?1 RETURNING next - ?2");
  q.Bind(1, std::string(kind)).Bind(2, count);
  if (!q.Step()) return q.status().ok() ? Status::Internal("no id sequence " + std::string(kind)) : q.status();
  *first = q.Int(0);
  if (*first + count - 1 > 0x7fffffff)
    return Status::Error(ENOSPC, std::string("the ") + kind + " id space is exhausted");
  return Status::OK();
}

Status Store::NextThinId(int64_t pdsk_id, int64_t* thin_id) {
  Stmt q(db_, "UPDATE pdsk SET next_thin_id = next_thin_id + 1 WHERE id = ?1 RETURNING next_thin_id - 1");
  q.Bind(1, pdsk_id);
  if (!q.Step()) return q.status().ok() ? Status::Error(ENOENT, "no disk " + FormatId("pdsk", pdsk_id)) : q.status();
  *thin_id = q.Int(0);
  if (*thin_id > kMaxThinId)
    return Status::Error(ENOSPC, FormatId("pdsk", pdsk_id) + " has used up its thin device ids (" +
                                     std::to_string(kMaxThinId) + "); drain it and register it afresh");
  return Status::OK();
}

Status Store::AddEvent(const std::string& level, const std::string& type, const std::string& target,
                       int64_t target_id, const std::string& message) {
  Stmt ins(db_,
           "INSERT INTO event(time, level, type, target, target_id, message) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  ins.Bind(1, NowIso8601()).Bind(2, level).Bind(3, type).Bind(4, target).Bind(5, target_id).Bind(6, message);
  VS_RETURN_IF_ERROR(ins.Run());
  if (!sqlite3_get_autocommit(db_.handle())) uncommitted_events_.emplace_back(type, level);
  else if (count_event_) count_event_(type, level);
  int64_t id = sqlite3_last_insert_rowid(db_.handle());
  if (id % 1000 == 0) {
    Stmt trim(db_, "DELETE FROM event WHERE id <= ?1");
    trim.Bind(1, id - kEventRetention);
    VS_RETURN_IF_ERROR(trim.Run());
  }
  if (level == "error") VS_LOG_ERROR("%s %s-%08llx: %s", type.c_str(), target.c_str(), static_cast<unsigned long long>(target_id), message.c_str());
  else if (level == "warning") VS_LOG_WARN("%s %s-%08llx: %s", type.c_str(), target.c_str(), static_cast<unsigned long long>(target_id), message.c_str());
  else VS_LOG_INFO("%s %s-%08llx: %s", type.c_str(), target.c_str(), static_cast<unsigned long long>(target_id), message.c_str());
  return Status::OK();
}

// A change that finds no row means the allocator and the database
// disagree: committing would let the allocator hand out space the database
// does not count as free (or lose space it does). The transaction fails
// instead, and Mutate reverts the allocator.
Status Store::ApplyJournal(const Journal& journal) {
  Stmt upd(db_, "UPDATE free_extent SET offset_mib = ?3, length_mib = ?4 WHERE pdsk_id = ?1 AND offset_mib = ?2");
  Stmt del(db_, "DELETE FROM free_extent WHERE pdsk_id = ?1 AND offset_mib = ?2");
  Stmt ins(db_, "INSERT INTO free_extent(pdsk_id, offset_mib, length_mib) VALUES (?1, ?2, ?3)");
  for (const ExtentChange& c : journal.changes()) {
    if (c.old_offset < 0) {
      VS_RETURN_IF_ERROR(ins.Bind(1, c.pdsk_id).Bind(2, c.new_offset).Bind(3, c.new_length).Run());
      continue;
    }
    if (c.new_length == 0) {
      VS_RETURN_IF_ERROR(del.Bind(1, c.pdsk_id).Bind(2, c.old_offset).Run());
    } else {
      upd.Bind(1, c.pdsk_id).Bind(2, c.old_offset).Bind(3, c.new_offset).Bind(4, c.new_length);
      VS_RETURN_IF_ERROR(upd.Run());
    }
    if (db_.changes() != 1)
      return Status::Internal("the allocator and the database disagree: " + FormatId("pdsk", c.pdsk_id) +
                              " has no free extent at " + std::to_string(c.old_offset) +
                              " MiB in the database; nothing changed (run vastsky-manager --audit)");
  }
  return Status::OK();
}

Status Store::Mutate(const std::function<Status(Change*)>& body) {
  Change change;
  Status st;
  {
    Txn txn(db_);
    VS_RETURN_IF_ERROR(txn.status());
    st = body(&change);
    if (st.ok()) st = ApplyJournal(change.journal);
    if (st.ok()) st = txn.Commit();
    if (st.ok()) return st;
  }  // rolled back: a reload below must not read the failed change
  if (!change.specs_changed) {
    alloc_.Undo(&change.journal);
    return st;
  }
  alloc_ = Allocator();
  Status reload = LoadAllocator(&alloc_);
  if (!reload.ok()) VS_LOG_ERROR("cannot reload the allocator after a failed change: %s", reload.ToString().c_str());
  return st;
}

Status Store::GetPriority(const char* table, int64_t id, int* priority) {
  std::string sql = std::string("SELECT priority FROM ") + table + " WHERE id = ?1";
  Stmt q(db_, sql.c_str());
  q.Bind(1, id);
  if (!q.Step()) {
    VS_RETURN_IF_ERROR(q.status());
    return Status::Error(ENOENT, std::string(table) + " " + std::to_string(id) + " does not exist");
  }
  *priority = static_cast<int>(q.Int(0));
  return Status::OK();
}

bool Store::DiskTakesLegs(int64_t pdsk_id, int priority, int ssvr_priority) const {
  return TakesNewWork(priority) && TakesNewWork(ssvr_priority) && !nearfull_.count(pdsk_id);
}

Status Store::RefreshAllocatable(int64_t ssvr_id, Change* change) {
  Stmt q(db_,
         "SELECT p.id, p.priority, s.priority FROM pdsk p JOIN ssvr s ON s.id = p.ssvr_id WHERE s.id = ?1");
  q.Bind(1, ssvr_id);
  while (q.Step()) {
    int64_t id = q.Int(0);
    alloc_.SetAllocatable(id, DiskTakesLegs(id, static_cast<int>(q.Int(1)), static_cast<int>(q.Int(2))));
    change->specs_changed = true;
  }
  return q.status();
}

}  // namespace vastsky
