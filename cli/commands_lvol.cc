// Volume commands: lvol create/delete/attach/detach/resize/list/show/family/clone/diff,
// snap create/list/delete. Snapshots are volumes to the API, so they live here too.
#include <functional>
#include <iostream>

#include "cli/args.h"
#include "cli/command.h"
#include "cli/command_line.h"
#include "cli/layout.h"
#include "cli/object_commands.h"
#include "lib/ids.h"
#include "lib/units.h"

namespace vastsky {
namespace cli {

namespace {

const char kLvolHelp[] = "The volume: lvol-XXXXXXXX or 8 hex digits for an id, else a name.";

// 3.0's hsvrid column: where the volume is attached, marked while it moves.
std::string AttachedTo(const Json& lvol) {
  int64_t hsvr = JsonInt(lvol, "hsvrid");
  std::string where = hsvr != 0 ? FormatId("hsvr", hsvr) : "---";
  if (JsonInt(lvol, "bind_status") == 2) return "*" + where;  // ERROR
  switch (JsonInt(lvol, "bind_event")) {
    case 1: return "+" + where;  // BINDING
    case 2: return "-" + where;  // UNBINDING
    case 3: return "~" + where;  // RESIZING
    default: return where;
  }
}

void PrintVolumes(const Json& answer) {
  Table t({"lvolid", "lvolname", "redundancy", "capacity", "hsvrid", "fault", "tenant", "ctime"});
  for (const Json& v : AsArray(answer)) {
    const std::string tenant = JsonText(v, "tenant");
    t.AddRow({FormatId("lvol", JsonInt(v, "lvolid")), JsonText(v, "lvolname"),
              JsonText(v, "redundancy"), FormatGiB(JsonInt(v, "capacity")), AttachedTo(v),
              JsonBool(v, "fault") ? "yes" : "no", tenant.empty() ? "-" : tenant, JsonText(v, "ctime")});
  }
  t.Print(std::cout);
}

// Create methods answer a bare id; --json gives scripts the name alongside.
int RunCreate(CommandLine* cl, const char* method, Members m, const std::string& name,
              const std::string& what) {
  auto id_of = [](const Json& answer) { return answer.is_number() ? answer.get<int64_t>() : 0; };
  auto text = [&](const Json& answer) { std::cout << FormatId("lvol", id_of(answer)) << "\n"; };
  auto json = [&](const Json& answer) {
    PrintJson({{"lvolid", answer}, {"lvol", FormatId("lvol", id_of(answer))}, {"lvolname", name}});
  };
  return cl->Run(method, std::move(m), what, text, json);
}

// Members for one volume, as `lvolid`/`lvolname`.
Members VolumeMembers(const LvolRef& ref) {
  Members m;
  ref.AddTo(&m, "lvolid", "lvolname");
  return m;
}

// The verbs whose only argument is one volume; text may make more calls
// through cl (a show's family).
using VolumePrinter = std::function<void(CommandLine* cl, const LvolRef& ref, const Json& answer)>;
int RunOnVolumeWith(std::vector<std::string> args, const char* description, const char* method, const char* verb,
                    const VolumePrinter& text) {
  CommandLine cl(description);
  TCLAP::UnlabeledValueArg<std::string> lvol("LVOL", kLvolHelp, true, "", "LVOL", cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  LvolRef ref;
  if (int rc = cl.CheckUsage(ParseLvolRef(lvol.getValue(), &ref))) return rc;
  return cl.Run(method, VolumeMembers(ref), std::string("cannot ") + verb + " " + ref.Describe(),
                [&](const Json& answer) { text(&cl, ref, answer); });
}
int RunOnVolume(std::vector<std::string> args, const char* description, const char* method, const char* verb,
                const Printer& text) {
  return RunOnVolumeWith(std::move(args), description, method, verb,
                         [&text](CommandLine*, const LvolRef&, const Json& answer) { text(answer); });
}

int LvolCreate(std::vector<std::string> args) {
  CommandLine cl("Creates a volume and prints its id.");
  std::vector<int> copies = {2, 3, 4, 5, 6, 7, 8, 9};  // the API's range
  TCLAP::ValuesConstraint<int> copies_allowed(copies);
  TCLAP::ValueArg<int> redundancy("r", "redundancy",
                                  "Copies of every chunk. Default: the manager's (3).", false, 0,
                                  &copies_allowed, cl.cmd());
  TCLAP::UnlabeledValueArg<std::string> name(
      "NAME", "1 to 64 of [A-Za-z0-9._-]; not something that reads as an id.", true, "", "NAME",
      cl.cmd());
  TCLAP::UnlabeledValueArg<std::string> size(
      "SIZE", "A whole number of GiB, with a unit: 10G, 1T, 1.5T.", true, "", "SIZE", cl.cmd());
  TCLAP::ValueArg<std::string> tenant("t", "tenant", "The tenant it belongs to (vastsky tenant enroll). Default: none.",
                                      false, "", "TENANT", cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  int gib = 0;
  if (int rc = cl.CheckUsage(CheckVolumeName(name.getValue()))) return rc;
  if (int rc = cl.CheckUsage(ParseCapacityGiB(size.getValue(), &gib))) return rc;
  Members m = {{"lvolname", xmlrpc_c::value_string(name.getValue())},
               {"capacity", xmlrpc_c::value_int(gib)}};
  if (redundancy.isSet()) m["redundancy"] = xmlrpc_c::value_int(redundancy.getValue());
  if (tenant.isSet()) m["tenant"] = xmlrpc_c::value_string(tenant.getValue());
  return RunCreate(&cl, "createLogicalVolume", m, name.getValue(),
                   "cannot create volume '" + name.getValue() + "'");
}

int LvolDelete(std::vector<std::string> args) {
  return RunOnVolume(std::move(args),
                     "Deletes a detached volume. Its snapshots and clones live on; only the space "
                     "nothing else shares is freed.",
                     "deleteLogicalVolume", "delete", PrintNothing);
}

int LvolAttach(std::vector<std::string> args) {
  CommandLine cl("Attaches a volume to a head server, which then serves it as a block device.");
  TCLAP::UnlabeledValueArg<std::string> lvol("LVOL", kLvolHelp, true, "", "LVOL", cl.cmd());
  TCLAP::UnlabeledValueArg<std::string> hsvr(
      "HSVR", "The head server: hsvr-XXXXXXXX, 8 hex digits, or a decimal id.", true, "", "HSVR",
      cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  LvolRef ref;
  int hsvrid = 0;
  if (int rc = cl.CheckUsage(ParseLvolRef(lvol.getValue(), &ref))) return rc;
  if (int rc = cl.CheckUsage(
          ParseObjectId(hsvr.getValue(), kHeadServer.prefix, kHeadServer.noun, &hsvrid)))
    return rc;
  Members m = {{"hsvrid", xmlrpc_c::value_int(hsvrid)}};
  ref.AddTo(&m, "lvolid", "lvolname");
  return cl.Run("attachLogicalVolume", m,
                "cannot attach " + ref.Describe() + " to " + DescribeObject(kHeadServer, hsvrid),
                PrintNothing);
}

// --capacity takes whole GiB (as the API does) or a size with a unit (10G, 1T).
Status ParseNewCapacity(const std::string& text, int* gib) {
  if (!text.empty() && text.size() <= 7 && text.find_first_not_of("0123456789") == std::string::npos)
    return ParseCapacityGiB(text + "G", gib);
  return ParseCapacityGiB(text, gib);
}

int LvolResize(std::vector<std::string> args) {
  CommandLine cl("Grows a volume to a new size, also while it is attached and in use (the head's device grows "
                 "in place). Volumes never shrink; snapshots keep the size they were taken at.");
  TCLAP::ValueArg<std::string> capacity("c", "capacity", "The new size: whole GiB (20) or with a unit (20G, 1T).",
                                        true, "", "SIZE", cl.cmd());
  TCLAP::UnlabeledValueArg<std::string> lvol("LVOL", kLvolHelp, true, "", "LVOL", cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  LvolRef ref;
  int gib = 0;
  if (int rc = cl.CheckUsage(ParseLvolRef(lvol.getValue(), &ref))) return rc;
  if (int rc = cl.CheckUsage(ParseNewCapacity(capacity.getValue(), &gib))) return rc;
  Members m = {{"capacity", xmlrpc_c::value_int(gib)}};
  ref.AddTo(&m, "lvolid", "lvolname");
  return cl.Run("resizeLogicalVolume", m, "cannot resize " + ref.Describe() + " to " + std::to_string(gib) + " GiB",
                PrintNothing);
}

int LvolDetach(std::vector<std::string> args) {
  return RunOnVolume(std::move(args), "Detaches a volume from its head server.",
                     "detachLogicalVolume", "detach", PrintNothing);
}

int LvolList(std::vector<std::string> args) {
  CommandLine cl("Lists volumes and snapshots, or one.");
  TCLAP::UnlabeledValueArg<std::string> lvol("LVOL", std::string(kLvolHelp) + " Default: all.",
                                             false, "", "LVOL", cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  Members m;
  std::string what = "cannot list volumes";
  if (lvol.isSet()) {
    LvolRef ref;
    if (int rc = cl.CheckUsage(ParseLvolRef(lvol.getValue(), &ref))) return rc;
    ref.AddTo(&m, "lvolid", "lvolname");
    what = "cannot list " + ref.Describe();
  }
  return cl.Run("listLogicalVolumes", m, what, PrintVolumes);
}

// The family table under the layout when the volume has relatives. A
// manager without getVolumeFamily (or one that fails it) costs only the table.
void PrintRelatives(CommandLine* cl, const LvolRef& ref, int64_t self) {
  Json family;
  Status st = cl->Call("getVolumeFamily", VolumeMembers(ref), "cannot list the family of " + ref.Describe(), &family);
  if (!st.ok()) {
    std::cerr << "vastsky: family not shown: " << st.message() << "\n";
    return;
  }
  if (JsonArray(family, "lvols").size() < 2) return;
  std::cout << "\nfamily:\n";
  PrintFamily(family, self, std::cout);
}

int LvolShow(std::vector<std::string> args) {
  return RunOnVolumeWith(std::move(args),
                         "Shows a volume's layout: its mirrors and, for each, the disks holding its legs; then its "
                         "family (origin, snapshots, clones) with the space each maps and holds alone, if it has one.",
                         "showLogicalVolume", "show", [](CommandLine* cl, const LvolRef& ref, const Json& answer) {
                           PrintLayout(answer, std::cout);
                           PrintRelatives(cl, ref, JsonInt(answer, "lvolid"));
                         });
}

int LvolFamily(std::vector<std::string> args) {
  return RunOnVolumeWith(
      std::move(args),
      "Lists a volume's family: its root, then every snapshot and clone below it, with the pool space each maps "
      "and holds alone (freed if it alone were deleted). --json gives getVolumeFamily's answer.",
      "getVolumeFamily", "list the family of", [](CommandLine*, const LvolRef& ref, const Json& answer) {
        int64_t self = ref.id;
        for (const Json& m : JsonArray(answer, "lvols"))
          if (!self && JsonText(m, "lvolname") == ref.name) self = JsonInt(m, "lvolid");
        PrintFamily(answer, self, std::cout);
      });
}

int SnapCreate(std::vector<std::string> args) {
  CommandLine cl("Takes a snapshot of a volume (instant, crash-consistent, read-only) and prints its id. An "
                 "attached volume's I/O pauses for a moment while its legs are snapshotted.");
  TCLAP::UnlabeledValueArg<std::string> origin("ORIGIN", kLvolHelp, true, "", "ORIGIN", cl.cmd());
  TCLAP::UnlabeledValueArg<std::string> name("SNAPNAME", "The snapshot's name, as a volume name.",
                                             true, "", "SNAPNAME", cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  LvolRef ref;
  if (int rc = cl.CheckUsage(ParseLvolRef(origin.getValue(), &ref))) return rc;
  if (int rc = cl.CheckUsage(CheckVolumeName(name.getValue()))) return rc;
  Members m = {{"snapshot_lvolname", xmlrpc_c::value_string(name.getValue())}};
  ref.AddTo(&m, "origin_lvolid", "origin_lvolname");
  return RunCreate(&cl, "createSnapshot", m, name.getValue(),
                   "cannot create snapshot '" + name.getValue() + "' of " + ref.Describe());
}

// The snapshots among listLogicalVolumes' rows; of one origin if ref is set
// (by id, or by the name of a row).
Json Snapshots(const Json& rows, const LvolRef* ref) {
  int64_t origin_id = ref ? ref->id : 0;
  if (ref && !ref->id)
    for (const Json& v : AsArray(rows))
      if (JsonText(v, "lvolname") == ref->name) origin_id = JsonInt(v, "lvolid");
  Json out = Json::array();
  for (const Json& v : AsArray(rows)) {
    if (!JsonBool(v, "read_only")) continue;
    const Json& to = v["associated_to"];
    const int64_t origin = to.empty() ? 0 : JsonInt(to[0], "lvolid");
    if (ref && origin != origin_id) continue;
    out.push_back(v);
  }
  return out;
}

int SnapList(std::vector<std::string> args) {
  CommandLine cl("Lists snapshots: all, or one volume's.");
  TCLAP::UnlabeledValueArg<std::string> origin("ORIGIN", std::string(kLvolHelp) + " Default: every volume.", false,
                                               "", "ORIGIN", cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  LvolRef ref;
  if (origin.isSet())
    if (int rc = cl.CheckUsage(ParseLvolRef(origin.getValue(), &ref))) return rc;
  const LvolRef* of = origin.isSet() ? &ref : nullptr;
  auto text = [of](const Json& answer) {
    Table t({"lvolid", "lvolname", "origin", "capacity", "hsvrid", "ctime"});
    for (const Json& v : Snapshots(answer, of)) {
      const Json& to = v["associated_to"];
      t.AddRow({FormatId("lvol", JsonInt(v, "lvolid")), JsonText(v, "lvolname"),
                to.empty() ? "(deleted)" : FormatId("lvol", JsonInt(to[0], "lvolid")),
                FormatGiB(JsonInt(v, "capacity")), AttachedTo(v), JsonText(v, "ctime")});
    }
    t.Print(std::cout);
  };
  auto json = [of](const Json& answer) { PrintJson(Snapshots(answer, of)); };
  return cl.Run("listLogicalVolumes", {}, "cannot list snapshots", text, json);
}

int SnapDelete(std::vector<std::string> args) {
  return RunOnVolume(std::move(args),
                     "Deletes a detached snapshot. Its origin and the clones made from it are untouched.",
                     "deleteLogicalVolume", "delete", PrintNothing);
}

int LvolClone(std::vector<std::string> args) {
  CommandLine cl("Makes a writable volume from a volume or a snapshot, instantly (it shares blocks with its "
                 "source until either writes them), and prints its id.");
  TCLAP::UnlabeledValueArg<std::string> source("SOURCE", kLvolHelp, true, "", "SOURCE", cl.cmd());
  TCLAP::UnlabeledValueArg<std::string> name("NAME", "The clone's name, as a volume name.", true, "", "NAME",
                                             cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  LvolRef ref;
  if (int rc = cl.CheckUsage(ParseLvolRef(source.getValue(), &ref))) return rc;
  if (int rc = cl.CheckUsage(CheckVolumeName(name.getValue()))) return rc;
  Members m = {{"clone_lvolname", xmlrpc_c::value_string(name.getValue())}};
  ref.AddTo(&m, "lvolid", "lvolname");
  return RunCreate(&cl, "cloneLogicalVolume", m, name.getValue(),
                   "cannot clone " + ref.Describe() + " as '" + name.getValue() + "'");
}

int LvolRevert(std::vector<std::string> args) {
  CommandLine cl("Gives a detached volume the content of one of its snapshots again, without copying data. "
                 "What it holds now is lost; its other snapshots stay.");
  TCLAP::UnlabeledValueArg<std::string> lvol("LVOL", kLvolHelp, true, "", "LVOL", cl.cmd());
  TCLAP::UnlabeledValueArg<std::string> snap("SNAP", "The snapshot, as LVOL.", true, "", "SNAP", cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  LvolRef ref, snap_ref;
  if (int rc = cl.CheckUsage(ParseLvolRef(lvol.getValue(), &ref))) return rc;
  if (int rc = cl.CheckUsage(ParseLvolRef(snap.getValue(), &snap_ref))) return rc;
  Members m;
  ref.AddTo(&m, "lvolid", "lvolname");
  snap_ref.AddTo(&m, "snapshot_lvolid", "snapshot_lvolname");
  return cl.Run("revertLogicalVolume", m, "cannot revert " + ref.Describe() + " to " + snap_ref.Describe(),
                PrintNothing);
}

void PrintChanged(const Json& answer) {
  const int64_t kib = JsonInt(answer, "block_kib");
  const Json& ranges = answer.contains("ranges") ? answer["ranges"] : Json::array();
  int64_t blocks = 0;
  for (size_t i = 1; i < ranges.size(); i += 2) blocks += ranges[i].get<int64_t>();
  std::cout << blocks << " changed block(s) of " << kib << " KiB (" << FormatBytes(static_cast<uint64_t>(blocks * kib) << 10) << ") in "
            << ranges.size() / 2 << " range(s)\n";
  Table t({"offset", "length"});
  for (size_t i = 0; i + 1 < ranges.size(); i += 2)
    t.AddRow({FormatBytes(static_cast<uint64_t>(ranges[i].get<int64_t>() * kib) << 10),
              FormatBytes(static_cast<uint64_t>(ranges[i + 1].get<int64_t>() * kib) << 10)});
  if (!ranges.empty()) t.Print(std::cout);
}

int LvolDiff(std::vector<std::string> args) {
  CommandLine cl("Lists the blocks of a volume or snapshot that differ from an older snapshot's, from the pools' "
                 "metadata (no data is read). --json gives block_kib and [start, count, ...] ranges.");
  TCLAP::UnlabeledValueArg<std::string> lvol("LVOL", kLvolHelp, true, "", "LVOL", cl.cmd());
  TCLAP::UnlabeledValueArg<std::string> base("BASE", "The older snapshot, as LVOL.", true, "", "BASE", cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  LvolRef ref, base_ref;
  if (int rc = cl.CheckUsage(ParseLvolRef(lvol.getValue(), &ref))) return rc;
  if (int rc = cl.CheckUsage(ParseLvolRef(base.getValue(), &base_ref))) return rc;
  Members m;
  ref.AddTo(&m, "lvolid", "lvolname");
  base_ref.AddTo(&m, "base_lvolid", "base_lvolname");
  return cl.Run("listChangedBlocks", m, "cannot list the changes of " + ref.Describe() + " since " +
                                            base_ref.Describe(), PrintChanged);
}

}  // namespace

void AddLvolCommands(std::vector<Command>* out) {
  out->push_back({"lvol", "create", "[--redundancy N] [--tenant T] NAME SIZE", "create a volume (SIZE: 10G, 1T)",
                  LvolCreate});
  out->push_back({"lvol", "delete", "LVOL", "delete a detached volume", LvolDelete});
  out->push_back({"lvol", "attach", "LVOL HSVR", "attach a volume to a head server", LvolAttach});
  out->push_back({"lvol", "detach", "LVOL", "detach a volume", LvolDetach});
  out->push_back({"lvol", "resize", "LVOL --capacity SIZE", "grow a volume, attached or not (SIZE: 20, 20G, 1T)",
                  LvolResize});
  out->push_back({"lvol", "list", "[LVOL]", "list volumes", LvolList});
  out->push_back({"lvol", "show", "LVOL", "show a volume's mirrors and disks", LvolShow});
  out->push_back({"lvol", "clone", "SOURCE NAME", "a writable copy of a volume or snapshot, instantly", LvolClone});
  out->push_back({"lvol", "revert", "LVOL SNAP", "give a detached volume a snapshot's content again", LvolRevert});
  out->push_back({"lvol", "family", "LVOL", "a volume's snapshots and clones, and the space each holds alone",
                  LvolFamily});
  out->push_back({"lvol", "diff", "LVOL BASE", "the blocks changed since snapshot BASE", LvolDiff});
  out->push_back({"snap", "create", "ORIGIN SNAPNAME", "snapshot a volume", SnapCreate});
  out->push_back({"snap", "list", "[ORIGIN]", "list snapshots", SnapList});
  out->push_back({"snap", "delete", "SNAP", "delete a detached snapshot", SnapDelete});
}

}  // namespace cli
}  // namespace vastsky
