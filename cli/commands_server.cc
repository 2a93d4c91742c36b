// hsvr and ssvr commands: list, delete, and a storage server's failure domain.
#include <iostream>

#include "cli/command.h"
#include "cli/object_commands.h"
#include "cli/words.h"
#include "lib/ids.h"

namespace vastsky {
namespace cli {

namespace {

void PrintHeadServers(const Json& answer) {
  Table t({"hsvrid", "priority", "resync", "ip_data"});
  for (const Json& h : AsArray(answer))
    t.AddRow({FormatId("hsvr", JsonInt(h, "hsvrid")), PriorityName(JsonInt(h, "priority")),
              JsonText(h, "resync"), JsonText(h, "ip_data")});
  t.Print(std::cout);
}

void PrintStorageServers(const Json& answer) {
  Table t({"ssvrid", "priority", "domain", "capacity", "available", "resync", "ip_data"});
  for (const Json& s : AsArray(answer)) {
    std::string domain = JsonText(s, "domain");
    t.AddRow({FormatId("ssvr", JsonInt(s, "ssvrid")), PriorityName(JsonInt(s, "priority")),
              domain.empty() ? "-" : domain, FormatGiB(JsonInt(s, "capacity")),
              FormatGiB(JsonInt(s, "available")), JsonText(s, "resync"), JsonText(s, "ip_data")});
  }
  t.Print(std::cout);
}

int HsvrList(std::vector<std::string> args) {
  return RunList(std::move(args), "Lists head servers, or one.", kHeadServer, "listHeadServers",
                 "cannot list head servers", "cannot show", PrintHeadServers);
}

int HsvrDelete(std::vector<std::string> args) {
  return RunOnObject(std::move(args),
                     "Forgets a head server. It must be OFFLINE or FAULTY with no volume attached.",
                     kHeadServer, "deleteHeadServer", "delete");
}

int SsvrList(std::vector<std::string> args) {
  return RunList(std::move(args), "Lists storage servers, or one.", kStorageServer,
                 "listStorageServers", "cannot list storage servers", "cannot show",
                 PrintStorageServers);
}

int SsvrDelete(std::vector<std::string> args) {
  return RunOnObject(std::move(args),
                     "Forgets a storage server and its disks. It must be OFFLINE, FAULTY or drained "
                     "(EVACUATE) and "
                     "no disk of it may hold a chunk.",
                     kStorageServer, "deleteStorageServer", "delete");
}

int SsvrDrain(std::vector<std::string> args) {
  return RunOnObject(std::move(args),
                     "Moves every chunk off a storage server's disks, redundancy never dropping: each "
                     "written leg gets a new leg elsewhere and goes once that is in sync. The server "
                     "turns EVACUATE; delete it when it holds no chunk.",
                     kStorageServer, "drainStorageServer", "drain");
}

int SsvrSetDomain(std::vector<std::string> args) {
  return RunSetter(std::move(args),
                   "Sets the failure domain of a storage server: the legs of a mirror go to "
                   "different domains.",
                   kStorageServer, "DOMAIN",
                   "1 to 64 of [A-Za-z0-9._:-], or \"\" for none (the server is then a domain "
                   "of its own).",
                   "setStorageServerDomain", "set the domain of",
                   [](const std::string& domain, Members* m) {
                     (*m)["domain"] = xmlrpc_c::value_string(domain);
                     return Status::OK();
                   });
}

}  // namespace

void AddServerCommands(std::vector<Command>* out) {
  out->push_back({"hsvr", "list", "[HSVR]", "list head servers", HsvrList});
  out->push_back({"hsvr", "delete", "HSVR", "forget an offline head server", HsvrDelete});
  out->push_back({"ssvr", "list", "[SSVR]", "list storage servers", SsvrList});
  out->push_back({"ssvr", "drain", "SSVR", "move every chunk off a storage server before removing it", SsvrDrain});
  out->push_back({"ssvr", "delete", "SSVR", "forget an offline or drained storage server", SsvrDelete});
  out->push_back({"ssvr", "set-domain", "SSVR DOMAIN", "set a storage server's failure domain",
                  SsvrSetDomain});
}

}  // namespace cli
}  // namespace vastsky
