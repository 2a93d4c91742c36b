// What every VastSky daemon does the same way: settings from flags or else
// from its INI file (flags win, then the file, then the built-in default),
// the standard --config/--log-level/--syslog options, and SIGTERM/SIGINT
// taken synchronously by the main thread.
#pragma once

#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "lib/http_server.h"
#include "lib/status.h"

namespace vastsky {

// Where and how a daemon serves XML-RPC.
struct ServeSettings {
  std::string listen;
  std::string secret_file = "/etc/vastsky/secret";
  std::string tls_cert, tls_key;
};

// Where a daemon serves Prometheus' /metrics: an address of its own (empty:
// none) and the password of its HTTP Basic user "prometheus".
struct MetricsSettings {
  std::string listen, secret_file;
};

class DaemonSettings {
 public:
  // section: the INI section read ("manager"); default_config: the file
  // used when --config is not given (a missing default file is fine).
  DaemonSettings(std::string program, std::string description, std::string section,
                 std::string default_config);
  ~DaemonSettings();

  // --flag VALUE, else `key = value`; *out keeps its default otherwise.
  // out must outlive Parse().
  void Add(const char* flag, const char* key, const char* help, const char* value_name, std::string* out);
  // --flag with no value; a bare switch (no INI key).
  void AddSwitch(const char* flag, const char* help, bool* out);
  // --listen/listen, --secret-file/secret_file, --tls-cert/tls_cert,
  // --tls-key/tls_key; out->listen holds the default.
  void AddServing(ServeSettings* out);
  // --metrics-listen/metrics_listen, --metrics-secret-file/metrics_secret_file.
  void AddMetrics(MetricsSettings* out);

  // EINVAL (with TCLAP's words) for bad flags: exit 2. --help and --version
  // print and exit the process, as TCLAP does.
  Status Parse(int argc, char** argv);
  // Logging from --log-level/log_level and --syslog/`log = syslog`.
  Status InitLogging() const;
  // Prints "program: what went wrong" to stderr; returns the exit code 1
  // (2 for EINVAL from Parse, a usage error).
  int Fail(const Status& st) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// HTTP options from serving settings, reading the secret file.
Status ServeOptions(const ServeSettings& s, HttpOptions* out);
// The /metrics server's options: s's address and password, api's TLS
// certificate. EINVAL without a password file or with the cluster secret
// (api.secret) in it.
Status MetricsServeOptions(const MetricsSettings& s, const HttpOptions& api, HttpOptions* out);

// Blocks SIGTERM and SIGINT in this and every thread started afterwards, and
// ignores SIGPIPE; call before starting threads.
sigset_t BlockStopSignals();
// Waits for one of them; returns its number.
int WaitForStopSignal(const sigset_t& set);

// "a, b,c" -> {"a", "b", "c"}; empty items dropped.
std::vector<std::string> SplitList(const std::string& s);

}  // namespace vastsky
