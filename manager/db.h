// Thin RAII layer over SQLite: a connection opened the way VastSky needs it
// (WAL, synchronous=FULL, foreign keys on, busy timeout), prepared statements
// with bound parameters only, and a transaction guard that rolls back unless
// committed. Errors come back as Status (code 500, SQLite's message).
#pragma once

#include <sqlite3.h>

#include <cstdint>
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

 private:
  sqlite3* db_ = nullptr;
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

  int64_t Int(int col) const;
  double Double(int col) const;
  std::string Text(int col) const;
  bool IsNull(int col) const;

 private:
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
