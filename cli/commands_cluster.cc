// cluster status: the health verdict, then the manager's one-screen summary
// of the pool; cluster
// set: a cluster-wide setting.
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/command_line.h"
#include "lib/units.h"

namespace vastsky {
namespace cli {

namespace {

// "4 (3 online)"
std::string CountOnline(const Json& s, const char* total, const char* online) {
  return JsonText(s, total) + " (" + JsonText(s, online) + " online)";
}

// "[####------] 41.2%  2.35 GiB left at 64.0 MiB/s, ETA 37s": the work
// queued and running now (rebuilds and drains' moves alike).
std::string RebuildProgressLine(const Json& s) {
  const int64_t left = JsonInt(s, "rebuild_left_mib"), total = JsonInt(s, "rebuild_total_mib");
  const double percent = total > 0 ? 100.0 * static_cast<double>(total - left) / static_cast<double>(total) : 0;
  char head[64];
  snprintf(head, sizeof head, "%s %.1f%%  ", ProgressBar(percent, 20).c_str(), percent);
  return head + FormatBytes(static_cast<uint64_t>(left) << 20) + " left at " +
         FormatRate(JsonDouble(s, "rebuild_rate_mibs")) + ", ETA " + FormatEta(JsonInt(s, "rebuild_eta"));
}

// The verdict first, then one line per check, worst first (as the manager
// orders them): what an admin reads before anything else.
void PrintHealth(const Json& s) {
  if (!s.contains("health")) return;  // a manager from before the verdict
  std::cout << "health: " << JsonText(s, "health") << "\n";
  for (const Json& c : JsonArray(s, "checks")) {
    std::cout << "  " << JsonText(c, "severity") << " " << JsonText(c, "code") << ": " << JsonText(c, "summary")
              << "\n";
    // Which ones: the manager names the first few, the count says how many.
    const Json& names = JsonArray(c, "detail");
    if (names.empty()) continue;
    std::string which;
    for (const Json& n : names) which += (which.empty() ? "" : ", ") + (n.is_string() ? n.get<std::string>() : "?");
    const int64_t more = JsonInt(c, "count") - static_cast<int64_t>(names.size());
    std::cout << "    which: " << which << (more > 0 ? " and " + std::to_string(more) + " more" : "") << "\n";
  }
}

void PrintStatus(const Json& s) {
  PrintHealth(s);
  KeyValues kv;
  kv.Add("version", JsonText(s, "version"));
  kv.Add("protocol", JsonText(s, "protocol"));
  kv.Add("cluster id", JsonText(s, "cluster_id"));
  char overcommit[32];
  snprintf(overcommit, sizeof overcommit, "%.2f", JsonDouble(s, "overcommit"));
  kv.Add("overcommit", overcommit);
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
  if (JsonInt(s, "rebuild_left_mib") > 0) kv.Add("rebuild progress", RebuildProgressLine(s));
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
  CommandLine cl("Shows the health verdict and its checks, then the pool's capacity, servers, disks, volumes and "
                 "rebuilds.");
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  return cl.Run("getClusterStatus", {}, "cannot get the cluster status", PrintStatus);
}

int ClusterSet(std::vector<std::string> args) {
  CommandLine cl("Sets a cluster-wide setting. overcommit (1.0 to 20): each disk offers its pool's size times "
                 "this to new legs; 1.0 keeps every volume's full size reserved, so no pool can fill. Lowering "
                 "it fails (EBUSY) if a disk's reserved legs would not fit. nearfull_ratio and full_ratio "
                 "(0 < nearfull < full <= 1, default 0.85 and 0.95): a pool used this much takes no new legs, "
                 "and is a health warning or error. max_clock_skew (seconds, default 5): an agent's clock "
                 "further from the manager's is a health warning.");
  TCLAP::UnlabeledValueArg<std::string> name(
      "NAME", "The setting: overcommit, nearfull_ratio, full_ratio or max_clock_skew.", true, "", "NAME", cl.cmd());
  TCLAP::UnlabeledValueArg<std::string> value("VALUE", "Its new value, e.g. 1.5.", true, "", "VALUE", cl.cmd());
  if (!cl.Parse(std::move(args))) return cl.exit_code();
  Members m = {{"name", xmlrpc_c::value_string(name.getValue())}, {"value", xmlrpc_c::value_string(value.getValue())}};
  return cl.Run("setClusterSetting", m, "cannot set " + name.getValue(), PrintNothing);
}

}  // namespace

void AddClusterCommands(std::vector<Command>* out) {
  out->push_back(
      {"cluster", "status", "", "health, capacity, servers and rebuilds", ClusterStatus});
  out->push_back({"cluster", "set", "NAME VALUE", "set a cluster-wide setting (overcommit, pool ratios, clock skew)",
                  ClusterSet});
}

}  // namespace cli
}  // namespace vastsky
