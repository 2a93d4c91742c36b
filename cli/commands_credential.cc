// Enrollment (manager/API.md, "Enrollment"): a storage or head server's own
// credential, issued to a file its agent reads (`credential_file`), listed,
// or revoked. The secret is printed only where the admin asked for it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "cli/args.h"
#include "cli/command.h"
#include "cli/command_line.h"
#include "cli/object_commands.h"
#include "lib/ids.h"

namespace vastsky {
namespace cli {

namespace {

// "USER SECRET\n" into path, readable by root only; replaces a file there.
Status WriteCredential(const std::string& path, const std::string& user, const std::string& secret) {
  const std::string line = user + " " + secret + "\n";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Error(errno, "cannot write " + path + ": " + strerror(errno));
  const bool ok = fchmod(fd, 0600) == 0 && write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                  fsync(fd) == 0;
  const int err = errno;
  close(fd);
  return ok ? Status::OK() : Status::Error(err, "cannot write " + path + ": " + strerror(err));
}

int Enroll(std::vector<std::string> args, const ObjectKind& kind, const char* agent) {
  CommandLine cl(std::string("Issues a ") + kind.noun + "'s own credential, for its " + agent +
                 "'s credential_file. With " + kind.arg + ": that server's (a new one voids the one before); "
                 "without: one for a server not registered yet, bound to the server it first registers.");
  TCLAP::UnlabeledValueArg<std::string> object(kind.arg, std::string("The ") + kind.noun + " (" + kind.prefix +
                                                             "-XXXXXXXX or a decimal id). Default: a new server.",
                                               false, "", kind.arg, cl.cmd());
  TCLAP::ValueArg<std::string> out("o", "out", "Write \"USER SECRET\" to FILE (mode 0600) instead of printing it.",
                                   false, "", "FILE", cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  Members m{{"kind", xmlrpc_c::value_string(kind.prefix)}};
  if (!object.getValue().empty()) {
    int id = 0;
    if (int rc = cl.CheckUsage(ParseObjectId(object.getValue(), kind.prefix, kind.noun, &id))) return rc;
    m["id"] = xmlrpc_c::value_int(id);
  }
  Json answer;
  Status st = cl.Call("enrollServer", m, std::string("cannot enroll a ") + kind.noun, &answer);
  if (!st.ok()) {
    std::cerr << st.message() << "\n";
    return kExitFailure;
  }
  const std::string user = JsonText(answer, "user"), secret = JsonText(answer, "secret");
  if (out.getValue().empty()) {
    std::cout << user << " " << secret << "\n";
    return kExitOk;
  }
  st = WriteCredential(out.getValue(), user, secret);
  if (!st.ok()) {
    std::cerr << "credential " << user << " issued but not saved: " << st.message() << " (enroll again)\n";
    return kExitFailure;
  }
  std::cout << "credential " << user << " written to " << out.getValue() << ": set credential_file = "
            << out.getValue() << " in the " << agent << "'s config and restart it\n";
  return kExitOk;
}

int SsvrEnroll(std::vector<std::string> args) { return Enroll(std::move(args), kStorageServer, "storage agent"); }
int HsvrEnroll(std::vector<std::string> args) { return Enroll(std::move(args), kHeadServer, "head agent"); }

void PrintCredentials(const Json& answer) {
  Table t({"user", "role", "server", "generation", "in use", "issued"});
  for (const Json& c : AsArray(answer)) {
    const int64_t id = JsonInt(c, "server_id");
    const char* prefix = JsonText(c, "role") == "storage" ? "ssvr" : "hsvr";
    t.AddRow({JsonText(c, "user"), JsonText(c, "role"), id ? FormatId(prefix, id) : "(not yet)",
              std::to_string(JsonInt(c, "generation")), JsonBool(c, "in_use") ? "yes" : "no", JsonText(c, "ctime")});
  }
  t.Print(std::cout);
}

int CredentialList(std::vector<std::string> args) {
  CommandLine cl("Lists the servers' own credentials (never their secrets).");
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  return cl.Run("listCredentials", {}, "cannot list credentials", PrintCredentials);
}

int CredentialRevoke(std::vector<std::string> args) {
  CommandLine cl("Voids a credential's secret at once: its server's agent is refused until it is enrolled again.");
  TCLAP::UnlabeledValueArg<std::string> user("USER", "The credential's user, as credential list shows it.", true,
                                             "", "USER", cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  return cl.Run("revokeCredential", {{"user", xmlrpc_c::value_string(user.getValue())}},
                "cannot revoke " + user.getValue(), PrintNothing);
}

}  // namespace

void AddCredentialCommands(std::vector<Command>* out) {
  out->push_back({"ssvr", "enroll", "[--out FILE] [SSVR]", "issue a storage server's own credential", SsvrEnroll});
  out->push_back({"hsvr", "enroll", "[--out FILE] [HSVR]", "issue a head server's own credential", HsvrEnroll});
  out->push_back({"credential", "list", "", "list the servers' credentials", CredentialList});
  out->push_back({"credential", "revoke", "USER", "void a credential at once", CredentialRevoke});
}

}  // namespace cli
}  // namespace vastsky
