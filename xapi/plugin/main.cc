// The `vastsky` xapi host plugin (/etc/xapi.d/plugins/vastsky): how the
// pool master's driver asks another host about itself, through
// host.call_plugin. xapi runs it with argv[1] = a methodCall whose method
// is the function and whose parameters are (session, {args}); the answer
// is XenAPIPlugin's envelope {Status: Success, Value: string} or
// {Status: Failure, ErrorDescription: [...]} on stdout.
//
// Functions:
//   head  {"hsvrid": N, "host": hostname, "device_dir": dir,
//          "attached": [volume names with a device here]}; hsvrid 0 and
//          "error" when no head agent has registered on this host.

#include <dirent.h>
#include <syslog.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <xmlrpc-c/xml.hpp>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "lib/log.h"
#include "lib/rpc_values.h"
#include "xapi/host_settings.h"
#include "xapi/smapi_wire.h"

using namespace vastsky;

namespace {

xmlrpc_c::value Envelope(bool ok, const xmlrpc_c::value& payload) {
  xmlrpc_c::cstruct e;
  e["Status"] = xmlrpc_c::value_string(ok ? "Success" : "Failure");
  e[ok ? "Value" : "ErrorDescription"] = payload;
  return xmlrpc_c::value_struct(e);
}

xmlrpc_c::value Failure(const std::vector<std::string>& words) { return Envelope(false, StringsValue(words)); }

std::string Head(const HostSettings& host) {
  nlohmann::json j;
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  j["host"] = name;
  j["device_dir"] = host.device_dir;
  int64_t hsvrid = 0;
  Status st = host.HeadServerId(&hsvrid);
  j["hsvrid"] = hsvrid;
  if (!st.ok()) j["error"] = st.message();
  std::vector<std::string> attached;
  if (DIR* d = opendir(host.device_dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') attached.push_back(e->d_name);
    closedir(d);
  }
  j["attached"] = attached;
  return j.dump();
}

}  // namespace

int main(int argc, char** argv) {
  LogInit("vastsky-xapi-plugin", LogLevel::kInfo, true, LOG_LOCAL2);
  HostSettings host;
  std::string answer;
  if (argc != 2) {
    answer = FormatResponse(Failure({"XENAPI_PLUGIN_FAILURE", "", "usage", "one argument: the XML-RPC call"}));
  } else {
    // The call is (session, args); `head` needs neither.
    std::string fn;
    Status st = host.Load();
    if (st.ok()) {
      xmlrpc_c::paramList params;
      try {
        xmlrpc_c::xml::parseCall(argv[1], &fn, &params);
        if (params.size() != 2) st = Status::Error(EINVAL, "a plugin call carries (session, args)");
      } catch (const std::exception& e) {
        st = Status::Error(EINVAL, std::string("not an XML-RPC call: ") + e.what());
      }
    }
    if (!st.ok()) {
      VS_LOG_ERROR("plugin call refused: %s", st.ToString().c_str());
      answer = FormatResponse(Failure({"XENAPI_PLUGIN_FAILURE", fn, "Status", st.message()}));
    } else if (fn == "head") {
      answer = FormatResponse(Envelope(true, xmlrpc_c::value_string(Head(host))));
    } else {
      answer = FormatResponse(Failure({"UNKNOWN_XENAPI_PLUGIN_FUNCTION", fn}));
    }
  }
  fputs(answer.c_str(), stdout);
  fflush(stdout);
  return 0;
}
