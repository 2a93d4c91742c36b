#include "cli/layout.h"

#include "cli/words.h"
#include "lib/ids.h"
#include "lib/units.h"

namespace vastsky {
namespace cli {

namespace {
const int64_t kMirror = 2;
const int64_t kSnapshotOrigin = 6;
const int64_t kSnapshot = 7;

std::string Kind(const Json& lvol) {
  const Json& below = JsonArray(lvol, "components");
  int64_t type = below.empty() ? -1 : JsonInt(below[0], "lvoltype");
  if (type == kSnapshotOrigin) return "volume";
  if (type == kSnapshot) return "snapshot";
  return LvolTypeName(JsonInt(lvol, "lvoltype"));
}

std::string Snapshots(const Json& spec) {
  std::string out;
  for (const Json& snap : JsonArray(spec, "assoc")) {
    const Json& labels = JsonArray(snap, "labels");
    std::string name = labels.empty() || !labels[0].is_string() ? "" : labels[0].get<std::string>();
    out += (out.empty() ? "" : ", ") + FormatId("lvol", JsonInt(snap, "lvolid"));
    if (!name.empty()) out += " (" + name + ")";
  }
  return out.empty() ? "-" : out;
}

void AddMirrors(const Json& node, Table* t) {
  if (JsonInt(node, "lvoltype") != kMirror) {
    for (const Json& c : JsonArray(node, "components")) AddMirrors(c, t);
    return;
  }
  // Offsets stay exact: they are for finding data, not for reading at a glance.
  const Json& spec = JsonObject(node, "lvolspec");
  t->AddRow({FormatId("mirr", JsonInt(node, "lvolid")), "", "",
             std::to_string(JsonInt(spec, "offset")) + " GiB", FormatGiB(JsonInt(node, "capacity")),
             ""});
  for (const Json& leg : JsonArray(node, "components")) {
    const Json& ls = JsonObject(leg, "lvolspec");
    int64_t length_mib = JsonInt(ls, "length");
    t->AddRow({"  " + FormatId("dext", JsonInt(leg, "lvolid")),
               FormatId("pdsk", JsonInt(ls, "pdskid")), FormatId("ssvr", JsonInt(ls, "ssvrid")),
               std::to_string(JsonInt(ls, "offset")) + " MiB",
               FormatBytes(length_mib < 0 ? 0 : static_cast<uint64_t>(length_mib) << 20),
               MirrorStatusName(JsonInt(leg, "mirror_status"))});
  }
}
}  // namespace

void PrintLayout(const Json& lvolstruct, std::ostream& out) {
  const Json& spec = JsonObject(lvolstruct, "lvolspec");
  KeyValues summary;
  summary.Add("lvolid", FormatId("lvol", JsonInt(lvolstruct, "lvolid")));
  summary.Add("lvolname", JsonText(spec, "lvolname"));
  summary.Add("type", Kind(lvolstruct));
  summary.Add("capacity", FormatGiB(JsonInt(lvolstruct, "capacity")));
  summary.Add("redundancy", JsonText(spec, "redundancy"));
  summary.Add("ctime", JsonText(spec, "ctime"));
  summary.Add("snapshots", Snapshots(spec));
  summary.Print(out);
  out << "\n";
  Table layout({"mirror/dext", "pdsk", "ssvr", "offset", "size", "status"});
  AddMirrors(lvolstruct, &layout);
  layout.Print(out);
}

}  // namespace cli
}  // namespace vastsky
