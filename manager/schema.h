// The manager's database schema and its migrations. PRAGMA user_version holds
// the schema version; Migrate() brings a fresh database up to date inside
// one transaction, and refuses a database newer than this program or older
// than kFirstThinSchema (the slice layout: no migration, start afresh).
#pragma once

#include "manager/db.h"

namespace vastsky {

constexpr int kSchemaVersion = 11;
constexpr int kFirstThinSchema = 7;

Status Migrate(Db& db);

}  // namespace vastsky
