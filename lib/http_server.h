// The HTTP(S) front of the manager and the agents: libmicrohttpd with GnuTLS, HTTP Basic
// credentials (user "admin", password the cluster secret), POST on /RPC2 or
// / only, bodies capped. Plain HTTP is refused on non-loopback addresses so
// nothing listens unauthenticated-in-the-clear on a routable network.
// A server started with StartGet instead answers GET on one path only (the
// manager's /metrics), with credentials of its own: a server checks one
// user and one password, so credentials of one never open the other.
// Handlers run on libmicrohttpd's threads, several at once, each told the
// Caller its credentials make.
// Connections: credentials are checked on the headers, before any body byte
// is read; a request's headers and body must arrive within
// request_deadline_s of the connection opening or its previous answer
// (ConnectionWatch), and timeout_s of silence closes a connection; at most
// per_ip_connections from one address and max_connections in all (fewer if
// RLIMIT_NOFILE is lower), so idle or dripping clients cannot take every slot.
// Headers larger than libmicrohttpd's 32 KiB per-connection pool are refused
// by libmicrohttpd itself.
#pragma once

#include <cstddef>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "lib/caller.h"
#include "lib/connection_watch.h"
#include "lib/status.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace vastsky {

struct HttpOptions {
  std::string listen;     // "127.0.0.1:8881", "[::1]:8881", "0.0.0.0:8881"
  std::string user = "admin";  // the HTTP Basic user; secret is its password
  std::string secret;
  Role role = Role::kAdmin;    // the caller user and secret make
  // Further identities: true (and *who) for credentials it knows. Called on
  // the request threads, several at once: it must be thread-safe. user and
  // secret above are checked first and make a caller of `role`.
  std::function<bool(const std::string& user, const std::string& password, Caller* who)> authenticate;
  std::string tls_cert;   // PEM file; empty means plain HTTP (loopback only)
  std::string tls_key;
  size_t max_body = 8u << 20;
  unsigned threads = 4;
  // One thread per connection instead of a pool of `threads`: for a server
  // whose handlers may block for long (the manager waiting on an agent), so
  // a slow call stalls only its own client, never the connections a pool
  // thread would also be serving.
  bool thread_per_connection = false;
  unsigned timeout_s = 10;           // silence this long closes a connection
  unsigned request_deadline_s = 30;  // a request's headers + body, its answer taken
  unsigned max_connections = 4096;
  unsigned per_ip_connections = 128;
};

class HttpServer {
 public:
  using Handler = std::function<std::string(const Caller& caller, const std::string& body)>;

  ~HttpServer();
  Status Start(const HttpOptions& options, Handler handler);
  // GET on `path` answers get()'s body with `content_type` (a failure: 500
  // with its message); other paths 404, other methods 405. No request body
  // is read.
  using GetHandler = std::function<Status(std::string* body)>;
  Status StartGet(const HttpOptions& options, const std::string& path, const std::string& content_type,
                  GetHandler get);
  void Stop();
  int port() const { return port_; }

  // Internal: libmicrohttpd's callback lands here (returns an MHD_Result).
  struct Request;
  int OnRequest(MHD_Connection* c, const char* url, const char* method, const char* data, size_t* size,
                void** con_cls);
  ConnectionWatch* watch() { return watch_.get(); }

 private:
  // Listens with options_; `what` names the service in the log line.
  Status Listen(const std::string& what);
  // The credentials carry options_.user and options_.secret, or ones
  // options_.authenticate knows (*who: the caller they make); else queues a
  // 401.
  bool Authorized(MHD_Connection* c, int* ret, Caller* who);
  int OnGet(MHD_Connection* c, const char* url, const char* method);
  // RLIMIT_NOFILE permitting, options_.max_connections.
  unsigned ConnectionLimit() const;
  // Every second, shuts down connections past their request deadline.
  void SweepLoop();

  HttpOptions options_;
  Handler handler_;
  std::string get_path_, get_type_;
  GetHandler get_;
  std::string cert_pem_, key_pem_;
  MHD_Daemon* daemon_ = nullptr;
  std::unique_ptr<ConnectionWatch> watch_;
  std::thread sweeper_;
  std::mutex sweep_mu_;
  std::condition_variable sweep_cv_;
  bool stopping_ = false;
  int port_ = 0;
};

// Splits "host:port" / "[v6]:port"; EINVAL if malformed.
Status ParseListen(const std::string& listen, std::string* host, int* port);

}  // namespace vastsky
