// vastsky: the admin CLI, `vastsky <object> <verb> [arguments] [options]`.
// This file finds the command and keeps any failure from escaping as a crash;
// the commands live in commands_*.cc.
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/output.h"
#include "lib/log.h"
#include "lib/rpc_client.h"
#include "lib/version.h"

namespace vastsky {
namespace cli {
namespace {

std::vector<Command> AllCommands() {
  std::vector<Command> all;
  AddLvolCommands(&all);
  AddServerCommands(&all);
  AddPdskCommands(&all);
  AddEventCommands(&all);
  AddClusterCommands(&all);
  AddRebuildCommands(&all);
  AddCredentialCommands(&all);
  return all;
}

bool IsHelp(const std::string& a) { return a == "help" || a == "-h" || a == "--help"; }

// The command list, or only `object`'s verbs when object is given.
void PrintCommands(const std::vector<Command>& all, const std::string& object, std::ostream& out) {
  out << "usage: vastsky " << (object.empty() ? "<object>" : object)
      << " <verb> [arguments] [options]\n\n";
  KeyValues list;
  for (const Command& c : all)
    if (object.empty() || object == c.object)
      list.Add(std::string("  ") + c.object + " " + c.verb + (*c.args ? " " : "") + c.args,
               c.summary);
  list.Print(out);
  out << "\nEvery command takes --manager URL, --secret-file FILE, --ca-file FILE, --insecure,\n"
         "--json, --config FILE and -h/--help. LVOL is lvol-XXXXXXXX, 8 hex digits, or a name;\n"
         "HSVR, SSVR and PDSK are hsvr-XXXXXXXX (etc.), 8 hex digits, or a decimal id.\n"
         "Run 'vastsky <object> <verb> --help' for a command's details.\n";
}

int Dispatch(std::vector<std::string> args) {
  const std::vector<Command> all = AllCommands();
  if (args.empty() || (IsHelp(args[0]) && args.size() == 1)) {
    PrintCommands(all, "", std::cout);
    return kExitOk;
  }
  if (args[0] == "--version") {
    std::cout << "vastsky " << VASTSKY_VERSION << "\n";
    return kExitOk;
  }
  if (IsHelp(args[0])) {  // "vastsky help lvol create" is "vastsky lvol create --help"
    args.erase(args.begin());
    args.push_back("--help");
  }
  const std::string& object = args[0];
  bool known_object = false;
  for (const Command& c : all) known_object = known_object || object == c.object;
  if (!known_object) {
    std::cerr << "vastsky: unknown object '" << object << "'\n\n";
    PrintCommands(all, "", std::cerr);
    return kExitUsage;
  }
  if (args.size() == 1 || IsHelp(args[1])) {
    PrintCommands(all, object, args.size() == 1 ? std::cerr : std::cout);
    return args.size() == 1 ? kExitUsage : kExitOk;
  }
  for (const Command& c : all) {
    if (object != c.object || args[1] != c.verb) continue;
    std::vector<std::string> rest = {"vastsky " + object + " " + args[1]};
    rest.insert(rest.end(), args.begin() + 2, args.end());
    return c.run(std::move(rest));
  }
  std::cerr << "vastsky: unknown command '" << object << " " << args[1] << "'\n\n";
  PrintCommands(all, object, std::cerr);
  return kExitUsage;
}

}  // namespace
}  // namespace cli
}  // namespace vastsky

int main(int argc, char** argv) {
  vastsky::RaiseXmlSizeLimit();
  vastsky::LogInit("vastsky", vastsky::LogLevel::kWarning, false);
  try {
    return vastsky::cli::Dispatch(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "vastsky: unexpected error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "vastsky: unexpected error\n";
  }
  return vastsky::cli::kExitFailure;
}
