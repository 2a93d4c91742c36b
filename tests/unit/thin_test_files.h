// Helpers of the thin pool tests (thin_pool_test, thin_map_test,
// thin_snap_test): files standing in for disks and devices, and the sim
// pools' status.
#pragma once

#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "agents/host/device_mapper.h"

namespace vastsky {
namespace thin_test {

constexpr char kCluster[] = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

inline void WriteFile(const std::string& path, const std::string& text, mode_t mode = 0644) {
  std::ofstream(path) << text;
  CPPUNIT_ASSERT_EQUAL(0, chmod(path.c_str(), mode));
}

inline void WriteBytes(const std::string& path, off_t offset, const std::string& bytes) {
  int fd = open(path.c_str(), O_WRONLY);
  CPPUNIT_ASSERT(fd >= 0);
  CPPUNIT_ASSERT_EQUAL(static_cast<ssize_t>(bytes.size()), pwrite(fd, bytes.data(), bytes.size(), offset));
  close(fd);
}

inline std::string ReadBytes(const std::string& path, off_t offset, size_t n) {
  std::string out(n, '\0');
  int fd = open(path.c_str(), O_RDONLY);
  CPPUNIT_ASSERT(fd >= 0);
  CPPUNIT_ASSERT_EQUAL(static_cast<ssize_t>(n), pread(fd, &out[0], n, offset));
  close(fd);
  return out;
}

// The held metadata root of a pool's status line (dm-thin's): "-" when no
// snapshot is held.
inline std::string HeldRoot(DeviceMapper* dm, const std::string& pool) {
  std::vector<DmTarget> status;
  CPPUNIT_ASSERT(dm->GetStatus(pool, &status).ok());
  std::istringstream in(status[0].params);
  std::string field;
  for (int i = 0; i < 4; ++i) in >> field;  // "<transaction> <meta> <data> <held root> ..."
  return field;
}

}  // namespace thin_test
}  // namespace vastsky
