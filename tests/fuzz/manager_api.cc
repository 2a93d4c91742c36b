// libFuzzer target: one HTTP body to the manager's XML-RPC dispatch
// (Api::Handle), which parses it, checks every parameter and runs the
// method on a real Store in a scratch database. Whatever the bytes, the
// answer is an XML-RPC response: no crash, no sanitizer report, no hang.
// The recovery loop is not started; agents are called with short timeouts
// (run.sh runs every target in a network namespace of its own: nothing a
// fuzzed agent URL names is reachable).
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "manager/api.h"
#include "manager/store.h"
#include "tests/fuzz/fuzz_setup.h"

using namespace vastsky;

namespace {

Api* NewApi() {
  const std::string dir = FuzzSetup("fuzz-manager-api");
  static Store store;
  if (!store.Open(dir + "/state.db", Store::Options()).ok()) abort();
  AgentOptions agents;
  agents.secret = "fuzz-secret-0123456789abcdef";
  agents.timeout_ms = agents.quick_timeout_ms = 200;
  return new Api(&store, agents, RecoveryOptions());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Api* api = NewApi();
  const std::string answer = api->Handle(AdminCaller(), std::string(reinterpret_cast<const char*>(data), size));
  if (answer.find("<methodResponse>") == std::string::npos) {
    fprintf(stderr, "not an XML-RPC response: %s\n", answer.c_str());
    abort();
  }
  return 0;
}
