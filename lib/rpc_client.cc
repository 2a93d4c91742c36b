#include "lib/rpc_client.h"

#include <xmlrpc-c/client.hpp>
#include <xmlrpc-c/girerr.hpp>
#include <xmlrpc-c/util.h>

#include <cerrno>
#include <new>

namespace vastsky {

void RaiseXmlSizeLimit() { xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, 256u << 20); }

struct RpcClient::Impl {
  RpcEndpoint ep;
  std::unique_ptr<xmlrpc_c::clientXmlTransport_curl> transport;
  std::unique_ptr<xmlrpc_c::client_xml> client;
  std::unique_ptr<xmlrpc_c::carriageParm_curl0> carriage;
};

RpcClient::RpcClient(RpcEndpoint ep) : impl_(new Impl) {
  impl_->ep = std::move(ep);
  xmlrpc_c::clientXmlTransport_curl::constrOpt opt;
  opt.timeout(static_cast<unsigned>(impl_->ep.timeout_ms));
  opt.no_ssl_verifypeer(!impl_->ep.verify_tls);
  opt.no_ssl_verifyhost(!impl_->ep.verify_tls);
  if (!impl_->ep.ca_file.empty()) opt.cainfo(impl_->ep.ca_file);
  impl_->transport.reset(new xmlrpc_c::clientXmlTransport_curl(opt));
  impl_->client.reset(new xmlrpc_c::client_xml(impl_->transport.get()));
  impl_->carriage.reset(new xmlrpc_c::carriageParm_curl0(impl_->ep.url));
  if (!impl_->ep.password.empty()) {
    impl_->carriage->setUser(impl_->ep.user, impl_->ep.password);
    impl_->carriage->allowAuthBasic();
  }
}

RpcClient::~RpcClient() = default;

Status RpcClient::Call(const std::string& method, const xmlrpc_c::paramList& params,
                       xmlrpc_c::value* result) {
  try {
    xmlrpc_c::rpcPtr rpc(method, params);
    rpc->call(impl_->client.get(), impl_->carriage.get());
    if (rpc->isSuccessful()) {
      // xmlrpc_c::value refuses assignment once it holds something; rebuild
      // it in place so callers may reuse one value across calls.
      result->~value();
      new (result) xmlrpc_c::value(rpc->getResult());
      return Status::OK();
    }
    xmlrpc_c::fault f = rpc->getFault();
    return Status::Error(static_cast<int>(f.getCode()), f.getDescription());
  } catch (const girerr::error& e) {
    std::string what = e.what();
    int code = EIO;
    if (what.find("401") != std::string::npos) code = EACCES;
    else if (what.find("onnect") != std::string::npos) code = ECONNREFUSED;
    else if (what.find("imeout") != std::string::npos || what.find("timed out") != std::string::npos)
      code = ETIMEDOUT;
    return Status::Error(code, impl_->ep.url + ": " + what);
  }
}

}  // namespace vastsky
