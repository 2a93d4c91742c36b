// cluster status: the manager's one-screen summary of the pool.
#include <iostream>

#include "cli/command.h"
#include "cli/command_line.h"

namespace vastsky {
namespace cli {

namespace {

// "4 (3 online)"
std::string CountOnline(const Json& s, const char* total, const char* online) {
  return JsonText(s, total) + " (" + JsonText(s, online) + " online)";
}

void PrintStatus(const Json& s) {
  KeyValues kv;
  kv.Add("version", JsonText(s, "version"));
  kv.Add("protocol", JsonText(s, "protocol"));
  kv.Add("chunk size", FormatGiB(JsonInt(s, "chunk_size")));
  kv.Add("capacity", FormatGiB(JsonInt(s, "capacity")));
  kv.Add("used", FormatGiB(JsonInt(s, "used")));
  kv.Add("available", FormatGiB(JsonInt(s, "available")));
  kv.Add("storage servers", CountOnline(s, "ssvrs", "ssvrs_online"));
  kv.Add("head servers", CountOnline(s, "hsvrs", "hsvrs_online"));
  kv.Add("disks", CountOnline(s, "pdsks", "pdsks_online"));
  kv.Add("domains", JsonText(s, "domains"));
  kv.Add("volumes", JsonText(s, "lvols"));
  kv.Add("mirrors", JsonText(s, "mirrors") + " (" + JsonText(s, "mirrors_degraded") + " degraded)");
  kv.Add("rebuilds", JsonText(s, "rebuilds_queued") + " queued, " +
                         JsonText(s, "rebuilds_running") + " running");
  // The storm guard: servers silent beyond the grace period are not
  // declared failed while the manager suspects its own isolation.
  const std::string silent = JsonText(s, "silent_servers");
  kv.Add("silent servers", JsonBool(s, "isolated")
                               ? silent + " (ISOLATED: none declared failed; check the manager's network, or "
                                          "notifyFailure those really down)"
                               : silent);
  kv.Print(std::cout);
}

int ClusterStatus(std::vector<std::string> args) {
  CommandLine cl("Shows the pool's capacity, servers, disks, volumes and rebuilds.");
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  return cl.Run("getClusterStatus", {}, "cannot get the cluster status", PrintStatus);
}

}  // namespace

void AddClusterCommands(std::vector<Command>* out) {
  out->push_back(
      {"cluster", "status", "", "summarise capacity, servers and rebuilds", ClusterStatus});
}

}  // namespace cli
}  // namespace vastsky
