#include "agents/host/disk_size.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vastsky {

Status DiskSectors(const std::string& path, int64_t* sectors) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Status::Error(errno, "disk " + path + ": " + strerror(errno));
  if (S_ISREG(st.st_mode)) {
    *sectors = st.st_size / 512;
    return Status::OK();
  }
  if (!S_ISBLK(st.st_mode)) return Status::Error(EINVAL, "disk " + path + " is neither a block device nor a file");
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Error(errno, "open " + path + ": " + strerror(errno));
  uint64_t bytes = 0;
  int rc = ioctl(fd, BLKGETSIZE64, &bytes);
  int err = errno;
  close(fd);
  if (rc != 0) return Status::Error(err, "BLKGETSIZE64 on " + path + ": " + strerror(err));
  *sectors = static_cast<int64_t>(bytes / 512);
  return Status::OK();
}

}  // namespace vastsky
