// VastSkySR: the XCP storage driver xapi runs as /opt/xensource/sm/VastSkySR
// (SMAPIv1): the call is argv[1], the answer goes to stdout and nothing
// else does, the exit status is always 0 (xapi reads anything else as a
// crash), and logs go to syslog (facility LOCAL2, so into /var/log/SMlog).

#include <syslog.h>

#include <cstdio>
#include <exception>
#include <string>

#include "lib/log.h"
#include "lib/rpc_client.h"
#include "sm_plugin/driver.h"
#include "sm_plugin/faults.h"
#include "xapi/smapi_wire.h"

using namespace vastsky;

int main(int argc, char** argv) {
  HostSettings host;
  Status st = host.Load();
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(host.log_level, &level);
  LogInit("VastSkySR", level, true, LOG_LOCAL2);
  std::string answer;
  if (argc != 2) {
    answer = FormatFault(sm::kBadRequest, "VastSkySR takes one argument, the XML-RPC call");
  } else if (!st.ok()) {
    VS_LOG_ERROR("cannot read the driver's settings: %s", st.ToString().c_str());
    answer = FormatFault(sm::kConfigInvalid, "VastSkySR settings: " + st.message());
  } else {
    RaiseXmlSizeLimit();
    try {
      answer = sm::RunSmCall(argv[1], host);
    } catch (const std::exception& e) {
      // Only a bug gets here; xapi must still get an answer it can parse.
      VS_LOG_ERROR("unexpected exception: %s", e.what());
      answer = FormatFault(sm::kSmGeneral, std::string("VastSkySR internal error: ") + e.what());
    }
  }
  fputs(answer.c_str(), stdout);
  fflush(stdout);
  return 0;
}
