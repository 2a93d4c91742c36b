#include "lib/daemon.h"

#include <tclap/CmdLine.h>

#include <cerrno>
#include <cstdio>
#include <sstream>

#include "lib/ini.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/version.h"

namespace vastsky {

struct DaemonSettings::Impl {
  std::string program, section, default_config;
  TCLAP::CmdLine cmd;
  struct Setting {
    std::unique_ptr<TCLAP::ValueArg<std::string>> arg;
    std::string key;
    std::string* out;
  };
  std::vector<Setting> settings;
  std::vector<std::pair<std::unique_ptr<TCLAP::SwitchArg>, bool*>> switches;
  std::string config, log_level = "info", log, serve_default;
  bool syslog = false, parsing_failed = false;

  Impl(std::string p, const std::string& description, std::string s, std::string d)
      : program(std::move(p)), section(std::move(s)), default_config(std::move(d)), cmd(description, ' ', VASTSKY_VERSION) {}
};

DaemonSettings::DaemonSettings(std::string program, std::string description, std::string section,
                               std::string default_config)
    : impl_(new Impl(std::move(program), description, std::move(section), std::move(default_config))) {
  Add("config", "", ("INI config file (default " + impl_->default_config + ")").c_str(), "FILE", &impl_->config);
  Add("log-level", "log_level", "debug, info, warning or error", "LEVEL", &impl_->log_level);
  Add("log", "log", "stderr (default) or syslog", "WHERE", &impl_->log);
  AddSwitch("syslog", "log to syslog instead of stderr", &impl_->syslog);
}

DaemonSettings::~DaemonSettings() = default;

void DaemonSettings::Add(const char* flag, const char* key, const char* help, const char* value_name, std::string* out) {
  Impl::Setting s;
  s.arg.reset(new TCLAP::ValueArg<std::string>("", flag, help, false, "", value_name, impl_->cmd));
  s.key = key;
  s.out = out;
  impl_->settings.push_back(std::move(s));
}

void DaemonSettings::AddSwitch(const char* flag, const char* help, bool* out) {
  impl_->switches.emplace_back(new TCLAP::SwitchArg("", flag, help, impl_->cmd), out);
}

void DaemonSettings::AddServing(ServeSettings* out) {
  impl_->serve_default = "address to serve on (default " + out->listen + ")";
  Add("listen", "listen", impl_->serve_default.c_str(), "HOST:PORT", &out->listen);
  Add("secret-file", "secret_file", "file holding the cluster secret", "FILE", &out->secret_file);
  Add("tls-cert", "tls_cert", "PEM certificate: serve HTTPS", "FILE", &out->tls_cert);
  Add("tls-key", "tls_key", "PEM private key for --tls-cert", "FILE", &out->tls_key);
}

void DaemonSettings::AddMetrics(MetricsSettings* out) {
  Add("metrics-listen", "metrics_listen",
      "address to serve Prometheus' /metrics on (default: none); plain HTTP on loopback only, else HTTPS with "
      "--tls-cert and --tls-key",
      "HOST:PORT", &out->listen);
  Add("metrics-secret-file", "metrics_secret_file",
      "file holding the password of /metrics' HTTP Basic user \"prometheus\" (not the cluster secret)", "FILE",
      &out->secret_file);
}

int DaemonSettings::Fail(const Status& st) const {
  fprintf(stderr, "%s: %s\n", impl_->program.c_str(), st.code() == EINVAL ? st.message().c_str() : st.ToString().c_str());
  return st.code() == EINVAL && impl_->parsing_failed ? 2 : 1;
}

Status ServeOptions(const ServeSettings& s, HttpOptions* out) {
  out->listen = s.listen;
  out->tls_cert = s.tls_cert;
  out->tls_key = s.tls_key;
  return ReadSecretFile(s.secret_file, &out->secret);
}

Status DaemonSettings::Parse(int argc, char** argv) {
  // Let TCLAP throw rather than print and exit(1): a usage error exits 2.
  impl_->cmd.setExceptionHandling(false);
  try {
    impl_->cmd.parse(argc, argv);
  } catch (const TCLAP::ArgException& e) {
    impl_->parsing_failed = true;
    return Status::Error(EINVAL, e.argId() + ": " + e.error() + " (try --help)");
  } catch (const TCLAP::ExitException& e) {
    exit(e.getExitStatus());  // --help, --version
  }
  for (auto& s : impl_->switches) *s.second = s.first->getValue();
  // --config first: the file decides every setting no flag gives.
  const Impl::Setting& config = impl_->settings[0];
  const bool explicit_config = config.arg->isSet();
  const std::string path = explicit_config ? config.arg->getValue() : impl_->default_config;
  IniFile ini;
  Status st = ini.Load(path);
  if (!st.ok() && (explicit_config || st.code() != ENOENT)) return st;
  for (Impl::Setting& s : impl_->settings) {
    if (s.arg->isSet()) *s.out = s.arg->getValue();
    else if (!s.key.empty() && ini.Has(impl_->section, s.key)) *s.out = ini.Get(impl_->section, s.key);
  }
  return Status::OK();
}

Status DaemonSettings::InitLogging() const {
  LogLevel level;
  if (!ParseLogLevel(impl_->log_level, &level)) return Status::Error(EINVAL, "unknown log level " + impl_->log_level);
  if (!impl_->log.empty() && impl_->log != "stderr" && impl_->log != "syslog")
    return Status::Error(EINVAL, "log must be stderr or syslog, not " + impl_->log);
  LogInit(impl_->program, level, impl_->syslog || impl_->log == "syslog");
  return Status::OK();
}

sigset_t BlockStopSignals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return stop;
}

int WaitForStopSignal(const sigset_t& set) {
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    const size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

// A password equal to the cluster secret is refused: a scraper's
// credentials must not open the API, nor the API's the metrics.
Status MetricsServeOptions(const MetricsSettings& s, const HttpOptions& api, HttpOptions* out) {
  if (s.secret_file.empty())
    return Status::Error(EINVAL, "metrics_listen needs metrics_secret_file (the password of the user prometheus)");
  out->listen = s.listen;
  out->user = "prometheus";
  out->tls_cert = api.tls_cert;
  out->tls_key = api.tls_key;
  out->threads = 2;  // a scraper or two; each answer is cheap
  VS_RETURN_IF_ERROR(ReadSecretFile(s.secret_file, &out->secret));
  if (out->secret == api.secret)
    return Status::Error(EINVAL, s.secret_file + " holds the cluster secret: give /metrics a password of its own");
  return Status::OK();
}

}  // namespace vastsky
