// The HTTP front's connection limits (lib/http_server.h, lib/connection_watch.h)
// and the refusal of plain HTTP to a network address (lib/rpc_client.h,
// CheckCallUrl), against a real HttpServer on loopback.
#include <cppunit/extensions/HelperMacros.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "agents/common/agent_settings.h"
#include "lib/connection_watch.h"
#include "lib/http_server.h"
#include "lib/rpc_client.h"

using namespace vastsky;
using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

namespace {

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// What the server sends until it closes, or `wait` has passed.
std::string ReadAll(int fd, Clock::duration wait) {
  std::string out;
  const auto end = Clock::now() + wait;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) return out;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

bool Open(int fd) {
  pollfd p{fd, POLLIN, 0};
  char c;
  return poll(&p, 1, 0) == 0 || recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

const char kGoodAuth[] = "Authorization: Basic YWRtaW46czNjcmV0\r\n";  // admin:s3cret

}  // namespace

class HttpServerTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(HttpServerTest);
  CPPUNIT_TEST(testWatchCutsOnlyOverdueIdleRequests);
  CPPUNIT_TEST(testPlainHttpOnlyToLoopback);
  CPPUNIT_TEST(testSettingsRefusePlainHttpToNetwork);
  CPPUNIT_TEST(testWrongCredentialsRefusedBeforeBody);
  CPPUNIT_TEST(testDrippingHeadersCutAtDeadline);
  CPPUNIT_TEST(testSlowHandlerNotCut);
  CPPUNIT_TEST_SUITE_END();

  HttpOptions Options(unsigned idle_s, unsigned deadline_s) {
    HttpOptions o;
    o.listen = "127.0.0.1:0";
    o.secret = "s3cret";
    o.threads = 2;
    o.timeout_s = idle_s;
    o.request_deadline_s = deadline_s;
    return o;
  }

 public:
  // lib/connection_watch.h: "While a handler runs the clock stops", and a
  // request's clock starts at accept or at the end of the previous one.
  void testWatchCutsOnlyOverdueIdleRequests() {
    ConnectionWatch w(seconds(30));
    const auto t0 = Clock::now();
    int a = 1, b = 2, c = 3;
    w.Opened(&a, 10, t0);
    w.Opened(&b, 11, t0);
    w.Opened(&c, 12, t0);
    w.HandlerStarted(&b);                  // b: a slow call, never cut
    w.RequestEnded(&c, t0 + seconds(20));  // c: answered, its next request's clock restarts
    std::vector<int> cut;
    auto record = [&](int fd) { cut.push_back(fd); };
    CPPUNIT_ASSERT_EQUAL(size_t(0), w.Sweep(t0 + seconds(30), record));
    CPPUNIT_ASSERT_EQUAL(size_t(1), w.Sweep(t0 + seconds(31), record));
    CPPUNIT_ASSERT(cut == std::vector<int>{10});
    CPPUNIT_ASSERT_EQUAL(size_t(0), w.Sweep(t0 + seconds(32), record));  // once per connection
    CPPUNIT_ASSERT_EQUAL(size_t(1), w.Sweep(t0 + seconds(51), record));  // c's deadline, 20 + 30 s
    CPPUNIT_ASSERT_EQUAL(12, cut.back());
    w.HandlerEnded(&b, t0 + seconds(100));
    CPPUNIT_ASSERT_EQUAL(size_t(0), w.Sweep(t0 + seconds(130), record));
    CPPUNIT_ASSERT_EQUAL(size_t(1), w.Sweep(t0 + seconds(131), record));  // b's answer not taken in time
    CPPUNIT_ASSERT_EQUAL(11, cut.back());
    w.Closed(&a);
    w.Closed(&b);
    w.Closed(&c);
    CPPUNIT_ASSERT_EQUAL(size_t(0), w.size());
  }

  // lib/rpc_client.h: "https://, or http:// only to a loopback host".
  void testPlainHttpOnlyToLoopback() {
    for (const char* ok : {"https://10.0.0.5:8881/RPC2", "https://manager.example/RPC2", "http://127.0.0.1:8881/RPC2",
                           "http://127.9.8.7:1/", "http://[::1]:8881/RPC2", "http://localhost:8881/RPC2",
                           "HTTP://127.0.0.1:1/", "HTTPS://[2001:db8::1]:8881/RPC2"})
      CPPUNIT_ASSERT_MESSAGE(ok, CheckCallUrl("manager", ok).ok());
    for (const char* bad : {"http://10.0.0.5:8881/RPC2", "http://manager.example/RPC2", "http://[2001:db8::1]:1/",
                            "http://[::ffff:10.0.0.1]:1/", "http://128.0.0.1:1/", "http://0.0.0.0:1/",
                            "http://127.0.0.1.example/", "ftp://127.0.0.1/", "127.0.0.1:8881", ""}) {
      const Status st = CheckCallUrl("manager", bad);
      CPPUNIT_ASSERT_MESSAGE(bad, st.code() == EINVAL);
      CPPUNIT_ASSERT_MESSAGE(st.message(), st.message().compare(0, 8, "manager ") == 0);
    }
    // issue 15: "no command takes a password inside a URL"; the refusal
    // does not repeat it.
    for (const char* secret : {"https://admin:s3cret-pw@10.0.0.5:8881/RPC2", "http://admin:s3cret-pw@127.0.0.1:1/",
                               "https://s3cret-pw@manager.example/RPC2"}) {
      const Status st = CheckCallUrl("manager", secret);
      CPPUNIT_ASSERT_MESSAGE(secret, st.code() == EINVAL);
      CPPUNIT_ASSERT_MESSAGE(st.message(), st.message().find("s3cret-pw") == std::string::npos);
      CPPUNIT_ASSERT_MESSAGE(st.message(), st.message().find("password") != std::string::npos);
    }
    // The client itself refuses, before anything is sent.
    RpcEndpoint ep;
    ep.url = "http://10.255.255.1:8881/RPC2";
    ep.password = "s3cret";
    RpcClient client(ep);
    xmlrpc_c::value v;
    CPPUNIT_ASSERT_EQUAL(EINVAL, client.Call("status", xmlrpc_c::paramList(), &v).code());
  }

