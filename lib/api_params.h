// The one struct every 3.0 API call (manager or agent) carries, read with
// type checks.
// From() enforces the 3.0 envelope: exactly one struct parameter (EINVAL
// otherwise) whose `ver` is the protocol version (EPROTO otherwise). The
// getters return EINVAL naming the member when it is missing or mistyped.
#pragma once

#include <xmlrpc-c/base.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lib/caller.h"
#include "lib/status.h"
#include "lib/ids.h"

namespace vastsky {

class Params {
 public:
  static Status From(const xmlrpc_c::paramList& list, Params* out) { return From(list, Caller(), out); }
  // The same, for a call made by caller (RpcService's handlers).
  static Status From(const xmlrpc_c::paramList& list, const Caller& caller, Params* out);
  // Who made the call (a default Caller, role kNone, outside RpcService);
  // nested structs carry it too.
  const Caller& caller() const { return caller_; }

  bool Has(const char* key) const { return members_.count(key) > 0; }
  Status Int(const char* key, int64_t* out) const;  // i4 or i8, not boolean
  Status Double(const char* key, double* out) const;  // double or int
  Status String(const char* key, std::string* out) const;
  Status Bool(const char* key, bool* out) const;  // boolean only
  Status StringArray(const char* key, size_t max_items, std::vector<std::string>* out) const;
  Status IntArray(const char* key, size_t max_items, std::vector<int64_t>* out) const;
  // An id member: an int in 1..0x7fffffff.
  Status Id(const char* key, int64_t* out) const;
  // `<prefix>id` or `<prefix>name` ("lvolid"/"lvolname"); the id wins.
  // EINVAL if neither is present.
  Status Volume(const std::string& prefix, VolumeRef* out) const;
  // A nested struct, or an array of at most max_items structs; faults about
  // their members name the path ("lvol.mirrors[2].legs[0].chunkid").
  Status Struct(const char* key, Params* out) const;
  Status StructArray(const char* key, size_t max_items, std::vector<Params>* out) const;

 private:
  std::map<std::string, xmlrpc_c::value> members_;
  std::string where_;  // path prefix of a nested struct, "" at the top
  Caller caller_;
};

}  // namespace vastsky
