#include "xapi/xapi_db.h"

#include <cerrno>
#include <cstdlib>

namespace vastsky {

namespace {

xmlrpc_c::value Str(const std::string& s) { return xmlrpc_c::value_string(s); }

std::string StringOf(const xmlrpc_c::value& v) {
  return v.type() == xmlrpc_c::value::TYPE_STRING ? xmlrpc_c::value_string(v).cvalue() : "";
}

StringMap MapOf(const xmlrpc_c::value& v) {
  StringMap out;
  if (v.type() != xmlrpc_c::value::TYPE_STRUCT) return out;
  for (const auto& m : xmlrpc_c::value_struct(v).cvalue()) out[m.first] = StringOf(m.second);
  return out;
}

bool BoolOf(const std::map<std::string, xmlrpc_c::value>& rec, const char* name) {
  auto it = rec.find(name);
  return it != rec.end() && it->second.type() == xmlrpc_c::value::TYPE_BOOLEAN && xmlrpc_c::value_boolean(it->second);
}

std::string StringIn(const std::map<std::string, xmlrpc_c::value>& rec, const char* name) {
  auto it = rec.find(name);
  return it == rec.end() ? "" : StringOf(it->second);
}

VdiRow RowOf(const std::string& ref, const std::map<std::string, xmlrpc_c::value>& rec) {
  VdiRow row;
  row.ref = ref;
  row.uuid = StringIn(rec, "uuid");
  row.location = StringIn(rec, "location");
  row.name_label = StringIn(rec, "name_label");
  row.name_description = StringIn(rec, "name_description");
  row.type = StringIn(rec, "type");
  if (rec.count("sm_config")) row.sm_config = MapOf(rec.at("sm_config"));
  row.virtual_size = std::strtoll(StringIn(rec, "virtual_size").c_str(), nullptr, 10);
  row.read_only = BoolOf(rec, "read_only");
  row.is_a_snapshot = BoolOf(rec, "is_a_snapshot");
  row.cbt_enabled = BoolOf(rec, "cbt_enabled");
  row.snapshot_of = StringIn(rec, "snapshot_of");
  return row;
}

}  // namespace

Status XapiDb::IntroduceVdi(const VdiIntroduction& v, std::string* ref) {
  // The positional parameters of VDI.db_introduce (xapi's datamodel).
  const std::vector<xmlrpc_c::value> params = {
      Str(v.uuid),
      Str(v.name_label),
      Str(v.name_description),
      Str(v.sr_ref),
      Str(v.type),
      xmlrpc_c::value_boolean(v.sharable),
      xmlrpc_c::value_boolean(v.read_only),
      StringStruct({}),  // other_config
      Str(v.location),
      StringStruct({}),  // xenstore_data
      StringStruct(v.sm_config),
      xmlrpc_c::value_boolean(true),  // managed
      Str(std::to_string(v.virtual_size)),
      Str(std::to_string(v.physical_utilisation)),
      Str(""),  // metadata_of_pool
      xmlrpc_c::value_boolean(v.is_a_snapshot),
      xmlrpc_c::value_datetime(v.snapshot_time),
      Str(v.snapshot_of),
      xmlrpc_c::value_boolean(v.cbt_enabled),
  };
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(api_->Call("VDI.db_introduce", params, &r));
  *ref = StringOf(r);
  return Status::OK();
}

Status XapiDb::ForgetVdi(const std::string& ref) {
  std::vector<std::string> failure;
  Status st = api_->Call("VDI.db_forget", {Str(ref)}, nullptr, &failure);
  if (!st.ok() && (XenApiCode(failure) == "HANDLE_INVALID" || XenApiCode(failure) == "UUID_INVALID")) return Status::OK();
  return st;
}

Status XapiDb::VdiByUuid(const std::string& uuid, std::string* ref) {
  std::vector<std::string> failure;
  xmlrpc_c::value r;
  Status st = api_->Call("VDI.get_by_uuid", {Str(uuid)}, &r, &failure);
  if (!st.ok() && XenApiCode(failure) == "UUID_INVALID") return Status::Error(ENOENT, "no VDI " + uuid + " in xapi");
  VS_RETURN_IF_ERROR(st);
  *ref = StringOf(r);
  return Status::OK();
}

Status XapiDb::VdisOfSr(const std::string& sr_ref, std::vector<VdiRow>* out) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(api_->Call("VDI.get_all_records_where", {Str("field \"SR\" = \"" + sr_ref + "\"")}, &r));
  if (r.type() != xmlrpc_c::value::TYPE_STRUCT) return Status::Error(EPROTO, "VDI.get_all_records_where: not a map");
  out->clear();
  for (const auto& m : xmlrpc_c::value_struct(r).cvalue()) {
    if (m.second.type() != xmlrpc_c::value::TYPE_STRUCT) continue;
    out->push_back(RowOf(m.first, xmlrpc_c::value_struct(m.second)));
  }
  return Status::OK();
}

