#include "xapi/host_settings.h"

#include <cerrno>
#include <cstdlib>

#include "lib/ini.h"
#include "lib/state_file.h"

namespace vastsky {

Status HostSettings::Load() {
  const char* named = std::getenv("VASTSKY_SM_CONF");
  const std::string path = named && *named ? named : "/etc/vastsky/sm.conf";
  IniFile ini;
  Status st = ini.Load(path);
  if (st.code() == ENOENT && !(named && *named)) return Status::OK();
  VS_RETURN_IF_ERROR(st);
  xapi_socket = ini.Get("sm", "xapi_socket", xapi_socket);
  head_state_dir = ini.Get("sm", "head_state_dir", head_state_dir);
  device_dir = ini.Get("sm", "device_dir", device_dir);
  secret_file = ini.Get("sm", "secret_file", secret_file);
  ca_file = ini.Get("sm", "ca_file", ca_file);
  lock_dir = ini.Get("sm", "lock_dir", lock_dir);
  log_level = ini.Get("sm", "log_level", log_level);
  return Status::OK();
}

Status HostSettings::HeadServerId(int64_t* id) const {
  std::string text;
  Status st = ReadStateFile(head_state_dir + "/hsvrid", &text);
  if (st.code() == ENOENT)
    return Status::Error(ENOENT, "no VastSky head agent has registered on this host (no " + head_state_dir +
                                     "/hsvrid): start vastsky-head-agent");
  VS_RETURN_IF_ERROR(st);
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (v <= 0 || end == text.c_str()) return Status::Error(EINVAL, head_state_dir + "/hsvrid holds no head server id");
  *id = v;
  return Status::OK();
}

}  // namespace vastsky
