#include "cli/command_line.h"

#include <iostream>

#include "cli/command.h"
#include "lib/version.h"

namespace vastsky {
namespace cli {

CommandLine::CommandLine(const std::string& description)
    : cmd_(description, ' ', VASTSKY_VERSION),
      manager_("", "manager",
               "Manager URL. Default: $VASTSKY_MANAGER, else [cli] manager in the config file, "
               "else http://127.0.0.1:8881/RPC2.",
               false, "", "URL", cmd_),
      secret_file_("", "secret-file",
                   "File holding the cluster secret. Default: $VASTSKY_SECRET_FILE, else "
                   "[cli] secret_file in the config file, else /etc/vastsky/secret.",
                   false, "", "FILE", cmd_),
      ca_file_("", "ca-file",
               "PEM certificate(s) to verify an https manager with. Default: [cli] ca_file in "
               "the config file, else the system store.",
               false, "", "FILE", cmd_),
      insecure_("", "insecure", "Do not verify the manager's TLS certificate.", cmd_),
      json_("", "json", "Print the manager's answer as JSON.", cmd_),
      config_("", "config", "Config file. Default: /etc/vastsky/vastsky.conf, if present.", false,
              "", "FILE", cmd_) {
  cmd_.setExceptionHandling(false);
}

const TCLAP::Arg* CommandLine::FindOption(const std::string& a) {
  for (const TCLAP::Arg* arg : cmd_.getArgList())
    if ((!arg->getFlag().empty() && a == "-" + arg->getFlag()) || a == "--" + arg->getName())
      return arg;
  return nullptr;
}

bool CommandLine::RejectUnknownOptions(const std::vector<std::string>& args) {
  for (size_t i = 1; i < args.size() && args[i] != "--"; ++i) {
    if (args[i].size() < 2 || args[i][0] != '-' || FindOption(args[i]) != nullptr) continue;
    UsageError("unknown option '" + args[i] + "' (put '--' before a name that starts with '-')");
    return false;
  }
  return true;
}

bool CommandLine::Parse(std::vector<std::string> args) {
  prog_ = args.empty() ? "vastsky" : args[0];
  // TCLAP only knows "--opt value"; admins also type "--opt=value".
  for (size_t i = 1; i < args.size() && args[i] != "--"; ++i) {
    size_t eq = args[i].find('=');
    if (args[i].compare(0, 2, "--") != 0 || eq == std::string::npos) continue;
    std::string option = args[i].substr(0, eq);
    const TCLAP::Arg* arg = FindOption(option);
    if (arg == nullptr || !arg->isValueRequired()) continue;
    args.insert(args.begin() + i + 1, args[i].substr(eq + 1));
    args[i] = option;
    ++i;
  }
  if (!RejectUnknownOptions(args)) return false;
  try {
    cmd_.parse(args);
    return true;
  } catch (const TCLAP::ExitException& e) {
    exit_code_ = e.getExitStatus();
  } catch (const TCLAP::ArgException& e) {
    std::string where = e.argId() == " " ? "" : " (" + e.argId() + ")";
    UsageError(e.error() + where);
  }
  return false;
}

int CommandLine::UsageError(const std::string& why) {
  std::cerr << prog_ << ": " << why << "\nRun '" << prog_ << " --help' for usage.\n";
  exit_code_ = kExitUsage;
  return exit_code_;
}

Status CommandLine::Call(const std::string& method, Members members, const std::string& what, Json* answer) {
  ConnectionFlags flags;
  flags.manager = manager_.getValue();
  flags.secret_file = secret_file_.getValue();
  flags.ca_file = ca_file_.getValue();
  flags.config = config_.getValue();
  flags.insecure = insecure_.getValue();
  RpcEndpoint ep;
  VS_RETURN_IF_ERROR(ResolveEndpoint(flags, &ep));
  Connection conn(ep);
  return conn.Call(method, std::move(members), what, answer);
}

int CommandLine::Run(const std::string& method, Members members, const std::string& what,
                     const Printer& text, const Printer& json_printer) {
  Json answer;
  Status st = Call(method, std::move(members), what, &answer);
  if (!st.ok()) {
    std::cerr << "vastsky: " << st.message() << "\n";
    return kExitFailure;
  }
  (json() ? json_printer : text)(answer);
  return kExitOk;
}

void PrintNothing(const Json&) {}

}  // namespace cli
}  // namespace vastsky
