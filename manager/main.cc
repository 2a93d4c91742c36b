// vastsky-manager: the cluster's one active manager. Flags win over the
// config file (/etc/vastsky/manager.conf, section [manager]).

#include <cstdio>
#include <string>
#include <vector>

#include "lib/daemon.h"
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

struct Settings {
  std::string db = "/var/lib/vastsky/manager.db";
  std::string listen = "127.0.0.1:8881";
  std::string secret_file = "/etc/vastsky/secret";
  std::string tls_cert, tls_key, chunk_size;
  bool audit = false;
};

int Fail(const Status& st) {
  fprintf(stderr, "vastsky-manager: %s\n", st.ToString().c_str());
  return 1;
}

void Declare(DaemonSettings* d, Settings* s) {
  d->Add("db", "db", "SQLite state database", "PATH", &s->db);
  d->Add("listen", "listen", "address to serve on (default 127.0.0.1:8881)", "HOST:PORT", &s->listen);
  d->Add("secret-file", "secret_file", "file holding the cluster secret", "FILE", &s->secret_file);
  d->Add("tls-cert", "tls_cert", "PEM certificate: serve HTTPS", "FILE", &s->tls_cert);
  d->Add("tls-key", "tls_key", "PEM private key for --tls-cert", "FILE", &s->tls_key);
  d->Add("chunk-size", "chunk_size", "chunk size for new volumes, whole GiB (default 4G)", "SIZE", &s->chunk_size);
  d->AddSwitch("audit", "check the database's consistency and exit", &s->audit);
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
  DaemonSettings daemon("vastsky-manager", "VastSky manager: XML-RPC API, cluster state and placement", "manager",
                        "/etc/vastsky/manager.conf");
  Declare(&daemon, &settings);
  Status st = daemon.Parse(argc, argv);
  if (st.code() == EINVAL) {
    fprintf(stderr, "vastsky-manager: %s\n", st.message().c_str());
    return 2;
  }
  if (!st.ok()) return Fail(st);
  if (settings.audit) return RunAudit(settings.db);
  st = daemon.InitLogging();
  if (!st.ok()) return Fail(st);

  Store::Options options;
  if (!settings.chunk_size.empty()) {
    st = ParseChunkSize(settings.chunk_size, &options.chunk_gib);
    if (!st.ok()) return Fail(st);
    options.chunk_explicit = true;
  }
  HttpOptions http;
  http.listen = settings.listen;
  http.tls_cert = settings.tls_cert;
  http.tls_key = settings.tls_key;
  st = ReadSecretFile(settings.secret_file, &http.secret);
  if (!st.ok()) return Fail(st);

  const sigset_t stop = BlockStopSignals();
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

  const int sig = WaitForStopSignal(stop);
  VS_LOG_INFO("signal %d: stopping; in-flight calls finish first", sig);
  server.Stop();
  VS_LOG_INFO("stopped cleanly");
  return 0;
}
