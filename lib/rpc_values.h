// Building XML-RPC answers and requests: the few value conversions every
// program needs, done one way.
#pragma once

#include <xmlrpc-c/base.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace vastsky {

// 3.0 clients expect <int>; ids and GiB counts fit, but never wrap: a value
// beyond 32 bits goes out as <i8>.
inline xmlrpc_c::value IntValue(int64_t v) {
  if (v > 0x7fffffff || v < -0x7fffffff) return xmlrpc_c::value_i8(v);
  return xmlrpc_c::value_int(static_cast<int>(v));
}

inline xmlrpc_c::value StringsValue(const std::vector<std::string>& v) {
  std::vector<xmlrpc_c::value> out;
  out.reserve(v.size());
  for (const std::string& s : v) out.push_back(xmlrpc_c::value_string(s));
  return xmlrpc_c::value_array(out);
}

}  // namespace vastsky