Status XapiDb::VdiRecord(const std::string& ref, VdiRow* out) {
  std::vector<std::string> failure;
  xmlrpc_c::value r;
  Status st = api_->Call("VDI.get_record", {Str(ref)}, &r, &failure);
  if (!st.ok() && XenApiCode(failure) == "HANDLE_INVALID") return Status::Error(ENOENT, "no VDI " + ref + " in xapi");
  VS_RETURN_IF_ERROR(st);
  if (r.type() != xmlrpc_c::value::TYPE_STRUCT) return Status::Error(EPROTO, "VDI.get_record: not a struct");
  *out = RowOf(ref, xmlrpc_c::value_struct(r));
  return Status::OK();
}

Status XapiDb::SetVdiCbtEnabled(const std::string& ref, bool enabled) {
  return api_->Call("VDI.set_cbt_enabled", {Str(ref), xmlrpc_c::value_boolean(enabled)}, nullptr);
}

Status XapiDb::SetVdiSizes(const std::string& ref, int64_t virtual_size, int64_t physical_utilisation) {
  VS_RETURN_IF_ERROR(api_->Call("VDI.set_virtual_size", {Str(ref), Str(std::to_string(virtual_size))}, nullptr));
  return api_->Call("VDI.set_physical_utilisation", {Str(ref), Str(std::to_string(physical_utilisation))}, nullptr);
}

Status XapiDb::VdiSmConfig(const std::string& ref, StringMap* out) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(api_->Call("VDI.get_sm_config", {Str(ref)}, &r));
  *out = MapOf(r);
  return Status::OK();
}

Status XapiDb::AddToVdiSmConfig(const std::string& ref, const std::string& key, const std::string& value) {
  std::vector<std::string> failure;
  Status st = api_->Call("VDI.add_to_sm_config", {Str(ref), Str(key), Str(value)}, nullptr, &failure);
  if (!st.ok() && XenApiCode(failure) == "MAP_DUPLICATE_KEY")
    return Status::Error(EEXIST, "sm-config key " + key + " is already set");
  return st;
}

Status XapiDb::RemoveFromVdiSmConfig(const std::string& ref, const std::string& key) {
  return api_->Call("VDI.remove_from_sm_config", {Str(ref), Str(key)}, nullptr);
}

Status XapiDb::SetSrSizes(const std::string& sr_ref, int64_t physical_size, int64_t physical_utilisation,
                          int64_t virtual_allocation) {
  VS_RETURN_IF_ERROR(api_->Call("SR.set_physical_size", {Str(sr_ref), Str(std::to_string(physical_size))}, nullptr));
  VS_RETURN_IF_ERROR(
      api_->Call("SR.set_physical_utilisation", {Str(sr_ref), Str(std::to_string(physical_utilisation))}, nullptr));
  return api_->Call("SR.set_virtual_allocation", {Str(sr_ref), Str(std::to_string(virtual_allocation))}, nullptr);
}

Status XapiDb::MarkSrDirty(const std::string& sr_ref) {
  std::vector<std::string> failure;
  Status st = api_->Call("SR.add_to_other_config", {Str(sr_ref), Str("dirty"), Str("")}, nullptr, &failure);
  if (!st.ok() && XenApiCode(failure) == "MAP_DUPLICATE_KEY") return Status::OK();  // already dirty
  return st;
}

Status XapiDb::SecretValue(const std::string& uuid, std::string* value) {
  xmlrpc_c::value ref, v;
  std::vector<std::string> failure;
  Status st = api_->Call("secret.get_by_uuid", {Str(uuid)}, &ref, &failure);
  if (!st.ok() && XenApiCode(failure) == "UUID_INVALID") return Status::Error(ENOENT, "no xapi secret " + uuid);
  VS_RETURN_IF_ERROR(st);
  VS_RETURN_IF_ERROR(api_->Call("secret.get_value", {ref}, &v));
  *value = StringOf(v);
  return Status::OK();
}

Status XapiDb::Hosts(std::vector<std::string>* refs) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(api_->Call("host.get_all", {}, &r));
  refs->clear();
  if (r.type() == xmlrpc_c::value::TYPE_ARRAY)
    for (const xmlrpc_c::value& h : xmlrpc_c::value_array(r).cvalue()) refs->push_back(StringOf(h));
  return Status::OK();
}

Status XapiDb::HostName(const std::string& ref, std::string* name) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(api_->Call("host.get_name_label", {Str(ref)}, &r));
  *name = StringOf(r);
  return Status::OK();
}

Status XapiDb::CallPlugin(const std::string& host_ref, const std::string& plugin, const std::string& fn,
                          const StringMap& args, std::string* result) {
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(api_->Call("host.call_plugin", {Str(host_ref), Str(plugin), Str(fn), StringStruct(args)}, &r));
  *result = StringOf(r);
  return Status::OK();
}

}  // namespace vastsky
