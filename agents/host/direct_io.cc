#include "agents/host/direct_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace vastsky {

namespace {
int OpenDirect(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_DIRECT | O_CLOEXEC);
  if (fd < 0 && errno == EINVAL) fd = open(path.c_str(), flags | O_CLOEXEC);
  return fd;
}
}  // namespace

Status ReadAt(const std::string& path, uint64_t offset, size_t bytes, std::string* out) {
  int fd = OpenDirect(path, O_RDONLY);
  if (fd < 0) return Status::Error(errno, "cannot open " + path);
  void* buf = nullptr;
  if (posix_memalign(&buf, 4096, bytes) != 0) {
    close(fd);
    return Status::Error(ENOMEM, "no memory to read " + path);
  }
  const ssize_t n = pread(fd, buf, bytes, static_cast<off_t>(offset));
  const int err = errno;
  close(fd);
  if (n >= 0) out->assign(static_cast<char*>(buf), static_cast<size_t>(n));
  free(buf);
  if (n < 0) return Status::Error(err, "cannot read " + path + " at byte " + std::to_string(offset));
  out->resize(bytes, '\0');
  return Status::OK();
}

Status WriteAt(const std::string& path, uint64_t offset, const std::string& data) {
  int fd = OpenDirect(path, O_WRONLY);
  if (fd < 0) return Status::Error(errno, "cannot open " + path);
  void* buf = nullptr;
  if (posix_memalign(&buf, 4096, data.size()) != 0) {
    close(fd);
    return Status::Error(ENOMEM, "no memory to write " + path);
  }
  memcpy(buf, data.data(), data.size());
  ssize_t n = pwrite(fd, buf, data.size(), static_cast<off_t>(offset));
  int err = errno;
  free(buf);
  if (n == static_cast<ssize_t>(data.size()) && fdatasync(fd) != 0) {
    n = -1;
    err = errno;
  }
  close(fd);
  if (n != static_cast<ssize_t>(data.size()))
    return Status::Error(n < 0 ? err : EIO, "cannot write " + path + " at byte " + std::to_string(offset));
  return Status::OK();
}

}  // namespace vastsky
