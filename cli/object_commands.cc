#include "cli/object_commands.h"

#include <memory>

#include "cli/args.h"
#include "lib/ids.h"

namespace vastsky {
namespace cli {

const ObjectKind kHeadServer = {"hsvr", "head server", "hsvrid", "HSVR"};
const ObjectKind kStorageServer = {"ssvr", "storage server", "ssvrid", "SSVR"};
const ObjectKind kDisk = {"pdsk", "disk", "pdskid", "PDSK"};

namespace {
std::string IdHelp(const ObjectKind& kind) {
  return std::string("The ") + kind.noun + ": " + kind.prefix +
         "-XXXXXXXX, 8 hex digits, or a decimal id.";
}
}  // namespace

std::string DescribeObject(const ObjectKind& kind, int id) {
  return std::string(kind.noun) + " " + FormatId(kind.prefix, id);
}

int RunOnObject(std::vector<std::string> args, const char* description, const ObjectKind& kind,
                const char* method, const char* verb) {
  return RunSetter(std::move(args), description, kind, nullptr, nullptr, method, verb,
                   [](const std::string&, Members*) { return Status::OK(); });
}

int RunSetter(std::vector<std::string> args, const char* description, const ObjectKind& kind,
              const char* value_name, const char* value_help, const char* method, const char* verb,
              const std::function<Status(const std::string&, Members*)>& add_value) {
  CommandLine cl(description);
  TCLAP::UnlabeledValueArg<std::string> object(kind.arg, IdHelp(kind), true, "", kind.arg,
                                               cl.cmd());
  std::unique_ptr<TCLAP::UnlabeledValueArg<std::string>> value;
  if (value_name != nullptr)
    value.reset(new TCLAP::UnlabeledValueArg<std::string>(value_name, value_help, true, "",
                                                          value_name, cl.cmd()));
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  int id = 0;
  Members m;
  if (int rc = cl.CheckUsage(ParseObjectId(object.getValue(), kind.prefix, kind.noun, &id)))
    return rc;
  if (value) {
    if (int rc = cl.CheckUsage(add_value(value->getValue(), &m))) return rc;
  }
  m[kind.key] = xmlrpc_c::value_int(id);
  return cl.Run(method, m, std::string("cannot ") + verb + " " + DescribeObject(kind, id),
                PrintNothing);
}

int RunList(std::vector<std::string> args, const char* description, const ObjectKind& filter,
            const char* method, const char* what, const char* what_one, const Printer& text) {
  CommandLine cl(description);
  TCLAP::UnlabeledValueArg<std::string> object(filter.arg, IdHelp(filter) + " Default: all.", false,
                                               "", filter.arg, cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  Members m;
  std::string context = what;
  if (object.isSet()) {
    int id = 0;
    if (int rc = cl.CheckUsage(ParseObjectId(object.getValue(), filter.prefix, filter.noun, &id)))
      return rc;
    m[filter.key] = xmlrpc_c::value_int(id);
    context = std::string(what_one) + " " + DescribeObject(filter, id);
  }
  return cl.Run(method, m, context, text);
}

}  // namespace cli
}  // namespace vastsky
