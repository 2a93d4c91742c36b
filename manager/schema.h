// The manager's database schema and its migrations. PRAGMA user_version holds
// the schema version; Migrate() brings any older database up to date inside
// one transaction, and refuses a database newer than this program.
#pragma once

#include "manager/db.h"

namespace vastsky {

constexpr int kSchemaVersion = 6;

Status Migrate(Db& db);

}  // namespace vastsky
