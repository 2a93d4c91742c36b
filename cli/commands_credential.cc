// Enrollment (manager/API.md, "Enrollment", "Tenants"): a storage or head
// server's own credential, issued to a file its agent reads
// (`credential_file`); a tenant's, for the XCP driver of its SR; listed, or
// revoked. The secret is printed only where the admin asked for it.
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

// A server's credential acts for its server; a tenant's for its volumes, on its heads.
std::string Scope(const Json& c) {
  const std::string role = JsonText(c, "role");
  if (role == "tenant") {
    std::string heads;
    for (const Json& h : c["hsvrids"]) heads += (heads.empty() ? "" : ",") + FormatId("hsvr", h.get<int64_t>());
    return JsonText(c, "tenant") + " on " + (heads.empty() ? "no head" : heads);
  }
  const int64_t id = JsonInt(c, "server_id");
  return id ? FormatId(role == "storage" ? "ssvr" : "hsvr", id) : "(not yet)";
}

void PrintCredentials(const Json& answer) {
  Table t({"user", "role", "scope", "generation", "in use", "issued"});
  for (const Json& c : AsArray(answer))
    t.AddRow({JsonText(c, "user"), JsonText(c, "role"), Scope(c), std::to_string(JsonInt(c, "generation")),
              JsonBool(c, "in_use") ? "yes" : "no", JsonText(c, "ctime")});
  t.Print(std::cout);
}

// The hsvr ids of HSVR arguments; a usage error names a bad one.
Status HeadIds(const std::vector<std::string>& args, std::vector<xmlrpc_c::value>* out) {
  for (const std::string& a : args) {
    int id = 0;
    VS_RETURN_IF_ERROR(ParseObjectId(a, kHeadServer.prefix, kHeadServer.noun, &id));
    out->push_back(xmlrpc_c::value_int(id));
  }
  return Status::OK();
}

int TenantEnroll(std::vector<std::string> args) {
  CommandLine cl("Issues a tenant's credential: the XCP driver of the tenant's SR uses it (device-config user and "
                 "password_secret) to make, list and attach only the tenant's volumes, on the heads given here. "
                 "Enrolling a tenant again issues a new secret and voids the old one.");
  TCLAP::UnlabeledValueArg<std::string> tenant("TENANT", "The tenant's name: 1 to 48 of [A-Za-z0-9._-].", true, "",
                                               "TENANT", cl.cmd());
  TCLAP::MultiArg<std::string> heads("", "hsvr", "A head its volumes may attach to (repeat for each); replaces the "
                                     "heads given before. Default: those given before (none for a new tenant).",
                                     false, "HSVR", cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  Members m{{"tenant", xmlrpc_c::value_string(tenant.getValue())}};
  if (heads.isSet()) {
    std::vector<xmlrpc_c::value> ids;
    if (int rc = cl.CheckUsage(HeadIds(heads.getValue(), &ids))) return rc;
    m["hsvrids"] = xmlrpc_c::value_array(ids);
  }
  Json answer;
  Status st = cl.Call("enrollTenant", m, "cannot enroll tenant " + tenant.getValue(), &answer);
  if (!st.ok()) {
    std::cerr << st.message() << "\n";
    return kExitFailure;
  }
  std::cout << JsonText(answer, "user") << " " << JsonText(answer, "secret") << "\n";
  return kExitOk;
}

int TenantHeads(std::vector<std::string> args) {
  CommandLine cl("Sets the heads a tenant's volumes may attach to (its secret stays).");
  TCLAP::UnlabeledValueArg<std::string> tenant("TENANT", "The tenant.", true, "", "TENANT", cl.cmd());
  TCLAP::UnlabeledMultiArg<std::string> heads("HSVR", "Its heads, all of them (none: it may attach nowhere).", false,
                                              "HSVR", cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  std::vector<xmlrpc_c::value> ids;
  if (int rc = cl.CheckUsage(HeadIds(heads.getValue(), &ids))) return rc;
  return cl.Run("setTenantHeads",
                {{"tenant", xmlrpc_c::value_string(tenant.getValue())}, {"hsvrids", xmlrpc_c::value_array(ids)}},
                "cannot set the heads of tenant " + tenant.getValue(), PrintNothing);
}

int CredentialList(std::vector<std::string> args) {
  CommandLine cl("Lists the servers' and tenants' credentials (never their secrets).");
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  return cl.Run("listCredentials", {}, "cannot list credentials", PrintCredentials);
}

int CredentialRevoke(std::vector<std::string> args) {
  CommandLine cl("Voids a credential's secret at once: its server's agent, or its tenant's driver, is refused until it "
                 "is enrolled again.");
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
  out->push_back({"tenant", "enroll", "[--hsvr HSVR]... TENANT", "issue a tenant's credential", TenantEnroll});
  out->push_back({"tenant", "heads", "TENANT [HSVR]...", "set the heads a tenant may attach to", TenantHeads});
  out->push_back({"credential", "list", "", "list the servers' and tenants' credentials", CredentialList});
  out->push_back({"credential", "revoke", "USER", "void a credential at once", CredentialRevoke});
}

}  // namespace cli
}  // namespace vastsky
