// vastsky-manager: the cluster's one active manager. Flags win over the
// config file (/etc/vastsky/manager.conf, section [manager]).
#include <signal.h>
#include <tclap/CmdLine.h>

#include <cstdio>
#include <string>
#include <vector>

#include "lib/ini.h"
#include "lib/log.h"
#include "lib/rpc_client.h"
#include "lib/secret.h"
#include "lib/units.h"
#include "lib/version.h"
#include "manager/api.h"
#include "lib/http_server.h"
#include "manager/store.h"

using namespace vastsky;

namespace {

const char* kDefaultConfig = "/etc/vastsky/manager.conf";

struct Settings {
  std::string db = "/var/lib/vastsky/manager.db";
  std::string listen = "127.0.0.1:8881";
  std::string secret_file = "/etc/vastsky/secret";
  std::string tls_cert, tls_key, chunk_size, log_level = "info";
  bool syslog = false, audit = false;
};

int Fail(const Status& st) {
  fprintf(stderr, "vastsky-manager: %s\n", st.ToString().c_str());
  return 1;
}

// Command line over config file over defaults.
Status LoadSettings(int argc, char** argv, Settings* s) {
  TCLAP::CmdLine cmd("VastSky manager: XML-RPC API, cluster state and placement", ' ', VASTSKY_VERSION);
  TCLAP::ValueArg<std::string> db("", "db", "SQLite state database", false, "", "PATH", cmd);
  TCLAP::ValueArg<std::string> listen("", "listen", "address to serve on (default 127.0.0.1:8881)", false, "", "HOST:PORT", cmd);
  TCLAP::ValueArg<std::string> secret("", "secret-file", "file holding the cluster secret", false, "", "FILE", cmd);
  TCLAP::ValueArg<std::string> cert("", "tls-cert", "PEM certificate: serve HTTPS", false, "", "FILE", cmd);
  TCLAP::ValueArg<std::string> key("", "tls-key", "PEM private key for --tls-cert", false, "", "FILE", cmd);
  TCLAP::ValueArg<std::string> config("", "config", "INI config file (default /etc/vastsky/manager.conf)", false, "", "FILE", cmd);
  TCLAP::ValueArg<std::string> chunk("", "chunk-size", "chunk size for new volumes, whole GiB (default 4G)", false, "", "SIZE", cmd);
  TCLAP::ValueArg<std::string> level("", "log-level", "debug, info, warning or error", false, "", "LEVEL", cmd);
  TCLAP::SwitchArg use_syslog("", "syslog", "log to syslog instead of stderr", cmd);
  TCLAP::SwitchArg audit("", "audit", "check the database's consistency and exit", cmd);
  cmd.parse(argc, argv);

  IniFile ini;
  const std::string config_path = config.isSet() ? config.getValue() : kDefaultConfig;
  Status st = ini.Load(config_path);
  if (!st.ok() && (config.isSet() || st.code() != ENOENT)) return st;
  auto pick = [&](const TCLAP::ValueArg<std::string>& flag, const char* key, std::string* out) {
    if (flag.isSet()) *out = flag.getValue();
    else if (ini.Has("manager", key)) *out = ini.Get("manager", key);
  };
  pick(db, "db", &s->db);
  pick(listen, "listen", &s->listen);
  pick(secret, "secret_file", &s->secret_file);
  pick(cert, "tls_cert", &s->tls_cert);
  pick(key, "tls_key", &s->tls_key);
  pick(chunk, "chunk_size", &s->chunk_size);
  pick(level, "log_level", &s->log_level);
  s->syslog = use_syslog.getValue() || ini.Get("manager", "log") == "syslog";
  s->audit = audit.getValue();
  return Status::OK();
}

Status ParseChunkSize(const std::string& text, int64_t* gib) {
  uint64_t bytes;
  std::string why;
  if (!ParseSize(text, &bytes, &why)) return Status::Error(EINVAL, "chunk size: " + why);
  if (bytes % (1ull << 30) != 0 || bytes == 0 || bytes > (1024ull << 30))
    return Status::Error(EINVAL, "chunk size must be a whole number of GiB from 1G to 1024G");
  *gib = static_cast<int64_t>(bytes >> 30);
  return Status::OK();
}

int RunAudit(const std::string& db) {
  std::vector<std::string> problems;
  Status st = Store::Audit(db, &problems);
  if (!st.ok()) return Fail(st);
  for (const std::string& p : problems) printf("audit: %s\n", p.c_str());
  if (problems.empty()) printf("audit: OK\n");
  return problems.empty() ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  try {
    Status st = LoadSettings(argc, argv, &settings);
    if (!st.ok()) return Fail(st);
  } catch (const TCLAP::ArgException& e) {
    fprintf(stderr, "vastsky-manager: %s: %s\n", e.argId().c_str(), e.error().c_str());
    return 2;
  }
  if (settings.audit) return RunAudit(settings.db);

  LogLevel level;
  if (!ParseLogLevel(settings.log_level, &level)) return Fail(Status::Error(EINVAL, "unknown log level " + settings.log_level));
  LogInit("vastsky-manager", level, settings.syslog);

  Store::Options options;
  if (!settings.chunk_size.empty()) {
    Status st = ParseChunkSize(settings.chunk_size, &options.chunk_gib);
    if (!st.ok()) return Fail(st);
    options.chunk_explicit = true;
  }
  HttpOptions http;
  http.listen = settings.listen;
  http.tls_cert = settings.tls_cert;
  http.tls_key = settings.tls_key;
  Status st = ReadSecretFile(settings.secret_file, &http.secret);
  if (!st.ok()) return Fail(st);

  // Signals are taken synchronously by this thread only; block them before
  // any other thread starts so none of those is interrupted.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // The HTTP layer caps bodies at 8 MiB; let the XML parser take that much.
  RaiseXmlSizeLimit();
  Store store;
  st = store.Open(settings.db, options);
  if (!st.ok()) return Fail(st);
  VS_LOG_INFO("vastsky-manager %s: state in %s, chunk size %lld GiB", VASTSKY_VERSION, settings.db.c_str(),
              static_cast<long long>(store.chunk_gib()));
  Api api(&store);
  HttpServer server;
  st = server.Start(http, [&api](const std::string& body) { return api.Handle(body); });
  if (!st.ok()) return Fail(st);

  int sig = 0;
  sigwait(&stop, &sig);
  VS_LOG_INFO("signal %d: stopping; in-flight calls finish first", sig);
  server.Stop();
  VS_LOG_INFO("stopped cleanly");
  return 0;
}
