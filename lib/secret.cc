#include "lib/secret.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
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

Status ReadCredentialFile(const std::string& path, std::string* user, std::string* secret) {
  std::string line;
  VS_RETURN_IF_ERROR(ReadSecretFile(path, &line));
  const size_t space = line.find(' ');
  if (space == std::string::npos || space == 0 || line.find_first_of(" \t", space + 1) != std::string::npos ||
      line.size() - space - 1 < 16)
    return Status::Error(EINVAL, "credential file " + path + " must hold one line: USER SECRET");
  *user = line.substr(0, space);
  *secret = line.substr(space + 1);
  return Status::OK();
}

Status RandomString(size_t n, const std::string& alphabet, std::string* out) {
  if (alphabet.empty() || alphabet.size() > 256) return Status::Internal("RandomString: bad alphabet");
  FILE* f = fopen("/dev/urandom", "rb");
  if (!f) return Status::Error(EIO, "cannot open /dev/urandom");
  // Bytes at or above the largest multiple of the alphabet's size are
  // dropped, so every character is equally likely (no modulo bias).
  const unsigned limit = 256 - 256 % alphabet.size();
  out->clear();
  unsigned char buf[64];
  while (out->size() < n) {
    if (fread(buf, 1, sizeof buf, f) != sizeof buf) {
      fclose(f);
      return Status::Error(EIO, "cannot read /dev/urandom");
    }
    for (unsigned char b : buf)
      if (b < limit && out->size() < n) out->push_back(alphabet[b % alphabet.size()]);
  }
  fclose(f);
  return Status::OK();
}

bool SameSecret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() != b.size();
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace vastsky
