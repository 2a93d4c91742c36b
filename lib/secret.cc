#include "lib/secret.h"

#include <sys/stat.h>

#include <cerrno>
#include <fstream>

#include "lib/log.h"

namespace vastsky {

Status ReadSecretFile(const std::string& path, std::string* secret) {
  std::ifstream in(path);
  if (!in) return Status::Error(ENOENT, "cannot open secret file " + path);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  if (line.size() < 16)
    return Status::Error(EINVAL, "secret in " + path + " is shorter than 16 characters");
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & 077))
    VS_LOG_WARN("secret file %s is readable by group or others; chmod 600 it", path.c_str());
  *secret = line;
  return Status::OK();
}

}  // namespace vastsky
