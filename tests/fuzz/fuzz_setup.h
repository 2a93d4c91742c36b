// What every fuzz target sets up once, at its first input: logs of errors
// only, xmlrpc-c's size limit raised as the daemons raise it, and a scratch
// directory of its own, removed when the fuzzer exits.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "lib/log.h"
#include "lib/rpc_client.h"

namespace vastsky {

inline std::string FuzzSetup(const char* name) {
  LogInit(name, LogLevel::kError, false);
  RaiseXmlSizeLimit();
  static std::string scratch;
  std::string dir = std::string("/tmp/vastsky-") + name + "-XXXXXX";
  if (!mkdtemp(dir.data())) abort();
  scratch = dir;
  atexit([] { std::filesystem::remove_all(scratch); });
  return scratch;
}

}  // namespace vastsky
