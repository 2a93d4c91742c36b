#include "cli/layout.h"

#include <map>

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

void PrintFamily(const Json& family, int64_t self, std::ostream& out) {
  std::map<int64_t, size_t> depth;  // members come root first, sources before what they made
  int64_t unreported = 0;
  Table t({"member", "kind", "source", "capacity", "mapped", "held alone"});
  auto mib = [](const Json& m, const char* key) {
    const int64_t v = JsonInt(m, key);
    const std::string text = FormatBytes(v < 0 ? 0 : static_cast<uint64_t>(v) << 20);
    return JsonInt(m, "legs_unreported") > 0 ? text + " +?" : text;
  };
  for (const Json& m : JsonArray(family, "lvols")) {
    const int64_t id = JsonInt(m, "lvolid"), source = JsonInt(m, "source_lvolid");
    const size_t d = depth[id] = depth.count(source) ? depth[source] + 1 : 0;
    unreported += JsonInt(m, "legs_unreported");
    t.AddRow({std::string(2 * d, ' ') + (id == self ? "* " : "  ") + FormatId("lvol", id) + " (" +
                  JsonText(m, "lvolname") + ")",
              JsonText(m, "kind"), source ? FormatId("lvol", source) : "-", FormatGiB(JsonInt(m, "capacity")),
              mib(m, "mapped_mib"), mib(m, "exclusive_mib")});
  }
  t.Print(out);
  out << "mapped: pool space of every copy of every leg; held alone: freed if that member alone were deleted\n";
  if (unreported > 0)
    out << "+?: " << unreported << " leg(s) not counted: their disk is down, its server has no agent, or the "
        << "agent did not answer (see the manager's log)\n";
}

}  // namespace cli
}  // namespace vastsky
