// A scratch directory with a database path in it, removed with everything
// in it when the TempDb goes. On tmpfs where there is one: Store tests
// commit thousands of times, and an fsync to a disk for each makes them
// slow without testing anything more.
#pragma once

#include <stdlib.h>

#include <string>

namespace vastsky {

struct TempDb {
  std::string dir, path;
  TempDb() {
    char shm[] = "/dev/shm/vastsky-unit-XXXXXX", tmp[] = "/tmp/vastsky-unit-XXXXXX";
    const char* made = mkdtemp(shm);
    dir = made ? made : mkdtemp(tmp);
    path = dir + "/state.db";
  }
  ~TempDb() { (void)system(("rm -rf " + dir).c_str()); }
  TempDb(const TempDb&) = delete;
  TempDb& operator=(const TempDb&) = delete;
};

}  // namespace vastsky
