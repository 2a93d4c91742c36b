// Thin RAII layer over SQLite: a connection opened the way VastSky needs it
// (WAL, synchronous=FULL, foreign keys on, busy timeout), prepared statements
// with bound parameters only, and a transaction guard that rolls back unless
// committed. Errors come back as Status (code 500, SQLite's message).
// Not thread-safe: one thread uses a Db and its statements at a time.
// DbLock keeps a second process from serving the same database.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <string>

#include "lib/status.h"

namespace vastsky {

class Db {
 public:
  Db() = default;
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Creates the file if missing. read_only opens without creating or writing.
  Status Open(const std::string& path, bool read_only = false);
  void Close();
  Status Exec(const std::string& sql);  // no parameters, no rows
  sqlite3* handle() const { return db_; }
  // Rows the last INSERT, UPDATE or DELETE changed.
  int64_t changes() const { return sqlite3_changes(db_); }

  // For tests only (SQLite's own fault injection is the model): the n-th
  // statement step (Stmt::Step, Exec) or the n-th commit from now fails
  // once, as an I/O error would, with code 500 and nothing executed.
  // n = 0 disarms. fault_pending(): armed and not yet reached. Unarmed, it
  // costs one compare per step.
  enum class Fault { kStatement, kCommit };
  void FailAfter(int n, Fault kind) {
    fail_in_ = n;
    fail_kind_ = kind;
  }
  bool fault_pending() const { return fail_in_ > 0; }

  // Called when a Txn ends: committed or rolled back. For what must follow
  // the transaction's fate (counting the events it recorded).
  void OnTransactionEnd(std::function<void(bool committed)> fn) { on_end_ = std::move(fn); }

 private:
  friend class Stmt;
  friend class Txn;
  // True if this operation is the one armed to fail (it then disarms).
  bool Injected(Fault kind) const {
    return fail_in_ > 0 && kind == fail_kind_ && --fail_in_ == 0;
  }
  Status ExecUnfaulted(const std::string& sql);

  sqlite3* db_ = nullptr;
  std::function<void(bool)> on_end_;
  mutable int fail_in_ = 0;
  Fault fail_kind_ = Fault::kStatement;
};

// An exclusive lock on `<db>.lock`, held while the process lives (or until
// Release), so that two managers never serve one database: the second gets
// EBUSY naming the first's pid. flock(2) on a file of its own: SQLite's
// own fcntl locks on the database are left alone, and the kernel drops the
// lock when the holder dies, however it dies.
class DbLock {
 public:
  DbLock() = default;
  ~DbLock() { Release(); }
  DbLock(const DbLock&) = delete;
  DbLock& operator=(const DbLock&) = delete;

  Status Acquire(const std::string& db_path);
  void Release();

 private:
  int fd_ = -1;
};

// A prepared statement. Bind with 1-based indices, then Step() until it
// returns false; check status() afterwards (or use Run() for no-row SQL).
class Stmt {
 public:
  Stmt(const Db& db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  Stmt& Bind(int i, double v);
  Stmt& Bind(int i, const std::string& v);
  Stmt& BindNull(int i);

  bool Step();     // true while a row is available
  Status Run();    // steps to completion, then resets for reuse
  void Reset();    // ready to bind and step again
  const Status& status() const { return status_; }

  int columns() const { return stmt_ ? sqlite3_column_count(stmt_) : 0; }
  int64_t Int(int col) const;
  double Double(int col) const;
  std::string Text(int col) const;
  bool IsNull(int col) const;

 private:
  const Db& owner_;
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  Status status_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless Commit()
// succeeded. Every API mutation runs inside exactly one of these.
class Txn {
 public:
  explicit Txn(Db& db);
  ~Txn();
  const Status& status() const { return status_; }
  Status Commit();

 private:
  Db& db_;
  Status status_;
  bool open_ = false;
};

// UTC "YYYY-MM-DDTHH:MM:SS", the form 3.0 used for ctime.
std::string NowIso8601();
// The same, `seconds` ago: compares as text with NowIso8601() stamps.
std::string IsoSecondsAgo(int seconds);

}  // namespace vastsky
