#include "lib/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "lib/log.h"
#include "lib/secret.h"

namespace vastsky {

struct HttpServer::Request {
  Caller caller;
  std::string body;
  bool too_big = false;
};

namespace {

Status ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return Status::Error(ENOENT, "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return Status::OK();
}

bool IsLoopback(const sockaddr* sa) {
  if (sa->sa_family == AF_INET)
    return (ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr) >> 24) == 127;
  if (sa->sa_family == AF_INET6) return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
  return false;
}

int Reply(MHD_Connection* c, unsigned status, const std::string& body, const char* type) {
  MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", type);
  int ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

int NotAllowed(MHD_Connection* c, const char* allow) {
  MHD_Response* r = MHD_create_response_from_buffer(0, nullptr, MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(r, "Allow", allow);
  int ret = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
  MHD_destroy_response(r);
  return ret;
}

void MhdLog(void*, const char* fmt, va_list ap) {
  char buf[512];
  vsnprintf(buf, sizeof buf, fmt, ap);
  size_t n = strlen(buf);
  while (n > 0 && buf[n - 1] == '\n') buf[--n] = 0;
  VS_LOG_WARN("http: %s", buf);
}

MHD_Result Dispatch(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                    const char* data, size_t* size, void** con_cls) {
  return static_cast<MHD_Result>(static_cast<HttpServer*>(cls)->OnRequest(c, url, method, data, size, con_cls));
}

void OnComplete(void* cls, MHD_Connection* c, void** con_cls, MHD_RequestTerminationCode) {
  delete static_cast<HttpServer::Request*>(*con_cls);
  *con_cls = nullptr;
  static_cast<HttpServer*>(cls)->watch()->RequestEnded(c, ConnectionWatch::Clock::now());
}

void OnConnection(void* cls, MHD_Connection* c, void**, MHD_ConnectionNotificationCode code) {
  ConnectionWatch* watch = static_cast<HttpServer*>(cls)->watch();
  if (code == MHD_CONNECTION_NOTIFY_CLOSED) return watch->Closed(c);
  const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (info) watch->Opened(c, info->connect_fd, ConnectionWatch::Clock::now());
}

// The clock of a request stops while its handler runs (see ConnectionWatch).
class HandlerRunning {
 public:
  HandlerRunning(ConnectionWatch* w, MHD_Connection* c) : w_(w), c_(c) { w_->HandlerStarted(c_); }
  ~HandlerRunning() { w_->HandlerEnded(c_, ConnectionWatch::Clock::now()); }
 private:
  ConnectionWatch* w_;
  MHD_Connection* c_;
};

}  // namespace

Status ParseListen(const std::string& listen, std::string* host, int* port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size())
    return Status::Error(EINVAL, "listen address '" + listen + "' is not HOST:PORT");
  *host = listen.substr(0, colon);
  if (host->size() >= 2 && (*host)[0] == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  std::string p = listen.substr(colon + 1);
  if (p.find_first_not_of("0123456789") != std::string::npos || p.size() > 5 || std::stoi(p) > 65535)
    return Status::Error(EINVAL, "port in '" + listen + "' must be 0 to 65535");
  *port = std::stoi(p);
  if (host->empty()) return Status::Error(EINVAL, "listen address '" + listen + "' has no host");
  return Status::OK();
}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start(const HttpOptions& options, Handler handler) {
  options_ = options;
  handler_ = std::move(handler);
  return Listen("XML-RPC");
}

Status HttpServer::StartGet(const HttpOptions& options, const std::string& path, const std::string& content_type,
                            GetHandler get) {
  options_ = options;
  get_path_ = path;
  get_type_ = content_type;
  get_ = std::move(get);
  return Listen("GET " + path);
}

Status HttpServer::Listen(const std::string& what) {
  const HttpOptions& options = options_;
  std::string host;
  VS_RETURN_IF_ERROR(ParseListen(options.listen, &host, &port_));
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  if (getaddrinfo(host.c_str(), std::to_string(port_).c_str(), &hints, &res) != 0 || !res)
    return Status::Error(EINVAL, "cannot resolve listen address '" + host + "'");
  sockaddr_storage addr{};
  memcpy(&addr, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  const bool tls = !options.tls_cert.empty();
  if (tls != !options.tls_key.empty()) return Status::Error(EINVAL, "give both --tls-cert and --tls-key, or neither");
  if (!tls && !IsLoopback(reinterpret_cast<sockaddr*>(&addr)))
    return Status::Error(EINVAL, "refusing plain HTTP on " + options.listen +
                                     ": give --tls-cert and --tls-key, or listen on a loopback address");
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
                   (options.thread_per_connection ? MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL : MHD_USE_EPOLL);
  if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  if (tls) {
    VS_RETURN_IF_ERROR(ReadFile(options.tls_cert, &cert_pem_));
    VS_RETURN_IF_ERROR(ReadFile(options.tls_key, &key_pem_));
    flags |= MHD_USE_TLS;
  }
  std::vector<MHD_OptionItem> ops = {
      {MHD_OPTION_EXTERNAL_LOGGER, reinterpret_cast<intptr_t>(&MhdLog), nullptr},  // must come first
      {MHD_OPTION_SOCK_ADDR, 0, &addr},
      {MHD_OPTION_CONNECTION_TIMEOUT, options.timeout_s, nullptr},
      {MHD_OPTION_CONNECTION_LIMIT, ConnectionLimit(), nullptr},
      {MHD_OPTION_PER_IP_CONNECTION_LIMIT, options.per_ip_connections, nullptr},
      {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&OnComplete), this},
      {MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&OnConnection), this},
  };
  // A thread pool and thread-per-connection exclude each other.
  if (!options.thread_per_connection) ops.push_back({MHD_OPTION_THREAD_POOL_SIZE, options.threads, nullptr});
  if (tls) {
    ops.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char*>(cert_pem_.c_str())});
    ops.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(key_pem_.c_str())});
  }
  ops.push_back({MHD_OPTION_END, 0, nullptr});
  watch_.reset(new ConnectionWatch(std::chrono::seconds(options.request_deadline_s)));
  daemon_ = MHD_start_daemon(flags | MHD_USE_ERROR_LOG, static_cast<uint16_t>(port_), nullptr, nullptr,
                             &Dispatch, this,
                             MHD_OPTION_ARRAY, ops.data(), MHD_OPTION_END);
  if (!daemon_)
    return Status::Error(EADDRINUSE, "cannot listen on " + options.listen + " (address in use, or bad TLS key/cert)");
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  if (info) port_ = info->port;
  stopping_ = false;
  sweeper_ = std::thread([this] { SweepLoop(); });
  VS_LOG_INFO("serving %s on %s://%s:%d%s", what.c_str(), tls ? "https" : "http", host.c_str(), port_,
              get_ ? get_path_.c_str() : "/RPC2");
  return Status::OK();
}

