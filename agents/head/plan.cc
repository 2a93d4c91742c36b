#include "agents/head/plan.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "lib/log.h"

namespace vastsky {

int Plan::Add(std::string name, std::vector<int> deps, Fn run, Fn undo) {
  steps_.push_back({std::move(name), std::move(deps), std::move(run), std::move(undo)});
  return static_cast<int>(steps_.size()) - 1;
}

Status Plan::Run(int parallel) {
  enum State { kWaiting, kRunning, kDone };
  const size_t n = steps_.size();
  std::vector<State> state(n, kWaiting);
  std::vector<int> completed;  // in completion order
  std::vector<std::thread> threads;
  std::mutex mu;
  std::condition_variable cv;
  Status failure;
  int running = 0;

  std::unique_lock<std::mutex> lock(mu);
  for (;;) {
    bool all_done = true;
    for (size_t i = 0; i < n && failure.ok() && running < parallel; ++i) {
      if (state[i] != kWaiting) continue;
      bool ready = true;
      for (int d : steps_[i].deps) ready &= state[d] == kDone;
      if (!ready) continue;
      state[i] = kRunning;
      ++running;
      threads.emplace_back([&, i] {
        Status st = steps_[i].run();
        std::lock_guard<std::mutex> l(mu);
        --running;
        if (st.ok()) {
          state[i] = kDone;
          completed.push_back(static_cast<int>(i));
        } else {
          state[i] = kDone;  // nothing to undo for it: a failed step leaves nothing (its own contract)
          if (failure.ok()) failure = Status::Error(st.code(), steps_[i].name + ": " + st.message());
        }
        cv.notify_all();
      });
    }
    for (size_t i = 0; i < n; ++i) all_done &= state[i] == kDone;
    if ((all_done || !failure.ok()) && running == 0) break;
    if (running == 0) {  // nothing runnable and nothing running: a dependency cycle
      failure = Status::Internal("plan has a dependency cycle");
      break;
    }
    cv.wait(lock);
  }
  lock.unlock();
  for (std::thread& t : threads) t.join();
  if (failure.ok()) return failure;
  for (auto it = completed.rbegin(); it != completed.rend(); ++it) {
    const Step& s = steps_[*it];
    if (!s.undo) continue;
    Status st = s.undo();
    if (!st.ok()) VS_LOG_ERROR("undo of '%s' failed: %s", s.name.c_str(), st.ToString().c_str());
  }
  return failure;
}

}  // namespace vastsky
