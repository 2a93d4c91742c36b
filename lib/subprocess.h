// Runs a program (no shell) with a deadline and captures its output. Used
// for the few kernel interfaces that have no library (open-iscsi's iscsiadm,
// tgtadm). A program still running at the deadline is killed (SIGKILL to its
// process group) and the call returns ETIMEDOUT.
#pragma once

#include <string>
#include <vector>

#include "lib/status.h"

namespace vastsky {

struct SubprocessResult {
  int exit_code = -1;  // -1 if killed or never started
  std::string output;  // stdout and stderr, interleaved, capped at 1 MiB
};

Status RunProgram(const std::vector<std::string>& argv, int timeout_ms, SubprocessResult* result);
// The same, with the program's stdout written to the file stdout_path
// (created or truncated, mode 0600) instead of captured: for a tool whose
// answer may exceed the 1 MiB cap (thin_delta); result->output then holds
// its stderr.
Status RunProgramToFile(const std::vector<std::string>& argv, int timeout_ms, const std::string& stdout_path,
                        SubprocessResult* result);

}  // namespace vastsky
