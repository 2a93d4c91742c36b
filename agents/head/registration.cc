#include "agents/head/registration.h"

#include "lib/ids.h"
#include "lib/log.h"
#include "lib/rpc_values.h"
#include "lib/state_file.h"

namespace vastsky {

Status HeadRegistration::Register() {
  std::vector<xmlrpc_c::value> ips;
  for (const std::string& ip : data_ips_) ips.push_back(xmlrpc_c::value_string(ip));
  xmlrpc_c::value r;
  VS_RETURN_IF_ERROR(link_->Call("registerHeadServer",
                                 {{"ip_data", xmlrpc_c::value_array(ips)},
                                  {"initiator", xmlrpc_c::value_string(initiator_)},
                                  {"url", xmlrpc_c::value_string(url_)},
                                  {"reconnect", xmlrpc_c::value_boolean(true)}},
                                 &r));
  const int64_t id = r.type() == xmlrpc_c::value::TYPE_INT ? xmlrpc_c::value_int(r).cvalue() : 0;
  if (hsvr_id_ != 0 && id != hsvr_id_)
    VS_LOG_WARN("the manager gave this head %s; it was %s before", FormatId("hsvr", id).c_str(),
                FormatId("hsvr", hsvr_id_).c_str());
  if (id != hsvr_id_) {
    Status st = WriteStateFile(id_file_, std::to_string(id) + "\n", 0644);
    if (!st.ok()) VS_LOG_WARN("cannot record this head's id for the XCP driver: %s", st.ToString().c_str());
  }
  hsvr_id_ = id;
  VS_LOG_INFO("registered as %s, initiator %s, agent %s", FormatId("hsvr", id).c_str(), initiator_.c_str(), url_.c_str());
  return Status::OK();
}

Status HeadRegistration::Beat(const std::vector<int64_t>& dead_legs) {
  std::vector<xmlrpc_c::value> dead;
  for (int64_t c : dead_legs) dead.push_back(IntValue(c));
  xmlrpc_c::value r;
  return link_->Call("heartbeat",
                     {{"hsvrid", xmlrpc_c::value_int(static_cast<int>(hsvr_id_))},
                      {"deadlegs", xmlrpc_c::value_array(dead)},
                      {"time", WallClockValue()}},
                     &r);
}

}  // namespace vastsky
