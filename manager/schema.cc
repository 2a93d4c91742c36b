#include "manager/schema.h"

#include <cerrno>
#include <string>

namespace vastsky {

namespace {

// Each entry takes the schema from version i to i+1. Never edit a released
// entry: add a new one.
const char* const kMigrations[] = {
    // 0 -> 1: the 3.0 resources, with free space kept as coalesced extents.
    R"SQL(
CREATE TABLE setting(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE idseq(kind TEXT PRIMARY KEY, next INTEGER NOT NULL);
INSERT INTO idseq VALUES ('hsvr', 1), ('ssvr', 1), ('pdsk', 1), ('lvol', 1);

CREATE TABLE ssvr(
  id INTEGER PRIMARY KEY,
  priority INTEGER NOT NULL,
  domain TEXT NOT NULL DEFAULT '',
  ctime TEXT NOT NULL);
CREATE TABLE ssvr_ip(
  ssvr_id INTEGER NOT NULL REFERENCES ssvr(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  ip TEXT NOT NULL UNIQUE,
  PRIMARY KEY(ssvr_id, idx));

CREATE TABLE hsvr(
  id INTEGER PRIMARY KEY,
  priority INTEGER NOT NULL,
  ctime TEXT NOT NULL);
CREATE TABLE hsvr_ip(
  hsvr_id INTEGER NOT NULL REFERENCES hsvr(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  ip TEXT NOT NULL UNIQUE,
  PRIMARY KEY(hsvr_id, idx));

CREATE TABLE pdsk(
  id INTEGER PRIMARY KEY,
  ssvr_id INTEGER NOT NULL REFERENCES ssvr(id) ON DELETE CASCADE,
  local_path TEXT NOT NULL,
  sectors INTEGER NOT NULL,
  size_mib INTEGER NOT NULL CHECK(size_mib > 0),
  weight REAL NOT NULL DEFAULT 1.0 CHECK(weight >= 0.0 AND weight <= 1.0),
  priority INTEGER NOT NULL,
  ctime TEXT NOT NULL,
  UNIQUE(ssvr_id, local_path));

-- Used space is derived (size - free), never stored twice.
CREATE TABLE free_extent(
  pdsk_id INTEGER NOT NULL REFERENCES pdsk(id) ON DELETE CASCADE,
  offset_mib INTEGER NOT NULL CHECK(offset_mib >= 0),
  length_mib INTEGER NOT NULL CHECK(length_mib > 0),
  PRIMARY KEY(pdsk_id, offset_mib)) WITHOUT ROWID;

-- kind 0 = volume, 1 = snapshot (origin_id names its origin volume).
-- top_node and linear_node are the ids of its SNAPSHOT-ORIGIN (or SNAPSHOT)
-- and LINEAR tree nodes, from the shared 'lvol' id space.
CREATE TABLE lvol(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  kind INTEGER NOT NULL CHECK(kind IN (0, 1)),
  origin_id INTEGER REFERENCES lvol(id),
  capacity_gib INTEGER NOT NULL CHECK(capacity_gib > 0),
  redundancy INTEGER NOT NULL CHECK(redundancy BETWEEN 2 AND 9),
  top_node INTEGER NOT NULL,
  linear_node INTEGER NOT NULL,
  ctime TEXT NOT NULL);
CREATE INDEX lvol_origin ON lvol(origin_id);

CREATE TABLE mirror(
  id INTEGER PRIMARY KEY,
  lvol_id INTEGER NOT NULL REFERENCES lvol(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  offset_gib INTEGER NOT NULL,
  capacity_gib INTEGER NOT NULL CHECK(capacity_gib > 0),
  UNIQUE(lvol_id, idx));

-- A leg: offset_mib is where its 1 MiB dm-raid metadata slice starts; the
-- data (length_mib) follows it. status: 1 ALLOCATED, 2 INSYNC, 3 SPARE.
CREATE TABLE chunk(
  id INTEGER PRIMARY KEY,
  mirror_id INTEGER NOT NULL REFERENCES mirror(id) ON DELETE CASCADE,
  pdsk_id INTEGER NOT NULL REFERENCES pdsk(id),
  offset_mib INTEGER NOT NULL,
  length_mib INTEGER NOT NULL CHECK(length_mib > 0),
  status INTEGER NOT NULL);
CREATE INDEX chunk_mirror ON chunk(mirror_id);
CREATE INDEX chunk_spare ON chunk(mirror_id) WHERE status = 3;
-- Deliberately no index on chunk(pdsk_id): every volume's legs land on
-- scattered disks, so such an index dirties a random page per leg and made
-- a 1 TiB create 5x slower on a full cluster. Only rare events (a failure,
-- a delete check) look chunks up by disk, and they scan. Hot queries rely
-- on the invariant that a leg on a failed disk is SPARE or replaced.

-- A row exists while a volume is attached or in transition (3.0's attach).
CREATE TABLE attachment(
  lvol_id INTEGER PRIMARY KEY REFERENCES lvol(id) ON DELETE CASCADE,
  hsvr_id INTEGER NOT NULL REFERENCES hsvr(id),
  status INTEGER NOT NULL,
  event INTEGER NOT NULL,
  ctime TEXT NOT NULL);
CREATE INDEX attachment_hsvr ON attachment(hsvr_id);

-- The persistent rebuild queue: chunk_id is the leg to bring in sync.
-- state 0 queued, 1 running.
CREATE TABLE rebuild(
  id INTEGER PRIMARY KEY,
  mirror_id INTEGER NOT NULL REFERENCES mirror(id) ON DELETE CASCADE,
  chunk_id INTEGER NOT NULL UNIQUE REFERENCES chunk(id) ON DELETE CASCADE,
  state INTEGER NOT NULL DEFAULT 0,
  ctime TEXT NOT NULL);

CREATE TABLE event(
  id INTEGER PRIMARY KEY,
  time TEXT NOT NULL,
  level TEXT NOT NULL,
  type TEXT NOT NULL,
  target TEXT NOT NULL,
  target_id INTEGER NOT NULL,
  message TEXT NOT NULL);
)SQL",
    // 1 -> 2: agents' heartbeats. '' means never seen since the upgrade.
    R"SQL(
ALTER TABLE ssvr ADD COLUMN last_seen TEXT NOT NULL DEFAULT '';
ALTER TABLE hsvr ADD COLUMN last_seen TEXT NOT NULL DEFAULT '';
)SQL",
    // 2 -> 3: where the manager calls each agent ('' = no agent: attach and
    // detach record state only, as in 3.0), the head's iSCSI initiator and
    // the CHAP credentials the manager gave it.
    R"SQL(
ALTER TABLE ssvr ADD COLUMN url TEXT NOT NULL DEFAULT '';
ALTER TABLE hsvr ADD COLUMN url TEXT NOT NULL DEFAULT '';
ALTER TABLE hsvr ADD COLUMN initiator TEXT NOT NULL DEFAULT '';
ALTER TABLE hsvr ADD COLUMN chap_user TEXT NOT NULL DEFAULT '';
ALTER TABLE hsvr ADD COLUMN chap_secret TEXT NOT NULL DEFAULT '';
)SQL",
    // 3 -> 4: failure handling and rebuilds. A leg keeps its raid slot for
    // life (dm raid1 with metadata cannot reorder members), so a replacement
    // takes the slot of the leg it replaces. A queued rebuild records the
    // disk it reads (source_pdsk, settled when queued) and, once running,
    // the head that runs it.
    R"SQL(
ALTER TABLE chunk ADD COLUMN slot INTEGER NOT NULL DEFAULT 0;
UPDATE chunk SET slot = (SELECT count(*) FROM chunk c2 WHERE c2.mirror_id = chunk.mirror_id AND c2.id < chunk.id);
ALTER TABLE rebuild ADD COLUMN source_pdsk INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rebuild ADD COLUMN hsvr_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rebuild ADD COLUMN started TEXT NOT NULL DEFAULT '';
)SQL",
    // 4 -> 5: drain, and rebuilds of detached volumes. A leg on a draining
    // disk gets a new leg beside it (a mirror grows by one, so redundancy
    // never drops); the rebuild of the new leg names the leg it retires
    // once in sync. A detached volume with legs to rebuild is attached by
    // the manager itself to a head (rebuild_only) until they are in sync.
    R"SQL(
ALTER TABLE rebuild ADD COLUMN retire_chunk INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attachment ADD COLUMN rebuild_only INTEGER NOT NULL DEFAULT 0;
)SQL",
    // 5 -> 6: space is freed only once no head can write it. A leg that
    // leaves its mirror (replaced, moved) while its volume is attached keeps
    // its extent in held_extent (offset_mib and length_mib as in chunk) for
    // that head, until the head confirms it dropped the leg, is fenced on
    // that disk, or is deleted; the allocator counts it as used. A mirror
    // once handed to a head (the intent of an attach or grow) is `written`:
    // its legs are never given out ALLOCATED (built nosync) again.
    R"SQL(
CREATE TABLE held_extent(
  pdsk_id INTEGER NOT NULL REFERENCES pdsk(id),
  offset_mib INTEGER NOT NULL CHECK(offset_mib >= 0),
  length_mib INTEGER NOT NULL CHECK(length_mib > 0),
  hsvr_id INTEGER NOT NULL REFERENCES hsvr(id),
  lvol_id INTEGER NOT NULL,
  mirror_id INTEGER NOT NULL,
  chunk_id INTEGER NOT NULL,
  ctime TEXT NOT NULL,
  PRIMARY KEY(pdsk_id, offset_mib)) WITHOUT ROWID;
CREATE INDEX held_extent_hsvr ON held_extent(hsvr_id, lvol_id);
ALTER TABLE mirror ADD COLUMN written INTEGER NOT NULL DEFAULT 0;
UPDATE mirror SET written = 1 WHERE lvol_id IN (SELECT lvol_id FROM attachment)
  OR EXISTS (SELECT 1 FROM chunk c WHERE c.mirror_id = mirror.id AND c.status != 1);
)SQL",
    // 6 -> 7: thin legs. Each leg is a dm-thin device (thin_id, assigned
    // per disk from next_thin_id, never reused) in its disk's pool of
    // pool_mib MiB; offsets are reservation slots only. A freed leg a head
    // may have written waits in doomed_leg (still used) until its storage
    // agent confirms the thin device is deleted. Only a fresh database gets
    // here (Migrate refuses 1..6: the slice layout).
    R"SQL(
ALTER TABLE chunk ADD COLUMN thin_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE held_extent ADD COLUMN thin_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pdsk ADD COLUMN next_thin_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE pdsk ADD COLUMN pool_mib INTEGER NOT NULL DEFAULT 0;
CREATE TABLE doomed_leg(
  pdsk_id INTEGER NOT NULL REFERENCES pdsk(id),
  thin_id INTEGER NOT NULL,
  chunk_id INTEGER NOT NULL,
  offset_mib INTEGER NOT NULL CHECK(offset_mib >= 0),
  length_mib INTEGER NOT NULL CHECK(length_mib > 0),
  ctime TEXT NOT NULL,
  PRIMARY KEY(pdsk_id, offset_mib)) WITHOUT ROWID;
INSERT INTO setting(key, value) VALUES ('overcommit', '1.0');
)SQL",
    // 7 -> 8: a leg is `created` once a storage agent answered a grant
    // carrying it (its thin device exists). Heads are handed only legs
    // granted before, so a leg never created holds nothing: it is never
    // INSYNC beside one that may hold data (Store::SettleWrittenLegs).
    // Before, legs were not told apart: every leg that may have been
    // handed out counts as created (a missing one is then replaced).
    R"SQL(
ALTER TABLE chunk ADD COLUMN created INTEGER NOT NULL DEFAULT 0;
UPDATE chunk SET created = 1 WHERE status = 2
  OR (status = 1 AND mirror_id IN (SELECT id FROM mirror WHERE written = 1));
)SQL",
    // 8 -> 9: thin snapshots and clones. A snapshot (kind 1) or a clone
    // (kind 0 with source_id) is a volume of its own whose legs were made
    // by dm-thin snapshots of its source's legs, on the same disks. state:
    // 0 READY, 1 CREATING (its legs being made), 2 ERROR (that ended with
    // an unknown outcome: only a delete clears it). An origin or source may
    // be deleted first: origin_id and source_id then become NULL.
    R"SQL(
