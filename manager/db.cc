#include "manager/db.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace vastsky {

namespace {
Status SqlError(sqlite3* db, const std::string& what) {
  return Status::Internal(what + ": " + (db ? sqlite3_errmsg(db) : "no database"));
}
}  // namespace

Db::~Db() { Close(); }

Status Db::Open(const std::string& path, bool read_only) {
  int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  // Callers serialise access (one Store, one lock): no per-call mutex.
  flags |= SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    Status st = SqlError(db_, "cannot open database " + path);
    Close();
    return st;
  }
  sqlite3_busy_timeout(db_, 5000);
  sqlite3_extended_result_codes(db_, 1);
  if (!read_only) VS_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
  VS_RETURN_IF_ERROR(Exec("PRAGMA synchronous=FULL"));
  VS_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys=ON"));
  VS_RETURN_IF_ERROR(Exec("PRAGMA cache_size=-131072"));  // 128 MiB: the hot indexes stay in memory
  return Status::OK();
}

void Db::Close() {
  if (db_) sqlite3_close_v2(db_);
  db_ = nullptr;
}

Status Db::Exec(const std::string& sql) {
  if (Injected(Fault::kStatement)) return Status::Internal("SQL failed (" + sql.substr(0, 60) + "): injected fault");
  return ExecUnfaulted(sql);
}

Status Db::ExecUnfaulted(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::Internal("SQL failed (" + sql.substr(0, 60) + "): " + msg);
  }
  return Status::OK();
}

Stmt::Stmt(const Db& db, const char* sql) : owner_(db), db_(db.handle()) {
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK)
    status_ = SqlError(db_, std::string("prepare ") + sql);
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

Stmt& Stmt::Bind(int i, int64_t v) {
  if (stmt_) sqlite3_bind_int64(stmt_, i, v);
  return *this;
}
Stmt& Stmt::Bind(int i, double v) {
  if (stmt_) sqlite3_bind_double(stmt_, i, v);
  return *this;
}
Stmt& Stmt::Bind(int i, const std::string& v) {
  if (stmt_) sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::BindNull(int i) {
  if (stmt_) sqlite3_bind_null(stmt_, i);
  return *this;
}

bool Stmt::Step() {
  if (!stmt_ || !status_.ok()) return false;
  if (owner_.Injected(Db::Fault::kStatement)) {
    status_ = Status::Internal(std::string("step ") + sqlite3_sql(stmt_) + ": injected fault");
    return false;
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) status_ = SqlError(db_, std::string("step ") + sqlite3_sql(stmt_));
  return false;
}

Status Stmt::Run() {
  while (Step()) {
  }
  Status st = status_;
  Reset();
  return st;
}

void Stmt::Reset() {
  if (!stmt_) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  status_ = Status::OK();  // a prepare failure leaves stmt_ null and is kept
}

int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }
double Stmt::Double(int col) const { return sqlite3_column_double(stmt_, col); }
std::string Stmt::Text(int col) const {
  const unsigned char* t = sqlite3_column_text(stmt_, col);
  return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(stmt_, col)) : "";
}
bool Stmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

Txn::Txn(Db& db) : db_(db) {
  status_ = db_.Exec("BEGIN IMMEDIATE");
  open_ = status_.ok();
}

Txn::~Txn() {
  if (!open_) return;
  (void)db_.ExecUnfaulted("ROLLBACK");
  if (db_.on_end_) db_.on_end_(false);
}

Status Txn::Commit() {
  if (!open_) return status_.ok() ? Status::Internal("transaction not open") : status_;
  if (db_.Injected(Db::Fault::kCommit)) return Status::Internal("COMMIT: injected fault");
  Status st = db_.ExecUnfaulted("COMMIT");
  if (!st.ok()) return st;
  open_ = false;
  if (db_.on_end_) db_.on_end_(true);
  return st;
}

Status DbLock::Acquire(const std::string& db_path) {
  Release();
  const std::string path = db_path + ".lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Error(errno, "cannot open " + path + ": " + strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char pid[32] = "";
    ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    pid[n > 0 ? n : 0] = '\0';
    pid[strcspn(pid, "\n")] = '\0';
    close(fd);
    if (err != EWOULDBLOCK) return Status::Error(err, "cannot lock " + path + ": " + strerror(err));
    return Status::Error(EBUSY, "another vastsky-manager (pid " + std::string(*pid ? pid : "unknown") +
                                    ") is using the database " + db_path + ": one manager per database");
  }
  // The holder's pid, for the message above: best effort, the lock is what counts.
  const std::string me = std::to_string(getpid()) + "\n";
  const bool noted = ftruncate(fd, 0) == 0 && pwrite(fd, me.data(), me.size(), 0) > 0;
  (void)noted;
  fd_ = fd;
  return Status::OK();
}

void DbLock::Release() {
  if (fd_ >= 0) close(fd_);  // closing drops the flock
  fd_ = -1;
}

std::string NowIso8601() { return IsoSecondsAgo(0); }

std::string IsoSecondsAgo(int seconds) {
  time_t now = time(nullptr) - seconds;
  struct tm tm;
  gmtime_r(&now, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

}  // namespace vastsky
