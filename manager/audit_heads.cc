// Store::AuditHeadRecords: the invariant of held space, checked against what
// heads really have. A head agent keeps each volume it assembled as a record
// (agents/head/volume_spec.h) in state_dir/volumes, and re-assembles from it
// after a restart, so every leg in a record is a leg that head may write.
// None may lie on space the database counts as free or as another leg.
#include <dirent.h>

#include <cerrno>
#include <map>

#include "agents/head/volume_spec.h"
#include "lib/ids.h"
#include "lib/state_file.h"
#include "manager/schema.h"
#include "manager/store.h"

namespace vastsky {

namespace {

struct Piece {
  int64_t offset, end;  // MiB, [offset, end)
  int64_t chunk_id;     // 0: free space
};

// Every piece of every disk that a leg must not overlap: free extents and
// chunks (held extents may lie under a head's leg: that is what they are for).
Status LoadPieces(Db& db, std::map<int64_t, std::vector<Piece>>* out) {
  Stmt f(db, "SELECT pdsk_id, offset_mib, offset_mib + length_mib, 0 FROM free_extent UNION ALL "
             "SELECT pdsk_id, offset_mib, offset_mib + length_mib + ?1, id FROM chunk");
  f.Bind(1, kMetaMib);
  while (f.Step()) (*out)[f.Int(0)].push_back({f.Int(1), f.Int(2), f.Int(3)});
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

void CheckLeg(const std::string& where, const VolumeSpec& spec, const LegSpec& leg,
              const std::map<int64_t, std::vector<Piece>>& pieces, std::vector<std::string>* problems) {
  auto disk = pieces.find(leg.pdsk_id);
  if (disk == pieces.end()) return;  // a disk deleted: nothing can be placed on it
  const int64_t begin = leg.offset_mib, end = leg.offset_mib + leg.length_mib + kMetaMib;
  for (const Piece& p : disk->second) {
    if (p.end <= begin || p.offset >= end || p.chunk_id == leg.chunk_id) continue;
    problems->push_back(where + ": " + FormatId("lvol", spec.lvol_id) + " leg " + FormatId("dext", leg.chunk_id) +
                        " on " + FormatId("pdsk", leg.pdsk_id) + " at " + std::to_string(begin) + " MiB overlaps " +
                        (p.chunk_id ? FormatId("dext", p.chunk_id) : std::string("free space")) + " at " +
                        std::to_string(p.offset) + " MiB");
  }
}

}  // namespace

Status Store::AuditHeadRecords(const std::string& path, const std::vector<std::string>& record_dirs,
                               std::vector<std::string>* problems) {
  Db db;
  VS_RETURN_IF_ERROR(db.Open(path, /*read_only=*/true));
  std::map<int64_t, std::vector<Piece>> pieces;
  VS_RETURN_IF_ERROR(LoadPieces(db, &pieces));
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