void HttpServer::Stop() {
  if (sweeper_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(sweep_mu_);
      stopping_ = true;
    }
    sweep_cv_.notify_all();
    sweeper_.join();
  }
  if (daemon_) MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
}

unsigned HttpServer::ConnectionLimit() const {
  // Descriptors beyond the connections: the listening socket, the database,
  // logs, calls out to agents.
  const rlim_t kReserve = 64;
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) != 0 || nofile.rlim_cur == RLIM_INFINITY ||
      nofile.rlim_cur >= options_.max_connections + kReserve)
    return options_.max_connections;
  const unsigned limit = nofile.rlim_cur > 2 * kReserve ? static_cast<unsigned>(nofile.rlim_cur - kReserve) : kReserve;
  VS_LOG_WARN("open-file limit %llu allows %u connections, not %u: raise LimitNOFILE (systemd) or ulimit -n",
              static_cast<unsigned long long>(nofile.rlim_cur), limit, options_.max_connections);
  return limit;
}

void HttpServer::SweepLoop() {
  std::unique_lock<std::mutex> lock(sweep_mu_);
  while (!sweep_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) {
    // The client sees its connection end, as libmicrohttpd's idle timeout would do.
    const size_t cut = watch_->Sweep(ConnectionWatch::Clock::now(), [](int fd) { shutdown(fd, SHUT_RDWR); });
    if (cut > 0)
      VS_LOG_WARN("closed %zu connection(s) on %s that took over %u s to send a request or take its answer "
                  "(slow or stalled clients)",
                  cut, options_.listen.c_str(), options_.request_deadline_s);
  }
}


