// libFuzzer target: one call as xapi gives it to the storage driver
// (argv[1] of /opt/xensource/sm/VastSkySR, an XML-RPC methodCall), through
// sm::RunSmCall: parsing, the device-config checks and the dispatch. The
// answer must be an XML-RPC response xapi can read, whatever the bytes.
// The driver's files (secret, head state, locks) are under a scratch
// directory; run.sh runs the target in a network namespace of its own, so
// a fuzzed manager URL reaches nothing.
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "sm_plugin/driver.h"
#include "tests/fuzz/fuzz_setup.h"

using namespace vastsky;

namespace {

HostSettings* NewHost() {
  const std::string dir = FuzzSetup("fuzz-sm-call");
  HostSettings* host = new HostSettings;
  host->xapi_socket = dir + "/xapi";  // absent: xapi calls fail at once
  host->head_state_dir = dir + "/head";
  host->device_dir = dir + "/dev";
  host->lock_dir = dir + "/lock";
  host->secret_file = dir + "/secret";
  std::ofstream(host->secret_file) << "fuzz-secret-0123456789abcdef\n";
  return host;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static HostSettings* host = NewHost();
  const std::string answer = sm::RunSmCall(std::string(reinterpret_cast<const char*>(data), size), *host);
  if (answer.find("<methodResponse>") == std::string::npos) {
    fprintf(stderr, "not an XML-RPC response: %s\n", answer.c_str());
    abort();
  }
  return 0;
}
