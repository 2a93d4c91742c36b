// One subcommand's command line, parsed by TCLAP: the command adds its own
// arguments to cmd(), and every command gets the common options (--manager,
// --secret-file, --ca-file, --insecure, --json, --config, -h/--help,
// --version). Then Run() makes the API call the command stands for and
// prints the answer (Call() makes any other the printing needs).
#pragma once

#include <tclap/CmdLine.h>

#include <functional>
#include <string>
#include <vector>

#include "cli/connection.h"
#include "cli/output.h"
#include "lib/status.h"

namespace vastsky {
namespace cli {

using Printer = std::function<void(const Json& answer)>;

class CommandLine {
 public:
  explicit CommandLine(const std::string& description);
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  TCLAP::CmdLine& cmd() { return cmd_; }

  // args[0] is the program name for usage. False when the command must stop
  // here: help was printed, or a usage error was; exit_code() says which.
  bool Parse(std::vector<std::string> args);
  int exit_code() const { return exit_code_; }
  bool json() const { return json_.getValue(); }

  // Prints a usage error (e.g. a bad size) and returns kExitUsage.
  int UsageError(const std::string& why);
  // As UsageError for a failed parser Status, else kExitOk.
  int CheckUsage(const Status& st) { return st.ok() ? 0 : UsageError(st.message()); }

  // Calls method and prints the answer: with --json through json_printer,
  // else through text. `what` leads a fault's explanation ("cannot delete
  // volume 'db1'"). Returns the exit code.
  int Run(const std::string& method, Members members, const std::string& what, const Printer& text,
          const Printer& json_printer = PrintJson);
  // One more call for a command that needs a second answer (e.g. lvol
  // show's family): the answer as Json, or the fault worded as Run's.
  Status Call(const std::string& method, Members members, const std::string& what, Json* answer);

 private:
  // TCLAP takes any unknown "--foo" as a positional value; refuse it instead.
  bool RejectUnknownOptions(const std::vector<std::string>& args);
  const TCLAP::Arg* FindOption(const std::string& arg);

  TCLAP::CmdLine cmd_;
  std::string prog_;
  int exit_code_ = 0;
  TCLAP::ValueArg<std::string> manager_;
  TCLAP::ValueArg<std::string> secret_file_;
  TCLAP::ValueArg<std::string> ca_file_;
  TCLAP::SwitchArg insecure_;
  TCLAP::SwitchArg json_;
  TCLAP::ValueArg<std::string> config_;
};

// For commands whose answer is just 0: nothing to say on success.
void PrintNothing(const Json& answer);

}  // namespace cli
}  // namespace vastsky