ALTER TABLE lvol ADD COLUMN source_id INTEGER;
ALTER TABLE lvol ADD COLUMN state INTEGER NOT NULL DEFAULT 0;
)SQL",
    // 9 -> 10: per-server credentials (manager/credentials.h). A row is
    // an HTTP Basic user of role storage or head, bound to its server once
    // that registers (server_id 0 until then); its secret is derived from
    // the node key and generation, never stored. in_use: the server's agent
    // has registered with it since it was issued, so the manager calls that
    // agent with it too (before, with the cluster secret).
    R"SQL(
CREATE TABLE credential(
  user TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK(role IN ('storage', 'head')),
  server_id INTEGER NOT NULL DEFAULT 0,
  generation INTEGER NOT NULL DEFAULT 1 CHECK(generation > 0),
  in_use INTEGER NOT NULL DEFAULT 0,
  ctime TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX credential_server ON credential(role, server_id);
)SQL",
    // 10 -> 11: tenants (manager/API.md, "Tenants"). A tenant is a
    // credential of role tenant naming its namespace; its volumes carry
    // that name (snapshots and clones their source's), and tenant_head
    // lists the heads it may attach them to. SQLite cannot change a CHECK
    // in place: the credential table is made again, its rows kept.
    R"SQL(
ALTER TABLE lvol ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
CREATE INDEX lvol_tenant ON lvol(tenant);
CREATE TABLE credential_v11(
  user TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK(role IN ('storage', 'head', 'tenant')),
  server_id INTEGER NOT NULL DEFAULT 0,
  tenant TEXT NOT NULL DEFAULT '',
  generation INTEGER NOT NULL DEFAULT 1 CHECK(generation > 0),
  in_use INTEGER NOT NULL DEFAULT 0,
  ctime TEXT NOT NULL,
  CHECK((role = 'tenant') = (tenant != ''))) WITHOUT ROWID;
