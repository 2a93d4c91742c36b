// Small daemon state files (ids, ACLs, operation journals) under a state
// directory. A write replaces the file atomically (temp file, fsync, rename,
// fsync of the directory), so a crash leaves the old or the new content,
// never a torn one.
#pragma once

#include <string>
#include <vector>

#include "lib/status.h"

namespace vastsky {

// ENOENT if the file does not exist.
Status ReadStateFile(const std::string& path, std::string* content);
// mode applies to a new file (0600 for anything holding secrets).
Status WriteStateFile(const std::string& path, const std::string& content, int mode = 0600);
// Creates the directory (and parents) if missing.
Status MakeStateDir(const std::string& dir);
// The names in a directory, dot files aside; none if it cannot be read.
std::vector<std::string> DirEntries(const std::string& dir);

}  // namespace vastsky
