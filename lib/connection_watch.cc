#include "lib/connection_watch.h"

namespace vastsky {

void ConnectionWatch::Opened(const void* conn, int fd, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  conns_[conn] = Entry{fd, now};
}

void ConnectionWatch::HandlerStarted(const void* conn) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(conn);
  if (it != conns_.end()) it->second.busy = true;
}

void ConnectionWatch::HandlerEnded(const void* conn, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(conn);
  if (it == conns_.end()) return;
  it->second.busy = false;
  it->second.since = now;
}

void ConnectionWatch::RequestEnded(const void* conn, Clock::time_point now) { HandlerEnded(conn, now); }

void ConnectionWatch::Closed(const void* conn) {
  std::lock_guard<std::mutex> lock(mu_);
  conns_.erase(conn);
}

size_t ConnectionWatch::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return conns_.size();
}

}  // namespace vastsky
