// rebuild list: every mirror with a leg being copied (rebuilt after a
// failure, or moved by a drain), how far it has come and when it should end.
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/command_line.h"
#include "lib/ids.h"

namespace vastsky {
namespace cli {

namespace {

std::string Disks(const Json& row, const char* key) {
  std::string out;
  for (const Json& d : JsonArray(row, key)) out += (out.empty() ? "" : ",") + FormatId("pdsk", d.get<int64_t>());
  return out;
}

void PrintRebuilds(const Json& answer) {
  Table t({"mirror", "volume", "kind", "state", "source", "destination", "done", "rate", "eta"});
  for (const Json& r : AsArray(answer)) {
    const bool running = JsonText(r, "state") == "running";
    char done[64];
    snprintf(done, sizeof done, "%s %5.1f%%", ProgressBar(JsonDouble(r, "percent"), 10).c_str(),
             JsonDouble(r, "percent"));
    const int64_t source = JsonInt(r, "source_pdskid");
    t.AddRow({FormatId("mirr", JsonInt(r, "mirrorid")), JsonText(r, "lvolname"), JsonText(r, "kind"),
              JsonText(r, "state"), source ? FormatId("pdsk", source) : "-", Disks(r, "dest_pdskids"),
              running ? done : "-", FormatRate(JsonDouble(r, "rate_mibs")),
              running ? FormatEta(JsonInt(r, "eta")) : "-"});
  }
  t.Print(std::cout);
}

int RebuildList(std::vector<std::string> args) {
  CommandLine cl("Lists the mirrors being rebuilt or moved (running first, then queued): source and destination "
                 "disks, how much is copied, the present rate and the time left at that rate.");
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  return cl.Run("listRebuilds", {}, "cannot list rebuilds", PrintRebuilds);
}

}  // namespace

void AddRebuildCommands(std::vector<Command>* out) {
  out->push_back({"rebuild", "list", "", "list rebuilds and moves with progress and ETA", RebuildList});
}

}  // namespace cli
}  // namespace vastsky