INSERT INTO credential_v11(user, role, server_id, generation, in_use, ctime)
  SELECT user, role, server_id, generation, in_use, ctime FROM credential;
DROP TABLE credential;
ALTER TABLE credential_v11 RENAME TO credential;
CREATE INDEX credential_server ON credential(role, server_id);
CREATE UNIQUE INDEX credential_tenant ON credential(tenant) WHERE tenant != '';
CREATE TABLE tenant_head(
  tenant TEXT NOT NULL,
  hsvr_id INTEGER NOT NULL,
  PRIMARY KEY(tenant, hsvr_id)) WITHOUT ROWID;
)SQL",
};

constexpr int kNumMigrations = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kNumMigrations == kSchemaVersion, "one migration per schema version");

}  // namespace

Status Migrate(Db& db) {
  Txn txn(db);
  VS_RETURN_IF_ERROR(txn.status());
  int version = 0;
  {
    Stmt q(db, "PRAGMA user_version");
    if (q.Step()) version = static_cast<int>(q.Int(0));
    VS_RETURN_IF_ERROR(q.status());
  }
  if (version > kSchemaVersion)
    return Status::Error(EPROTO, "database schema version " + std::to_string(version) +
                                     " is newer than this manager understands (" +
                                     std::to_string(kSchemaVersion) + ")");
  if (version > 0 && version < kFirstThinSchema)
    return Status::Error(EPROTO, "database schema version " + std::to_string(version) +
                                     " is the slice layout, which this manager no longer supports "
                                     "(no migration): start a fresh database");
  for (int v = version; v < kSchemaVersion; ++v) VS_RETURN_IF_ERROR(db.Exec(kMigrations[v]));
  if (version != kSchemaVersion)
    VS_RETURN_IF_ERROR(db.Exec("PRAGMA user_version=" + std::to_string(kSchemaVersion)));
  return txn.Commit();
}

}  // namespace vastsky
