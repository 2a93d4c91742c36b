#include "tests/bench/manager_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

namespace vastsky {
namespace bench {

ManagerProcess::~ManagerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

Status ManagerProcess::Start() {
  if (pid_ > 0) return Status::Error(EBUSY, "manager already running");
  std::vector<char*> args;
  for (std::string& a : argv_) args.push_back(&a[0]);
  args.push_back(nullptr);
  int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return Status::Error(errno, "open " + log_path_ + ": " + strerror(errno));
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return Status::Error(errno, std::string("fork: ") + strerror(errno));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(log_fd);
  pid_ = pid;
  wait_status_ = 0;
  return Status::OK();
}

bool ManagerProcess::Alive() {
  if (pid_ <= 0) return false;
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) == pid_) {
    wait_status_ = st;
    pid_ = -1;
    return false;
  }
  return true;
}

Status ManagerProcess::Stop(double timeout_s) {
  if (!Alive()) {
    if (WIFEXITED(wait_status_) && WEXITSTATUS(wait_status_) == 0) return Status::OK();
    return Status::Error(EIO, "manager had already " + ExitDescription());
  }
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (Alive()) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
      return Status::Error(EIO, "manager ignored SIGTERM for " + std::to_string(timeout_s) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (WIFEXITED(wait_status_) && WEXITSTATUS(wait_status_) == 0) return Status::OK();
  return Status::Error(EIO, "manager " + ExitDescription() + " after SIGTERM");
}

long ManagerProcess::PeakRssKib() const {
  if (pid_ <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, 6, "VmHWM:") == 0) return std::stol(line.substr(6));
  return -1;
}

std::string ManagerProcess::ExitDescription() const {
  if (WIFEXITED(wait_status_)) return "exited with status " + std::to_string(WEXITSTATUS(wait_status_));
  if (WIFSIGNALED(wait_status_)) return std::string("died of signal ") + strsignal(WTERMSIG(wait_status_));
  return "stopped";
}

}  // namespace bench
}  // namespace vastsky
