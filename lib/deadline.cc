#include "lib/deadline.h"

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "lib/log.h"

namespace vastsky {

Status RunWithDeadline(int timeout_ms, const std::string& what, std::function<Status()> fn) {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Status result;
  };
  auto shared = std::make_shared<Shared>();
  std::thread([shared, fn = std::move(fn)] {
    Status st = fn();
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->result = st;
    shared->done = true;
    shared->cv.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lock(shared->mu);
  if (!shared->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return shared->done; })) {
    VS_LOG_ERROR("%s did not return within %d ms; left running (see the kernel log for a blocked task)",
                 what.c_str(), timeout_ms);
    return Status::Error(ETIMEDOUT, what + " did not return within " + std::to_string(timeout_ms / 1000) + " s");
  }
  return shared->result;
}

}  // namespace vastsky
