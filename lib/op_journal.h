// The agents' operation journal: the manager names every request with an
// operation id (opid) and may repeat it (after a timeout, or when it resumes
// after a restart). A finished opid is recorded with its method; a repeat
// gets the recorded result without acting again. Only successes are
// recorded: a failed operation did not finish, so a repeat acts again.
// Bounded: the oldest entries are dropped beyond `capacity`. Persisted in
// one state file so a restarted agent still knows what it did.
// Not thread-safe: the agents' handlers that use it run serialised
// (RpcService::Add), on one RPC thread at a time.
#pragma once

#include <deque>
#include <string>

#include "lib/status.h"

namespace vastsky {

class OpJournal {
 public:
  // Loads the journal (a missing file is an empty journal).
  Status Open(const std::string& path, size_t capacity = 4096);
  // True if opid finished; EINVAL in *conflict if it finished as another
  // method (the manager reused an id: refuse rather than guess).
  bool Finished(const std::string& opid, const std::string& method, Status* conflict) const;
  Status Record(const std::string& opid, const std::string& method);

 private:
  std::string path_;
  size_t capacity_ = 4096;
  std::deque<std::pair<std::string, std::string>> entries_;  // (opid, method), oldest first
};

// 1..128 printable characters without whitespace; EINVAL otherwise.
Status CheckOpId(const std::string& opid);

}  // namespace vastsky
