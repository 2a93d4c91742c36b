// sr_get_driver_info: what xapi records in its SM table at start-up and
// `xe sm-list` shows. The capabilities are exactly the commands this driver
// carries out.

#include "lib/rpc_values.h"
#include "lib/version.h"
#include "sm_plugin/commands.h"

namespace vastsky {
namespace sm {

Status DriverInfo(Context*, xmlrpc_c::value* result) {
  static const std::vector<std::string> kCapabilities = {
      "SR_CREATE",   "SR_DELETE",     "SR_ATTACH",     "SR_DETACH",          "SR_SCAN",
      "SR_PROBE",    "SR_UPDATE",     "VDI_CREATE",    "VDI_DELETE",         "VDI_ATTACH",
      "VDI_DETACH",  "VDI_ACTIVATE",  "VDI_DEACTIVATE", "VDI_RESIZE",        "VDI_RESIZE_ONLINE",
      "VDI_INTRODUCE", "VDI_UPDATE",  "VDI_GENERATE_CONFIG", "VDI_SNAPSHOT",  "VDI_CLONE",
      "VDI_CONFIG_CBT", "LARGE_VDI",
  };
  std::vector<xmlrpc_c::value> configuration;
  for (const ConfigKey& k : kConfigKeys) {
    xmlrpc_c::cstruct c;
    c["key"] = xmlrpc_c::value_string(k.key);
    c["description"] = xmlrpc_c::value_string(k.description);
    configuration.push_back(xmlrpc_c::value_struct(c));
  }
  xmlrpc_c::cstruct info;
  info["name"] = xmlrpc_c::value_string("VastSky");
  info["description"] = xmlrpc_c::value_string(
      "VastSky: mirrored volumes over a pool of storage servers, rebuilt in parallel after a disk or server loss");
  info["vendor"] = xmlrpc_c::value_string("VastSky");
  info["copyright"] = xmlrpc_c::value_string("(C) VastSky contributors");
  info["driver_version"] = xmlrpc_c::value_string(VASTSKY_VERSION);
  info["required_api_version"] = xmlrpc_c::value_string("1.0");
  info["capabilities"] = StringsValue(kCapabilities);
  info["configuration"] = xmlrpc_c::value_array(configuration);
  *result = xmlrpc_c::value_struct(info);
  return Status::OK();
}

}  // namespace sm
}  // namespace vastsky
