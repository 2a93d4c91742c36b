// The xapi database calls an SMAPIv1 driver makes to keep xapi's view of
// its SR right (xapi reads VDIs and sizes from its database after
// vdi_create, sr_scan, sr_update, vdi_resize; it never asks the driver).
// int64s travel as strings, as XenAPI wants. A ref is "OpaqueRef:...".
#pragma once

#include <cstdint>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "lib/status.h"
#include "xapi/smapi_wire.h"
#include "xapi/xenapi.h"

namespace vastsky {

// What VDI.db_introduce records.
struct VdiIntroduction {
  std::string uuid, name_label, name_description, sr_ref, type = "user", location;
  bool read_only = false, sharable = false;
  StringMap sm_config;
  int64_t virtual_size = 0, physical_utilisation = 0;
  // A snapshot: is_a_snapshot, when, and the VDI it is of (a ref, or
  // OpaqueRef:NULL when that VDI is gone).
  bool is_a_snapshot = false, cbt_enabled = false;
  time_t snapshot_time = 0;
  std::string snapshot_of = "OpaqueRef:NULL";
};

// One VDI as the database has it.
struct VdiRow {
  std::string ref, uuid, location, name_label, name_description, type;
  StringMap sm_config;
  int64_t virtual_size = 0;
  bool read_only = false, is_a_snapshot = false, cbt_enabled = false;
  std::string snapshot_of;
};

class XapiDb {
 public:
  explicit XapiDb(XenApi* api) : api_(api) {}

  Status IntroduceVdi(const VdiIntroduction& v, std::string* ref);
  // A record already gone is not an error (another scan forgot it).
  Status ForgetVdi(const std::string& ref);
  // ENOENT if no VDI has this uuid.
  Status VdiByUuid(const std::string& uuid, std::string* ref);
  Status VdisOfSr(const std::string& sr_ref, std::vector<VdiRow>* out);
  // ENOENT if the ref names no VDI.
  Status VdiRecord(const std::string& ref, VdiRow* out);
  Status SetVdiCbtEnabled(const std::string& ref, bool enabled);
  Status SetVdiSizes(const std::string& ref, int64_t virtual_size, int64_t physical_utilisation);
  Status VdiSmConfig(const std::string& ref, StringMap* out);
  // EEXIST if the key is already there (MAP_DUPLICATE_KEY): the tag is a
  // lock other hosts race for.
  Status AddToVdiSmConfig(const std::string& ref, const std::string& key, const std::string& value);
  Status RemoveFromVdiSmConfig(const std::string& ref, const std::string& key);
  Status SetSrSizes(const std::string& sr_ref, int64_t physical_size, int64_t physical_utilisation,
                    int64_t virtual_allocation);
  // Tells xapi's scanner to rescan the SR soon.
  Status MarkSrDirty(const std::string& sr_ref);
  // The value of the xapi secret with this uuid (device-config *_secret).
  Status SecretValue(const std::string& uuid, std::string* value);
  Status Hosts(std::vector<std::string>* refs);
  Status HostName(const std::string& ref, std::string* name);
  // host.call_plugin: runs /etc/xapi.d/plugins/<plugin> fn on that host.
  Status CallPlugin(const std::string& host_ref, const std::string& plugin, const std::string& fn,
                    const StringMap& args, std::string* result);

 private:
  XenApi* api_;
};

}  // namespace vastsky