  // agents/common/agent_settings.h: each manager URL and the agent's own URL.
  void testSettingsRefusePlainHttpToNetwork() {
    auto check = [](const std::string& manager, const std::string& url, const std::string& listen) {
      AgentSettings s;
      s.manager = manager;
      s.url = url;
      s.data_ip = "10.0.0.7";
      s.serve.listen = listen;
      return s.Check();
    };
    CPPUNIT_ASSERT(check("http://127.0.0.1:8881/RPC2", "", "127.0.0.1:8882").ok());
    Status st = check("https://10.0.0.1:8881/RPC2,http://10.0.0.2:8881/RPC2", "", "127.0.0.1:8882");
    CPPUNIT_ASSERT_EQUAL(EINVAL, st.code());
    CPPUNIT_ASSERT(st.message().find("manager 'http://10.0.0.2:8881/RPC2'") == 0);
    st = check("https://10.0.0.1:8881/RPC2", "http://10.0.0.7:8882/RPC2", "127.0.0.1:8882");
    CPPUNIT_ASSERT_EQUAL(EINVAL, st.code());
    CPPUNIT_ASSERT(st.message().find("url 'http://10.0.0.7:8882/RPC2'") == 0);
    st = check("https://10.0.0.1:8881/RPC2", "", "0.0.0.0:8882");  // no TLS: built as http://10.0.0.7
    CPPUNIT_ASSERT_EQUAL(EINVAL, st.code());
    CPPUNIT_ASSERT(st.message().find("url (built from listen)") == 0);
  }

  // lib/http_server.h: "credentials are checked on the headers, before any
  // body byte is read": a huge announced body, wrong credentials, 401 at once.
  void testWrongCredentialsRefusedBeforeBody() {
    HttpServer server;
    CPPUNIT_ASSERT(server.Start(Options(10, 30), [](const Caller&, const std::string&) { return std::string("<ok/>"); }).ok());
    int fd = Connect(server.port());
    const std::string head = "POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n"
                             "Authorization: Basic YWRtaW46d3Jvbmc=\r\n\r\n";  // admin:wrong
    CPPUNIT_ASSERT_EQUAL(static_cast<ssize_t>(head.size()), send(fd, head.data(), head.size(), 0));
    const auto t0 = Clock::now();
    const std::string answer = ReadAll(fd, seconds(5));
    CPPUNIT_ASSERT_MESSAGE(answer, answer.compare(0, 12, "HTTP/1.1 401") == 0);
    CPPUNIT_ASSERT(Clock::now() - t0 < seconds(2));
    close(fd);
  }

  // lib/http_server.h: "a request's headers and body must arrive within
  // request_deadline_s": a byte a second resets the idle timeout, not this.
  void testDrippingHeadersCutAtDeadline() {
    HttpServer server;
    CPPUNIT_ASSERT(server.Start(Options(2, 3), [](const Caller&, const std::string&) { return std::string("<ok/>"); }).ok());
    int fd = Connect(server.port());
    const std::string head = std::string("POST /RPC2 HTTP/1.1\r\nHost: x\r\n") + kGoodAuth + "X-Pad: ";
    const auto t0 = Clock::now();
    size_t sent = 0;
    while (Clock::now() - t0 < seconds(8) && Open(fd)) {
      const char c = sent < head.size() ? head[sent] : 'a';
      if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) break;
      ++sent;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    const auto lasted = Clock::now() - t0;
    CPPUNIT_ASSERT_MESSAGE(std::to_string(sent) + " bytes", lasted >= seconds(3) && lasted < seconds(6));
    close(fd);
  }

  // The idle timeout and the deadline never cut a handler that takes long.
  void testSlowHandlerNotCut() {
    HttpServer server;
    HttpOptions o = Options(1, 1);
    o.thread_per_connection = true;
    CPPUNIT_ASSERT(server.Start(o, [](const Caller&, const std::string&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(3500));
      return std::string("<slow/>");
    }).ok());
    int fd = Connect(server.port());
    const std::string req = std::string("POST /RPC2 HTTP/1.1\r\nHost: x\r\n") + kGoodAuth + "Content-Length: 4\r\n\r\nbody";
    CPPUNIT_ASSERT_EQUAL(static_cast<ssize_t>(req.size()), send(fd, req.data(), req.size(), 0));
    const std::string answer = ReadAll(fd, seconds(8));
    CPPUNIT_ASSERT_MESSAGE(answer, answer.compare(0, 12, "HTTP/1.1 200") == 0);
    CPPUNIT_ASSERT(answer.find("<slow/>") != std::string::npos);
    close(fd);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(HttpServerTest);
