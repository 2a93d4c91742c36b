#include "lib/rpc_client.h"

#include <xmlrpc-c/client.hpp>
#include <xmlrpc-c/girerr.hpp>
#include <xmlrpc-c/util.h>

#include <arpa/inet.h>
#include <curl/curl.h>

#include <cerrno>
#include <memory>
#include <new>

namespace vastsky {

void RaiseXmlSizeLimit() { xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, 256u << 20); }

std::string TransportWords(const std::string& message, const std::string& url) {
  std::string d = message.compare(0, url.size() + 2, url + ": ") == 0 ? message.substr(url.size() + 2) : message;
  for (const std::string& noise : {std::string("explaining:"), std::string("get XML response back.")}) {
    size_t m = d.find(noise);
    if (m != std::string::npos) d = d.substr(m + noise.size());
  }
  size_t b = d.find_first_not_of(' ');
  return b == std::string::npos ? "" : d.substr(b);
}

namespace {

bool LoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  return bracketed && inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &v6) == 1 &&
         IN6_IS_ADDR_LOOPBACK(&v6);
}

// One part of a parsed URL; "" when absent.
std::string UrlPart(CURLU* u, CURLUPart part) {
  char* text = nullptr;
  if (curl_url_get(u, part, &text, 0) != CURLUE_OK || !text) return "";
  std::string out = text;
  curl_free(text);
  return out;
}

}  // namespace

Status CheckCallUrl(const std::string& setting, const std::string& url) {
  std::unique_ptr<CURLU, void (*)(CURLU*)> u(curl_url(), curl_url_cleanup);
  if (!u) return Status::Error(ENOMEM, "cannot parse " + setting + " '" + url + "': out of memory");
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK)
    return Status::Error(EINVAL, setting + " '" + url + "' is not a URL");
  // The URL itself is not repeated: it holds a secret that a log must not.
  if (!UrlPart(u.get(), CURLUPART_USER).empty() || !UrlPart(u.get(), CURLUPART_PASSWORD).empty())
    return Status::Error(EINVAL, setting + " carries a user or password (user:password@host): a URL shows in ps and "
                                           "in logs, so credentials go in a secret file, never in a URL");
  const std::string scheme = UrlPart(u.get(), CURLUPART_SCHEME), host = UrlPart(u.get(), CURLUPART_HOST);
  if (scheme == "https") return Status::OK();
  if (scheme != "http") return Status::Error(EINVAL, setting + " '" + url + "' must start with https:// (or http:// to a loopback address)");
  if (LoopbackHost(host)) return Status::OK();
  return Status::Error(EINVAL, setting + " '" + url + "' is plain HTTP to " + host +
                                   ", which is not a loopback address: use https:// so the cluster secret is not "
                                   "sent in the clear");
}

struct RpcClient::Impl {
  RpcEndpoint ep;
  Status url_ok;
  std::unique_ptr<xmlrpc_c::clientXmlTransport_curl> transport;
  std::unique_ptr<xmlrpc_c::client_xml> client;
  std::unique_ptr<xmlrpc_c::carriageParm_curl0> carriage;
};

RpcClient::RpcClient(RpcEndpoint ep) : impl_(new Impl) {
  impl_->ep = std::move(ep);
  impl_->url_ok = CheckCallUrl("url", impl_->ep.url);
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
  // Never sent: the credentials would cross the network in the clear.
  if (!impl_->url_ok.ok()) return impl_->url_ok;
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
    return Status::Error(TransportErrno(e.what()), impl_->ep.url + ": " + e.what());
  }
}

int TransportErrno(const std::string& what) {
  auto has = [&what](const char* words) { return what.find(words) != std::string::npos; };
  // Timeouts first: curl's words carry the milliseconds waited ("after
  // 1401 milliseconds"), and ports or addresses may hold "401" too, so a
  // refusal is known by xmlrpc-c's whole sentence only.
  if (has("imeout") || has("timed out")) return ETIMEDOUT;
  if (has("HTTP response code is 401,")) return EACCES;
  // A connection that broke mid-call ("Recv failure: Connection reset")
  // may have been acted on: not a refusal.
  if (has("Recv failure") || has("Send failure")) return EIO;
  if (has("onnect")) return ECONNREFUSED;
  return EIO;
}

}  // namespace vastsky
