#include "xapi/smapi_wire.h"

#include <xmlrpc-c/girerr.hpp>
#include <xmlrpc-c/xml.hpp>

#include <cerrno>

namespace vastsky {

namespace {

// Strings, per Python's xmlrpc.client.escape: only &, < and > are escaped.
std::string Escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out += c;
  }
  return out;
}

void Emit(const xmlrpc_c::value& v, std::string* out) {
  switch (v.type()) {
    case xmlrpc_c::value::TYPE_NIL:
      *out += "<value><nil/></value>";
      return;
    case xmlrpc_c::value::TYPE_STRING:
      *out += "<value><string>" + Escape(xmlrpc_c::value_string(v).cvalue()) + "</string></value>\n";
      return;
    case xmlrpc_c::value::TYPE_INT:
      *out += "<value><int>" + std::to_string(xmlrpc_c::value_int(v).cvalue()) + "</int></value>\n";
      return;
    case xmlrpc_c::value::TYPE_I8:
      // Python writes big ints as <int> too; xapi reads either.
      *out += "<value><int>" + std::to_string(xmlrpc_c::value_i8(v).cvalue()) + "</int></value>\n";
      return;
    case xmlrpc_c::value::TYPE_BOOLEAN:
      *out += std::string("<value><boolean>") + (xmlrpc_c::value_boolean(v).cvalue() ? "1" : "0") + "</boolean></value>\n";
      return;
    case xmlrpc_c::value::TYPE_ARRAY: {
      *out += "<value><array><data>\n";
      for (const xmlrpc_c::value& e : xmlrpc_c::value_array(v).cvalue()) Emit(e, out);
      *out += "</data></array></value>\n";
      return;
    }
    case xmlrpc_c::value::TYPE_STRUCT: {
      *out += "<value><struct>\n";
      for (const auto& m : xmlrpc_c::value_struct(v).cvalue()) {
        *out += "<member>\n<name>" + Escape(m.first) + "</name>\n";
        Emit(m.second, out);
        *out += "</member>\n";
      }
      *out += "</struct></value>\n";
      return;
    }
    default:
      // The driver never answers with other types; a string keeps the
      // document well-formed if one ever slips through.
      *out += "<value><string></string></value>\n";
  }
}

Status AsString(const std::string& name, const xmlrpc_c::value& v, std::string* out) {
  if (v.type() != xmlrpc_c::value::TYPE_STRING) return Status::Error(EINVAL, "member '" + name + "' is not a string");
  *out = xmlrpc_c::value_string(v).cvalue();
  return Status::OK();
}

Status AsStringMap(const std::string& name, const xmlrpc_c::value& v, StringMap* out) {
  if (v.type() != xmlrpc_c::value::TYPE_STRUCT) return Status::Error(EINVAL, "member '" + name + "' is not a struct");
  for (const auto& m : xmlrpc_c::value_struct(v).cvalue()) {
    std::string s;
    VS_RETURN_IF_ERROR(AsString(name + "." + m.first, m.second, &s));
    (*out)[m.first] = s;
  }
  return Status::OK();
}

}  // namespace

bool SmRequest::master() const {
  auto it = device_config.find("SRmaster");
  return it != device_config.end() && it->second == "true";
}

Status ParseSmRequest(const std::string& xml, SmRequest* out) {
  std::string method;
  xmlrpc_c::paramList params;
  try {
    xmlrpc_c::xml::parseCall(xml, &method, &params);
  } catch (const std::exception& e) {
    return Status::Error(EINVAL, std::string("not an XML-RPC call: ") + e.what());
  }
  if (params.size() != 1 || params[0].type() != xmlrpc_c::value::TYPE_STRUCT)
    return Status::Error(EINVAL, "the call must carry exactly one struct");
  *out = SmRequest();
  out->command = method;
  const std::map<std::string, std::string*> strings = {
      {"host_ref", &out->host_ref},         {"session_ref", &out->session_ref},
      {"sr_ref", &out->sr_ref},             {"sr_uuid", &out->sr_uuid},
      {"subtask_of", &out->subtask_of},     {"vdi_ref", &out->vdi_ref},
      {"vdi_uuid", &out->vdi_uuid},         {"vdi_location", &out->vdi_location},
      {"vdi_type", &out->vdi_type},         {"new_uuid", &out->new_uuid},
      {"vdi_on_boot", &out->vdi_on_boot},   {"vdi_allow_caching", &out->vdi_allow_caching},
  };
  const std::map<std::string, StringMap*> maps = {
      {"device_config", &out->device_config},
      {"sr_sm_config", &out->sr_sm_config},
      {"vdi_sm_config", &out->vdi_sm_config},
      {"driver_params", &out->driver_params},
  };
  for (const auto& m : xmlrpc_c::value_struct(params[0]).cvalue()) {
    if (m.first == "command") {
      std::string c;
      VS_RETURN_IF_ERROR(AsString(m.first, m.second, &c));
      if (c != method) return Status::Error(EINVAL, "command '" + c + "' differs from the method '" + method + "'");
    } else if (m.first == "args") {
      if (m.second.type() != xmlrpc_c::value::TYPE_ARRAY) return Status::Error(EINVAL, "member 'args' is not an array");
      for (const xmlrpc_c::value& a : xmlrpc_c::value_array(m.second).cvalue()) {
        std::string s;
        VS_RETURN_IF_ERROR(AsString("args[]", a, &s));
        out->args.push_back(s);
      }
    } else if (strings.count(m.first)) {
      VS_RETURN_IF_ERROR(AsString(m.first, m.second, strings.at(m.first)));
    } else if (maps.count(m.first)) {
      VS_RETURN_IF_ERROR(AsStringMap(m.first, m.second, maps.at(m.first)));
    }
    // Members added by newer xapis (local_cache_sr, ...) are ignored.
  }
  return Status::OK();
}

std::string FormatResponse(const xmlrpc_c::value& result) {
  std::string out = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n";
  Emit(result, &out);
  out += "</param>\n</params>\n</methodResponse>\n";
  return out;
}

std::string FormatFault(int code, const std::string& message) {
  std::string out = "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n";
  xmlrpc_c::cstruct f;
  f["faultCode"] = xmlrpc_c::value_int(code);
  f["faultString"] = xmlrpc_c::value_string(message);
  Emit(xmlrpc_c::value_struct(f), &out);
  out += "</fault>\n</methodResponse>\n";
  return out;
}

std::string FormatCall(const std::string& method, const xmlrpc_c::value& param) {
  std::string out = "<?xml version='1.0'?>\n<methodCall>\n<methodName>" + Escape(method) + "</methodName>\n<params>\n<param>\n";
  Emit(param, &out);
  out += "</param>\n</params>\n</methodCall>\n";
  return out;
}

xmlrpc_c::value StringStruct(const StringMap& m) {
  xmlrpc_c::cstruct s;
  for (const auto& kv : m) s[kv.first] = xmlrpc_c::value_string(kv.second);
  return xmlrpc_c::value_struct(s);
}

}  // namespace vastsky
