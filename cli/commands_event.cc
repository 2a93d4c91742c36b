// event list: the manager's event log, oldest first.
#include <cctype>
#include <iostream>

#include "cli/command.h"
#include "cli/command_line.h"
#include "cli/words.h"
#include "lib/ids.h"

namespace vastsky {
namespace cli {

namespace {

// "ssvr-00000002": the manager names the target's kind by its id prefix
// ("ssvr", "mirr", "cluster"); a numeric kind is the API's target enum.
std::string Target(const Json& event) {
  int64_t id = JsonInt(event, "targetid");
  std::string kind = JsonText(event, "target");
  if (!kind.empty() && isdigit(static_cast<unsigned char>(kind[0])))
    kind = TargetPrefix(JsonInt(event, "target"));
  static const char* const kIdPrefixes[] = {"lvol", "mirr", "dext", "pdsk", "ssvr", "hsvr"};
  for (const char* prefix : kIdPrefixes)
    if (kind == prefix) return FormatId(prefix, id);
  if (id == 0) return kind.empty() ? "-" : kind;
  return (kind.empty() ? "" : kind + " ") + std::to_string(id);
}

void PrintEvents(const Json& answer) {
  Table t({"eventid", "time", "level", "type", "target", "message"});
  for (const Json& e : AsArray(answer))
    t.AddRow({JsonText(e, "eventid"), JsonText(e, "time"), JsonText(e, "level"),
              JsonText(e, "type"), Target(e), JsonText(e, "message")});
  t.Print(std::cout);
}

int EventList(std::vector<std::string> args) {
  CommandLine cl("Lists the manager's events, oldest first.");
  TCLAP::ValueArg<int> since("", "since", "Only events after this event id.", false, 0, "N",
                             cl.cmd());
  TCLAP::ValueArg<int> limit("", "limit", "At most this many events (1 to 10000). Default: 1000.",
                             false, 0, "N", cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  Members m;
  if (since.isSet()) m["since"] = xmlrpc_c::value_int(since.getValue());
  if (limit.isSet()) m["limit"] = xmlrpc_c::value_int(limit.getValue());
  return cl.Run("listEvents", m, "cannot list events", PrintEvents);
}

}  // namespace

void AddEventCommands(std::vector<Command>* out) {
  out->push_back({"event", "list", "[--since N] [--limit N]", "list events", EventList});
}

}  // namespace cli
}  // namespace vastsky
