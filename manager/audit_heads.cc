// Store::AuditHeadRecords: the invariant of held space, checked against what
// heads really have. A head agent keeps each volume it assembled as a record
// (agents/head/volume_spec.h) in state_dir/volumes, and re-assembles from it
// after a restart, so every leg in a record is a leg that head may write.
// None may lie on space the database counts as free or as another leg.
#include <dirent.h>

#include <cerrno>
#include <map>
#include <set>

#include "agents/head/volume_spec.h"
#include "lib/ids.h"
#include "lib/state_file.h"
#include "manager/schema.h"
#include "manager/store.h"

namespace vastsky {

namespace {

// The legs each disk still has space for: chunks, held extents (a leg that
// left its mirror but that a head may still write) and doomed legs (their
// thin devices not yet deleted by the storage agent).
Status LoadLegs(Db& db, std::map<int64_t, std::set<int64_t>>* out) {
  Stmt f(db, "SELECT pdsk_id, id FROM chunk UNION ALL SELECT pdsk_id, chunk_id FROM held_extent "
             "UNION ALL SELECT pdsk_id, chunk_id FROM doomed_leg");
  while (f.Step()) (*out)[f.Int(0)].insert(f.Int(1));
  return f.status();
}

Status RecordFiles(const std::string& dir, std::vector<std::string>* names) {
  DIR* d = opendir(dir.c_str());
  if (!d) return errno == ENOENT ? Status::OK() : Status::Error(errno, "cannot read " + dir);
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    // As the head agent reads them: one file per volume, named by its id.
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) names->push_back(name);
  }
  closedir(d);
  return Status::OK();
}

// With thin legs a leg is its own thin device: it must be one whose space
// the database still counts on that disk.
void CheckLeg(const std::string& where, const VolumeSpec& spec, const LegSpec& leg,
              const std::map<int64_t, std::set<int64_t>>& legs, std::vector<std::string>* problems) {
  auto disk = legs.find(leg.pdsk_id);
  if (disk != legs.end() && disk->second.count(leg.chunk_id)) return;
  problems->push_back(where + ": " + FormatId("lvol", spec.lvol_id) + " leg " + FormatId("dext", leg.chunk_id) + " on " +
                      FormatId("pdsk", leg.pdsk_id) + " is no longer counted there: its space is free");
}

}  // namespace

Status Store::AuditHeadRecords(const std::string& path, const std::vector<std::string>& record_dirs,
                               std::vector<std::string>* problems) {
  Db db;
  VS_RETURN_IF_ERROR(db.Open(path, /*read_only=*/true));
  std::map<int64_t, std::set<int64_t>> pieces;
  VS_RETURN_IF_ERROR(LoadLegs(db, &pieces));
  for (const std::string& dir : record_dirs) {
    std::vector<std::string> names;
    Status st = RecordFiles(dir, &names);
    if (!st.ok()) problems->push_back(st.ToString());
    for (const std::string& name : names) {
      const std::string file = dir + "/" + name;
      std::string text, chap_user, chap_secret;
      VolumeSpec spec;
      st = ReadStateFile(file, &text);
      if (st.ok()) st = DecodeVolumeRecord(text, &spec, &chap_user, &chap_secret);
      if (!st.ok()) {
        problems->push_back(file + ": " + st.ToString());
        continue;
      }
      for (const MirrorSpec& m : spec.mirrors)
        for (const LegSpec& leg : m.legs) CheckLeg(file, spec, leg, pieces, problems);
    }
  }
  return Status::OK();
}

}  // namespace vastsky
