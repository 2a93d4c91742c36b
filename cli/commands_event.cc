// event list: the manager's event log, oldest first. event watch: its
// newest events, then each new one as the manager records it.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
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

// One event a line, as it comes: a table would wait for all its rows.
void PrintEventLine(const Json& e, bool json) {
  if (json) {
    std::cout << e.dump() << std::endl;
    return;
  }
  std::cout << JsonText(e, "eventid") << "  " << JsonText(e, "time") << "  " << JsonText(e, "level") << "  "
            << JsonText(e, "type") << "  " << Target(e) << "  " << JsonText(e, "message") << std::endl;
}

int EventWatch(std::vector<std::string> args) {
  CommandLine cl("Shows the manager's newest events, then each new one as it is recorded, until interrupted.");
  TCLAP::ValueArg<int> since("", "since", "Follow from this event id instead of showing the newest first.", false,
                             0, "N", cl.cmd());
  TCLAP::ValueArg<int> last("", "last", "How many of the newest events to show first (0 to 10000). Default: 10.",
                            false, 10, "N", cl.cmd());
  TCLAP::ValueArg<int> interval("", "interval", "Seconds between two looks (1 to 3600). Default: 2.", false, 2,
                                "SECONDS", cl.cmd());
  TCLAP::ValueArg<int> count("", "count", "Stop after this many new events. Default: never.", false, 0, "N",
                             cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  if (last.getValue() < 0 || last.getValue() > 10000) return cl.UsageError("--last must be 0 to 10000");
  if (interval.getValue() < 1 || interval.getValue() > 3600) return cl.UsageError("--interval must be 1 to 3600");
  if (count.getValue() < 0) return cl.UsageError("--count must be 0 or more");
  if (since.getValue() < 0) return cl.UsageError("--since must be 0 or more");

  int64_t after = since.getValue();
  int64_t seen = 0;  // new events printed, for --count
  bool first = !since.isSet(), unreachable = false;
  for (;;) {
    Members m;
    m["since"] = xmlrpc_c::value_int(static_cast<int>(after));
    m["limit"] = xmlrpc_c::value_int(first ? std::max(last.getValue(), 1) : 1000);
    if (first) m["newest"] = xmlrpc_c::value_boolean(true);
    Json answer;
    const Status st = cl.Call("listEvents", m, "cannot list events", &answer);
    // A manager restarting or out of reach for a while is what a watcher is
    // for: it says so once and keeps watching. Refused credentials or a fault
    // stop it.
    if (!st.ok() && !Unreachable(st)) {
      std::cerr << "vastsky: " << st.message() << "\n";
      return kExitFailure;
    }
    if (!st.ok() && !unreachable) std::cerr << "vastsky: " << st.message() << "\n  (still watching)\n";
    if (st.ok() && unreachable) std::cerr << "vastsky: the manager answers again\n";
    unreachable = !st.ok();
    if (st.ok()) {
      for (const Json& e : AsArray(answer)) {
        after = std::max(after, JsonInt(e, "eventid"));
        if (first && last.getValue() == 0) continue;  // only the cursor was wanted
        PrintEventLine(e, cl.json());
        if (!first && count.getValue() > 0 && ++seen >= count.getValue()) return kExitOk;
      }
      first = false;
    }
    // A full page means more are waiting: fetch it at once.
    if (!st.ok() || first || AsArray(answer).size() < 1000) sleep(static_cast<unsigned>(interval.getValue()));
  }
}

}  // namespace

void AddEventCommands(std::vector<Command>* out) {
  out->push_back({"event", "list", "[--since N] [--limit N]", "list events", EventList});
  out->push_back({"event", "watch", "[--last N] [--since N] [--interval S] [--count N]",
                  "show the newest events, then follow new ones", EventWatch});
}

}  // namespace cli
}  // namespace vastsky