bool HttpServer::Authorized(MHD_Connection* c, int* ret, Caller* who) {
  char* pass = nullptr;
  char* user = MHD_basic_auth_get_username_password(c, &pass);
  bool ok = user && pass && options_.user == user && SameSecret(pass, options_.secret);
  if (ok) *who = Caller{options_.role, 0, "", options_.user};
  else if (user && pass && options_.authenticate) ok = options_.authenticate(user, pass, who);
  if (user) MHD_free(user);
  if (pass) MHD_free(pass);
  if (ok) return true;
  const char* body = "authentication required\n";
  MHD_Response* r = MHD_create_response_from_buffer(strlen(body), const_cast<char*>(body), MHD_RESPMEM_PERSISTENT);
  *ret = MHD_queue_basic_auth_fail_response(c, "vastsky", r);
  MHD_destroy_response(r);
  return false;
}

int HttpServer::OnGet(MHD_Connection* c, const char* url, const char* method) {
  if (get_path_ != url) return Reply(c, MHD_HTTP_NOT_FOUND, "not found\n", "text/plain");
  if (strcmp(method, "GET") != 0) return NotAllowed(c, "GET");
  int ret = MHD_NO;
  Caller who;
  if (!Authorized(c, &ret, &who)) return ret;
  std::string body;
  Status st;
  {
    HandlerRunning running(watch_.get(), c);
    st = get_(&body);
  }
  if (!st.ok()) {
    VS_LOG_ERROR("GET %s failed: %s", url, st.ToString().c_str());
    return Reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, st.ToString() + "\n", "text/plain");
  }
  return Reply(c, MHD_HTTP_OK, body, get_type_.c_str());
}

int HttpServer::OnRequest(MHD_Connection* c, const char* url, const char* method, const char* data,
                          size_t* size, void** con_cls) {
  if (get_) return OnGet(c, url, method);
  if (*con_cls == nullptr) {
    // First call, headers only: refuse early so no body is read in vain.
    if (strcmp(url, "/RPC2") != 0 && strcmp(url, "/") != 0) return Reply(c, MHD_HTTP_NOT_FOUND, "not found\n", "text/plain");
    if (strcmp(method, "POST") != 0) return NotAllowed(c, "POST");
    int ret = MHD_NO;
    Caller who;
    if (!Authorized(c, &ret, &who)) return ret;
    const char* len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (len && strtoull(len, nullptr, 10) > options_.max_body)
      return Reply(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n", "text/plain");
    *con_cls = new Request{who, "", false};
    return MHD_YES;
  }
  Request* req = static_cast<Request*>(*con_cls);
  if (*size > 0) {
    // Chunked bodies have no length up front: drop what exceeds the cap.
    if (!req->too_big && req->body.size() + *size <= options_.max_body) req->body.append(data, *size);
    else req->too_big = true;
    *size = 0;
    return MHD_YES;
  }
  if (req->too_big) return Reply(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n", "text/plain");
  std::string answer;
  {
    HandlerRunning running(watch_.get(), c);
    answer = handler_(req->caller, req->body);
  }
  return Reply(c, MHD_HTTP_OK, answer, "text/xml");
}

}  // namespace vastsky
