#include "lib/manager_link.h"

#include <cerrno>

#include "lib/version.h"

namespace vastsky {

ManagerLink::ManagerLink(const std::vector<std::string>& urls, const std::string& user, const std::string& password,
                         const std::string& ca_file, int timeout_ms) {
  for (const std::string& url : urls) {
    RpcEndpoint ep;
    ep.url = url;
    ep.user = user;
    ep.password = password;
    ep.ca_file = ca_file;
    ep.timeout_ms = timeout_ms;
    clients_.emplace_back(new RpcClient(ep));
  }
}

bool ManagerLink::Unreachable(const Status& st) {
  return st.code() == ECONNREFUSED || st.code() == ETIMEDOUT || st.code() == EIO;
}

Status ManagerLink::Call(const std::string& method, std::map<std::string, xmlrpc_c::value> members,
                         xmlrpc_c::value* result) {
  members["ver"] = xmlrpc_c::value_int(kProtocolVersion);
  xmlrpc_c::paramList params;
  params.add(xmlrpc_c::value_struct(members));
  std::lock_guard<std::mutex> lock(mu_);
  Status st = Status::Error(EINVAL, "no manager URL configured");
  for (size_t i = 0; i < clients_.size(); ++i) {
    const size_t at = (preferred_ + i) % clients_.size();
    st = clients_[at]->Call(method, params, result);
    if (!Unreachable(st)) {
      preferred_ = at;
      return st;
    }
  }
  return st;
}

}  // namespace vastsky
