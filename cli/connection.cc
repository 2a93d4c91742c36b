#include "cli/connection.h"

#include <cerrno>
#include <cstdlib>

#include "lib/ini.h"
#include "lib/secret.h"
#include "lib/version.h"

namespace vastsky {
namespace cli {

namespace {
const char kDefaultConfigFile[] = "/etc/vastsky/vastsky.conf";
const char kDefaultManager[] = "http://127.0.0.1:8881/RPC2";
const char kDefaultSecretFile[] = "/etc/vastsky/secret";

std::string Env(const char* name) {
  const char* v = getenv(name);
  return v == nullptr ? "" : v;
}

std::string FirstOf(std::initializer_list<std::string> candidates) {
  for (const std::string& c : candidates)
    if (!c.empty()) return c;
  return "";
}

// Moves "user:password@" out of the URL so it never shows in messages.
bool TakeCredentials(std::string* url, std::string* user, std::string* password) {
  size_t start = url->find("://");
  if (start == std::string::npos) return false;
  start += 3;
  size_t end = url->find('/', start);
  size_t at = url->rfind('@', end == std::string::npos ? url->size() : end);
  if (at == std::string::npos || at < start) return false;
  std::string userinfo = url->substr(start, at - start);
  size_t colon = userinfo.find(':');
  *user = userinfo.substr(0, colon);
  *password = colon == std::string::npos ? "" : userinfo.substr(colon + 1);
  url->erase(start, at + 1 - start);
  return true;
}

// The part of a curl/xmlrpc-c error that says what went wrong, plus what to
// do about the one failure admins meet most: a certificate not trusted.
std::string TransportDetail(const std::string& msg, const std::string& url) {
  std::string d = TransportWords(msg, url);
  if (d.find("certificate") != std::string::npos)
    d += " (name the manager's CA with --ca-file, or skip the check with --insecure)";
  return d;
}
}  // namespace

Status ResolveEndpoint(const ConnectionFlags& flags, RpcEndpoint* ep) {
  IniFile config;
  std::string config_path = flags.config.empty() ? kDefaultConfigFile : flags.config;
  Status st = config.Load(config_path);
  if (!st.ok() && !(st.code() == ENOENT && flags.config.empty())) return st;

  ep->url = FirstOf(
      {flags.manager, Env("VASTSKY_MANAGER"), config.Get("cli", "manager"), kDefaultManager});
  ep->ca_file = FirstOf({flags.ca_file, config.Get("cli", "ca_file")});
  ep->verify_tls = !flags.insecure;
  const bool with_credentials = TakeCredentials(&ep->url, &ep->user, &ep->password);
  VS_RETURN_IF_ERROR(CheckCallUrl("manager URL", ep->url));
  if (with_credentials) return Status::OK();

  std::string secret_file = FirstOf({flags.secret_file, Env("VASTSKY_SECRET_FILE"),
                                     config.Get("cli", "secret_file"), kDefaultSecretFile});
  st = ReadSecretFile(secret_file, &ep->password);
  if (!st.ok())
    return Status::Error(
        st.code(), st.message() + " (the manager needs the cluster secret; see --secret-file)");
  return Status::OK();
}

Connection::Connection(const RpcEndpoint& ep) : url_(ep.url), client_(ep) {}

Status Connection::Call(const std::string& method, Members members, const std::string& what,
                        Json* answer) {
  members["ver"] = xmlrpc_c::value_int(kProtocolVersion);
  xmlrpc_c::paramList params;
  params.add(xmlrpc_c::value_struct(members));
  xmlrpc_c::value result;
  Status st = client_.Call(method, params, &result);
  if (st.ok()) {
    *answer = ToJson(result);
    return st;
  }
  // These codes are what RpcClient reports for the transport; the manager's
  // faults never use them.
  if (st.code() == EACCES)
    return Status::Error(st.code(), "the manager at " + url_ + " refused the credentials: " +
                                        ErrnoWords(st.code()) + "; is the secret file right?");
  if (Unreachable(st))
    return Status::Error(st.code(), "cannot reach the manager at " + url_ + ": " + ErrnoWords(st.code()) + "\n  " +
                                        TransportDetail(st.message(), url_));
  std::string sentence = what + ": " + ErrnoWords(st.code());
  if (!st.message().empty() && st.message() != ErrnoName(st.code()))
    sentence += ": " + st.message();  // a fault string that says more than the code
  return Status::Error(st.code(), sentence);
}

bool Unreachable(const Status& st) {
  return st.code() == ECONNREFUSED || st.code() == ETIMEDOUT || st.code() == EIO;
}

}  // namespace cli
}  // namespace vastsky
