// The per-request deadline of the HTTP front. libmicrohttpd's own timeout
// is an idle timeout: a client sending a byte every second never trips it and
// could hold a connection (and, on the manager, a thread) for hours while it
// "sends" its headers. ConnectionWatch bounds the whole request instead: from
// a connection's accept, or from the end of its previous request, the next
// request's headers and body must have arrived, and its answer have been
// taken, within `deadline`. While a handler runs the clock stops: a slow
// call (the manager waiting on an agent) is the server's doing, not the
// client's. Sweep() names the connections past their deadline; the caller
// shuts their sockets down, which libmicrohttpd sees as the client leaving.
// Thread-safe: libmicrohttpd's threads report, one sweeper thread sweeps.
#pragma once

#include <chrono>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace vastsky {

class ConnectionWatch {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ConnectionWatch(Clock::duration deadline) : deadline_(deadline) {}

  // A connection opened on socket `fd`; its first request's clock starts.
  void Opened(const void* conn, int fd, Clock::time_point now);
  // Its handler started (clock stopped) or ended (clock restarts: the
  // answer must be taken within the deadline too).
  void HandlerStarted(const void* conn);
  void HandlerEnded(const void* conn, Clock::time_point now);
  // A request finished: the next one's clock starts.
  void RequestEnded(const void* conn, Clock::time_point now);
  // Forgotten before libmicrohttpd closes the socket, so Sweep never names a
  // descriptor that has been closed and perhaps reused.
  void Closed(const void* conn);

  // Calls cut(fd) for each connection past its deadline, at most once per
  // connection, holding the lock (so Closed waits: the fd is still open).
  // Returns how many were cut.
  template <typename Cut>
  size_t Sweep(Clock::time_point now, Cut cut) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (auto& [conn, e] : conns_) {
      if (e.busy || e.cut || now - e.since <= deadline_) continue;
      e.cut = true;
      cut(e.fd);
      ++n;
    }
    return n;
  }
  size_t size() const;

 private:
  struct Entry {
    int fd;
    Clock::time_point since;
    bool busy = false;
    bool cut = false;
  };
  const Clock::duration deadline_;
  mutable std::mutex mu_;
  std::unordered_map<const void*, Entry> conns_;
};

}  // namespace vastsky
