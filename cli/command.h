// The subcommands of `vastsky <object> <verb>`. Each commands_*.cc file
// contributes the commands of one object kind; main.cc dispatches to them.
#pragma once

#include <string>
#include <vector>

namespace vastsky {
namespace cli {

// Exit codes: 2 means the command line itself was wrong, so scripts can tell
// "you typed it wrong" from "the cluster said no" (1).
enum ExitCode { kExitOk = 0, kExitFailure = 1, kExitUsage = 2 };

struct Command {
  const char* object;  // "lvol"
  const char* verb;    // "create"
  const char* args;    // "[--redundancy N] NAME SIZE", for the command list
  const char* summary;
  // args[0] is the program name as usage shows it ("vastsky lvol create"),
  // the rest is what followed the verb. Returns an ExitCode.
  int (*run)(std::vector<std::string> args);
};

void AddLvolCommands(std::vector<Command>* out);    // lvol and snap
void AddServerCommands(std::vector<Command>* out);  // hsvr and ssvr
void AddPdskCommands(std::vector<Command>* out);
void AddEventCommands(std::vector<Command>* out);
void AddClusterCommands(std::vector<Command>* out);
void AddRebuildCommands(std::vector<Command>* out);
void AddCredentialCommands(std::vector<Command>* out);  // ssvr/hsvr enroll, credential

}  // namespace cli
}  // namespace vastsky
