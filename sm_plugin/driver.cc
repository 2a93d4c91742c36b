#include "sm_plugin/driver.h"

#include <map>

#include "lib/log.h"
#include "sm_plugin/commands.h"
#include "sm_plugin/faults.h"

namespace vastsky {
namespace sm {

namespace {

const std::map<std::string, Command>& Commands() {
  static const std::map<std::string, Command> commands = {
      {"sr_get_driver_info", DriverInfo},
      {"sr_create", SrCreate},
      {"sr_delete", SrDelete},
      {"sr_attach", SrAttach},
      {"sr_detach", SrDetach},
      {"sr_scan", SrScan},
      {"sr_probe", SrProbe},
      {"sr_update", SrUpdate},
      {"vdi_create", VdiCreate},
      {"vdi_delete", VdiDelete},
      {"vdi_attach", VdiAttach},
      {"vdi_detach", VdiDetach},
      {"vdi_activate", VdiActivate},
      {"vdi_deactivate", VdiDeactivate},
      {"vdi_resize", VdiResize},
      {"vdi_resize_online", VdiResize},  // xapi sends vdi_resize for both since 2017
      {"vdi_introduce", VdiIntroduce},
      {"vdi_update", VdiUpdate},
      {"vdi_generate_config", VdiGenerateConfig},
      {"vdi_attach_from_config", VdiAttachFromConfig},
      {"vdi_detach_from_config", VdiDetachFromConfig},
      {"vdi_epoch_begin", VdiEpoch},
      {"vdi_epoch_end", VdiEpoch},
      {"vdi_snapshot", VdiSnapshot},
      {"vdi_clone", VdiClone},
      {"vdi_enable_cbt", VdiEnableCbt},
      {"vdi_disable_cbt", VdiDisableCbt},
      {"vdi_data_destroy", VdiDataDestroy},
      {"vdi_list_changed_blocks", VdiListChangedBlocks},
  };
  return commands;
}

// Commands a VastSky SR cannot do (yet): xapi shows them as not supported.
bool Unimplemented(const std::string& command) {
  static const char* const kNot[] = {"vdi_compose", "vdi_revert", "sr_content_type"};
  for (const char* c : kNot)
    if (command == c) return true;
  return false;
}

// Commands that add or remove the SR's volumes or VDIs hold the SR lock (as
// SM's OPS_EXCLUSIVE do), all on the master: a scan then never meets a
// snapshot or clone whose VDI is not recorded yet, and forgets nothing a
// command is still introducing.
bool ChangesTheSr(const std::string& command) {
  static const char* const kExclusive[] = {"sr_scan",      "vdi_create", "vdi_delete",       "vdi_snapshot",
                                           "vdi_clone",    "vdi_introduce", "vdi_data_destroy"};
  for (const char* c : kExclusive)
    if (command == c) return true;
  return false;
}

std::string Subject(const SmRequest& r) {
  std::string s = r.command;
  if (!r.sr_uuid.empty()) s += " sr=" + r.sr_uuid;
  if (!r.vdi_uuid.empty()) s += " vdi=" + r.vdi_uuid;
  return s;
}

}  // namespace

std::string RunSmCall(const std::string& method_call, const HostSettings& host) {
  SmRequest req;
  Status st = ParseSmRequest(method_call, &req);
  if (!st.ok()) {
    VS_LOG_ERROR("refused a request that is not an SMAPIv1 call: %s", st.message().c_str());
    return FormatFault(kBadRequest, "VastSkySR: " + st.message());
  }
  auto it = Commands().find(req.command);
  if (it == Commands().end()) {
    const bool later = Unimplemented(req.command);
    VS_LOG_WARN("%s: %s", Subject(req).c_str(), later ? "not supported by VastSky SRs" : "unknown command");
    return FormatFault(later ? kUnimplemented : kBadRequest,
                       later ? req.command + " is not supported by VastSky SRs" : "unknown command " + req.command);
  }
  VS_LOG_INFO("%s", Subject(req).c_str());
  Context ctx(req, host);
  xmlrpc_c::value result;  // a command that sets nothing answers nil
  st = ChangesTheSr(req.command) ? ctx.LockSr() : Status::OK();
  if (st.ok()) st = it->second(&ctx, &result);
  if (!st.ok()) {
    VS_LOG_ERROR("%s failed (fault %d): %s", Subject(req).c_str(), st.code(), st.message().c_str());
    // A code 500 is a driver bug: say so in SM's generic code.
    return FormatFault(st.code() == Status::kInternal ? kSmGeneral : st.code(), st.message());
  }
  return FormatResponse(result.isInstantiated() ? result : xmlrpc_c::value_nil());
}

}  // namespace sm
}  // namespace vastsky
