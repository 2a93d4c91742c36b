#include "lib/api_params.h"

#include <cerrno>

#include "lib/version.h"

namespace vastsky {

namespace {
Status Missing(const std::string& key) { return Status::Error(EINVAL, "member '" + key + "' is missing"); }
Status WrongType(const std::string& key, const char* want) {
  return Status::Error(EINVAL, "member '" + key + "' must be " + want);
}
}  // namespace

Status Params::From(const xmlrpc_c::paramList& list, const Caller& caller, Params* out) {
  out->caller_ = caller;
  if (list.size() != 1 || list[0].type() != xmlrpc_c::value::TYPE_STRUCT)
    return Status::Error(EINVAL, "a call takes exactly one struct parameter");
  out->members_ = xmlrpc_c::value_struct(list[0]).cvalue();
  auto ver = out->members_.find("ver");
  if (ver == out->members_.end()) return Status::Error(EPROTO, "member 'ver' is missing");
  if (ver->second.type() != xmlrpc_c::value::TYPE_INT ||
      xmlrpc_c::value_int(ver->second).cvalue() != kProtocolVersion)
    return Status::Error(EPROTO, "protocol version must be " + std::to_string(kProtocolVersion));
  return Status::OK();
}

Status Params::Int(const char* key, int64_t* out) const {
  auto it = members_.find(key);
  if (it == members_.end()) return Missing(where_ + key);
  if (it->second.type() == xmlrpc_c::value::TYPE_INT) *out = xmlrpc_c::value_int(it->second).cvalue();
  else if (it->second.type() == xmlrpc_c::value::TYPE_I8) *out = xmlrpc_c::value_i8(it->second).cvalue();
  else return WrongType(where_ + key, "an int");
  return Status::OK();
}

Status Params::Double(const char* key, double* out) const {
  auto it = members_.find(key);
  if (it == members_.end()) return Missing(where_ + key);
  if (it->second.type() == xmlrpc_c::value::TYPE_DOUBLE) *out = xmlrpc_c::value_double(it->second).cvalue();
  else if (it->second.type() == xmlrpc_c::value::TYPE_INT) *out = xmlrpc_c::value_int(it->second).cvalue();
  else return WrongType(where_ + key, "a double");
  return Status::OK();
}

Status Params::String(const char* key, std::string* out) const {
  auto it = members_.find(key);
  if (it == members_.end()) return Missing(where_ + key);
  if (it->second.type() != xmlrpc_c::value::TYPE_STRING) return WrongType(where_ + key, "a string");
  *out = xmlrpc_c::value_string(it->second).cvalue();
  return Status::OK();
}

Status Params::Bool(const char* key, bool* out) const {
  auto it = members_.find(key);
  if (it == members_.end()) return Missing(where_ + key);
  if (it->second.type() != xmlrpc_c::value::TYPE_BOOLEAN) return WrongType(where_ + key, "a boolean");
  *out = xmlrpc_c::value_boolean(it->second).cvalue();
  return Status::OK();
}

Status Params::StringArray(const char* key, size_t max_items, std::vector<std::string>* out) const {
  auto it = members_.find(key);
  if (it == members_.end()) return Missing(where_ + key);
  if (it->second.type() != xmlrpc_c::value::TYPE_ARRAY) return WrongType(where_ + key, "an array of strings");
  std::vector<xmlrpc_c::value> items = xmlrpc_c::value_array(it->second).cvalue();
  if (items.size() > max_items)
    return Status::Error(EINVAL, "member '" + where_ + key + "' has more than " + std::to_string(max_items) + " items");
  for (const xmlrpc_c::value& v : items) {
    if (v.type() != xmlrpc_c::value::TYPE_STRING) return WrongType(where_ + key, "an array of strings");
    out->push_back(xmlrpc_c::value_string(v).cvalue());
  }
  return Status::OK();
}

Status Params::IntArray(const char* key, size_t max_items, std::vector<int64_t>* out) const {
  auto it = members_.find(key);
  if (it == members_.end()) return Missing(where_ + key);
  if (it->second.type() != xmlrpc_c::value::TYPE_ARRAY) return WrongType(where_ + key, "an array of ints");
  std::vector<xmlrpc_c::value> items = xmlrpc_c::value_array(it->second).cvalue();
  if (items.size() > max_items)
    return Status::Error(EINVAL, "member '" + where_ + key + "' has more than " + std::to_string(max_items) + " items");
  for (const xmlrpc_c::value& v : items) {
    if (v.type() == xmlrpc_c::value::TYPE_INT) out->push_back(xmlrpc_c::value_int(v).cvalue());
    else if (v.type() == xmlrpc_c::value::TYPE_I8) out->push_back(xmlrpc_c::value_i8(v).cvalue());
    else return WrongType(where_ + key, "an array of ints");
  }
  return Status::OK();
}

Status Params::Id(const char* key, int64_t* out) const {
  VS_RETURN_IF_ERROR(Int(key, out));
  if (*out < 1 || *out > 0x7fffffff) return Status::Error(EINVAL, "member '" + where_ + key + "' is not a valid id");
  return Status::OK();
}

Status Params::Volume(const std::string& prefix, VolumeRef* out) const {
  const std::string id_key = prefix + "id", name_key = prefix + "name";
  if (Has(id_key.c_str())) return Id(id_key.c_str(), &out->id);
  if (Has(name_key.c_str())) return String(name_key.c_str(), &out->name);
  return Status::Error(EINVAL, "give '" + id_key + "' or '" + name_key + "'");
}

Status Params::Struct(const char* key, Params* out) const {
  auto it = members_.find(key);
  if (it == members_.end()) return Missing(where_ + key);
  if (it->second.type() != xmlrpc_c::value::TYPE_STRUCT) return WrongType(where_ + key, "a struct");
  out->members_ = xmlrpc_c::value_struct(it->second).cvalue();
  out->where_ = where_ + key + ".";
  out->caller_ = caller_;
  return Status::OK();
}

Status Params::StructArray(const char* key, size_t max_items, std::vector<Params>* out) const {
  auto it = members_.find(key);
  if (it == members_.end()) return Missing(where_ + key);
  if (it->second.type() != xmlrpc_c::value::TYPE_ARRAY) return WrongType(where_ + key, "an array of structs");
  const std::vector<xmlrpc_c::value> items = xmlrpc_c::value_array(it->second).cvalue();
  if (items.size() > max_items)
    return Status::Error(EINVAL, "member '" + where_ + key + "' has more than " + std::to_string(max_items) + " items");
  out->clear();
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string name = where_ + key + "[" + std::to_string(i) + "]";
    if (items[i].type() != xmlrpc_c::value::TYPE_STRUCT) return WrongType(name, "a struct");
    Params p;
    p.members_ = xmlrpc_c::value_struct(items[i]).cvalue();
    p.where_ = name + ".";
    p.caller_ = caller_;
    out->push_back(std::move(p));
  }
  return Status::OK();
}

}  // namespace vastsky
