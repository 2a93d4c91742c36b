// The manager under test as a child of the benchmark, so the benchmark can
// time its restart from exec and reap it. The child gets SIGTERM if the
// benchmark dies, so a crashed run leaves no daemon behind.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "lib/status.h"

namespace vastsky {
namespace bench {

class ManagerProcess {
 public:
  // argv[0] is the binary; stdout and stderr go (appended) to log_path.
  ManagerProcess(std::vector<std::string> argv, std::string log_path)
      : argv_(std::move(argv)), log_path_(std::move(log_path)) {}
  ~ManagerProcess();

  Status Start();
  // False once the child has exited (it is then reaped; see exit_status()).
  bool Alive();
  // SIGTERM, then waits up to timeout_s. EIO if it exits non-zero or not at
  // all (then it is killed).
  Status Stop(double timeout_s);
  pid_t pid() const { return pid_; }
  // VmHWM of the running child in KiB; -1 if unreadable.
  long PeakRssKib() const;
  std::string ExitDescription() const;

 private:
  std::vector<std::string> argv_;
  std::string log_path_;
  pid_t pid_ = -1;
  int wait_status_ = 0;
};

}  // namespace bench
}  // namespace vastsky
