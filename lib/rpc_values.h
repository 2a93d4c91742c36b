// Building XML-RPC answers and requests: the few value conversions every
// program needs, done one way.
#pragma once

#include <xmlrpc-c/base.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vastsky {

// 3.0 clients expect <int>; ids and GiB counts fit, but never wrap: a value
// beyond 32 bits goes out as <i8>.
inline xmlrpc_c::value IntValue(int64_t v) {
  if (v > 0x7fffffff || v < -0x7fffffff) return xmlrpc_c::value_i8(v);
  return xmlrpc_c::value_int(static_cast<int>(v));
}

// This machine's wall clock, seconds since 1970 UTC, as a heartbeat's
// `time` carries it: the manager compares it with its own (clock skew).
inline double WallClockSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
inline xmlrpc_c::value WallClockValue() { return xmlrpc_c::value_double(WallClockSeconds()); }

inline xmlrpc_c::value StringsValue(const std::vector<std::string>& v) {
  std::vector<xmlrpc_c::value> out;
  out.reserve(v.size());
  for (const std::string& s : v) out.push_back(xmlrpc_c::value_string(s));
  return xmlrpc_c::value_array(out);
}

// Lenient readers of a member of a struct our own daemons answered: "", 0
// or false when the member is absent, of another type, or v is no struct
// (the caller checks whatever it cannot do without).
// FindMember returns a copy: xmlrpc-c hands a struct's members out in a
// map of its own (cvalue() is by value), gone once the call returns.
inline std::optional<xmlrpc_c::value> FindMember(const xmlrpc_c::value& v, const char* name) {
  if (v.type() != xmlrpc_c::value::TYPE_STRUCT) return std::nullopt;
  const xmlrpc_c::cstruct m = xmlrpc_c::value_struct(v).cvalue();
  auto it = m.find(name);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

inline std::string StringMember(const xmlrpc_c::value& v, const char* name) {
  const auto m = FindMember(v, name);
  return m && m->type() == xmlrpc_c::value::TYPE_STRING ? xmlrpc_c::value_string(*m).cvalue() : "";
}

// v as an integer, sent as <int> or <i8>; false (and *out untouched) for
// any other type.
inline bool IntOfValue(const xmlrpc_c::value& v, int64_t* out) {
  if (v.type() == xmlrpc_c::value::TYPE_INT) *out = xmlrpc_c::value_int(v).cvalue();
  else if (v.type() == xmlrpc_c::value::TYPE_I8) *out = xmlrpc_c::value_i8(v).cvalue();
  else return false;
  return true;
}

inline int64_t IntMember(const xmlrpc_c::value& v, const char* name) {
  const auto m = FindMember(v, name);
  int64_t out = 0;
  if (m) IntOfValue(*m, &out);
  return out;
}

inline std::vector<std::string> StringsMember(const xmlrpc_c::value& v, const char* name) {
  std::vector<std::string> out;
  const auto m = FindMember(v, name);
  if (!m || m->type() != xmlrpc_c::value::TYPE_ARRAY) return out;
  for (const xmlrpc_c::value& s : xmlrpc_c::value_array(*m).vectorValueValue())
    if (s.type() == xmlrpc_c::value::TYPE_STRING) out.push_back(xmlrpc_c::value_string(s).cvalue());
  return out;
}

inline bool BoolMember(const xmlrpc_c::value& v, const char* name) {
  const auto m = FindMember(v, name);
  return m && m->type() == xmlrpc_c::value::TYPE_BOOLEAN && xmlrpc_c::value_boolean(*m).cvalue();
}

}  // namespace vastsky
