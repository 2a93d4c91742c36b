// pdsk commands: list, drain, delete, repair, and a disk's placement weight.
#include <cstdio>
#include <iostream>

#include "cli/args.h"
#include "cli/command.h"
#include "cli/object_commands.h"
#include "cli/words.h"
#include "lib/ids.h"

namespace vastsky {
namespace cli {

namespace {

// "12% data, 3% meta" of the pool as its agent last reported it; "-" before any report.
std::string PoolUse(const Json& d) {
  if (JsonText(d, "pool_mode").empty()) return "-";
  auto pct = [&](const char* used, const char* total) {
    const int64_t t = JsonInt(d, total);
    return t > 0 ? static_cast<int>(100 * JsonInt(d, used) / t) : 0;
  };
  char buf[64];
  snprintf(buf, sizeof buf, "%d%% data, %d%% meta", pct("pool_used_mib", "pool_mib"),
           pct("pool_meta_used_kib", "pool_meta_kib"));
  return buf;
}

void PrintDisks(const Json& answer) {
  Table t({"pdskid", "ssvrid", "priority", "weight", "capacity", "available", "resync", "pool", "pool_use",
           "pool_mode", "local_path"});
  for (const Json& d : AsArray(answer)) {
    char weight[32];
    snprintf(weight, sizeof weight, "%.2f", JsonDouble(d, "weight"));
    const std::string mode = JsonText(d, "pool_mode");
    t.AddRow({FormatId("pdsk", JsonInt(d, "pdskid")), FormatId("ssvr", JsonInt(d, "ssvrid")),
              PriorityName(JsonInt(d, "priority")), weight, FormatGiB(JsonInt(d, "capacity")),
              FormatGiB(JsonInt(d, "available")), JsonText(d, "resync"), FormatGiB(JsonInt(d, "pool_mib") / 1024),
              PoolUse(d), mode.empty() ? "-" : mode, JsonText(d, "local_path")});
  }
  t.Print(std::cout);
}

int PdskList(std::vector<std::string> args) {
  return RunList(std::move(args), "Lists disks, or those of one storage server.", kStorageServer,
                 "listPhysicalDisks", "cannot list disks", "cannot list the disks of", PrintDisks);
}

int PdskDelete(std::vector<std::string> args) {
  return RunOnObject(std::move(args),
                     "Forgets a disk. It must be OFFLINE, FAULTY or drained (EVACUATE) and hold no chunk.", kDisk,
                     "deletePhysicalDisk", "delete");
}

int PdskDrain(std::vector<std::string> args) {
  return RunOnObject(std::move(args),
                     "Moves every chunk off a disk, redundancy never dropping: each written leg gets a "
                     "new leg elsewhere and goes once that is in sync. The disk turns EVACUATE; delete "
                     "it when it holds no chunk (pdsk list, event list).",
                     kDisk, "drainPhysicalDisk", "drain");
}

int PdskRepair(std::vector<std::string> args) {
  return RunOnObject(std::move(args),
                     "Brings a disk's thin pool back after I/O errors (pool_mode ro or fail), once their cause "
                     "is fixed: its storage agent withdraws the disk's LUNs, runs thin_check on the pool's "
                     "metadata and, if it passes, exports the disk again as a restart does; heads take their "
                     "legs back. Refused (busy) if the pool needs no repair. Damaged metadata leaves the pool "
                     "down; the error and an event say how to repair it by hand.",
                     kDisk, "repairPhysicalDisk", "repair");
}

int PdskSetWeight(std::vector<std::string> args) {
  return RunSetter(std::move(args),
                   "Sets how much a disk is favoured for new chunks: they go where used / "
                   "(capacity x weight) is lowest.",
                   kDisk, "WEIGHT", "0.0 to 1.0; 0 takes no new chunks.", "setPhysicalDiskWeight",
                   "set the weight of", [](const std::string& text, Members* m) {
                     double weight = 0;
                     VS_RETURN_IF_ERROR(ParseWeight(text, &weight));
                     (*m)["weight"] = xmlrpc_c::value_double(weight);
                     return Status::OK();
                   });
}

}  // namespace

void AddPdskCommands(std::vector<Command>* out) {
  out->push_back({"pdsk", "list", "[SSVR]", "list disks (of one storage server)", PdskList});
  out->push_back({"pdsk", "drain", "PDSK", "move every chunk off a disk before removing it", PdskDrain});
  out->push_back({"pdsk", "delete", "PDSK", "forget an offline or drained disk", PdskDelete});
  out->push_back({"pdsk", "repair", "PDSK", "bring a disk's pool back after I/O errors (thin_check)", PdskRepair});
  out->push_back(
      {"pdsk", "set-weight", "PDSK WEIGHT", "set a disk's placement weight (0..1)", PdskSetWeight});
}

}  // namespace cli
}  // namespace vastsky
