// MarkedIds: servers one thread marks (an API call that must not wait) for
// another to work on (the recovery loop). Take() hands over what is marked;
// work that failed is marked again for the next pass. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>

namespace vastsky {

class MarkedIds {
 public:
  void Mark(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    ids_.insert(id);
  }
  std::set<int64_t> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    std::set<int64_t> out;
    out.swap(ids_);
    return out;
  }

 private:
  std::mutex mu_;
  std::set<int64_t> ids_;
};

}  // namespace vastsky
