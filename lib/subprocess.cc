#include "lib/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace vastsky {

Status RunProgram(const std::vector<std::string>& argv, int timeout_ms, SubprocessResult* result) {
  return RunProgramToFile(argv, timeout_ms, "", result);
}

Status RunProgramToFile(const std::vector<std::string>& argv, int timeout_ms, const std::string& stdout_path,
                        SubprocessResult* result) {
  if (argv.empty()) return Status::Error(EINVAL, "no program to run");
  int out_fd = -1;
  if (!stdout_path.empty()) {
    out_fd = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out_fd < 0) return Status::Error(errno, "cannot open " + stdout_path + ": " + strerror(errno));
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    const int err = errno;
    if (out_fd >= 0) close(out_fd);
    return Status::Error(err, std::string("pipe: ") + strerror(err));
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(fds[0]);
    close(fds[1]);
    if (out_fd >= 0) close(out_fd);
    return Status::Error(err, std::string("fork: ") + strerror(err));
  }
  if (pid == 0) {
    setpgid(0, 0);  // so a timeout kills its children too
    dup2(out_fd >= 0 ? out_fd : fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  if (out_fd >= 0) close(out_fd);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool timed_out = false;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) continue;
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the program closed its output
    if (result->output.size() < (1u << 20)) result->output.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (timed_out) kill(-pid, SIGKILL);
  // The output is closed; the program may still linger until the deadline.
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, timed_out ? 0 : WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) break;
    if (r == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        timed_out = true;
        kill(-pid, SIGKILL);
        continue;
      }
      usleep(5000);
    }
  }
  if (timed_out) {
    result->exit_code = -1;
    return Status::Error(ETIMEDOUT, argv[0] + " did not finish within " + std::to_string(timeout_ms / 1000) + " s");
  }
  result->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (result->exit_code == 127) return Status::Error(ENOENT, argv[0] + " not found");
  return Status::OK();
}

}  // namespace vastsky
