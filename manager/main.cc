// vastsky-manager: the cluster's one active manager. Flags win over the
// config file (/etc/vastsky/manager.conf, section [manager]).

#include <algorithm>
#include <cstdio>
#include <cstdlib>
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
#include "manager/metrics.h"
#include "manager/store.h"

using namespace vastsky;

namespace {

struct Settings {
  std::string db = "/var/lib/vastsky/manager.db";
  std::string chunk_size;
  std::string ca_file, agent_timeout = "300";
  std::string failure_grace = "60", failure_storm_share, rebuild_rate = "64", rebuild_cluster_rate = "0";
  std::string agent_quick_timeout;
  ServeSettings serve;
  MetricsSettings metrics;
  bool audit = false;
  std::string head_records;
};

void Declare(DaemonSettings* d, Settings* s) {
  s->serve.listen = "127.0.0.1:8881";
  d->AddServing(&s->serve);
  d->AddMetrics(&s->metrics);
  d->Add("db", "db", "SQLite state database", "PATH", &s->db);
  d->Add("chunk-size", "chunk_size", "chunk size for new volumes, whole GiB (default 4G)", "SIZE", &s->chunk_size);
  d->Add("ca-file", "ca_file", "PEM CA to verify the agents' certificates (default: the system's)", "FILE", &s->ca_file);
  d->Add("agent-timeout", "agent_timeout", "seconds any one call to an agent may take (default 300)", "SECONDS",
         &s->agent_timeout);
  d->Add("agent-quick-timeout", "agent_quick_timeout",
         "seconds a call to an agent that does no kernel work (ACLs, listings) may take (default: a quarter of "
         "failure_grace, 2 to agent_timeout)",
         "SECONDS", &s->agent_quick_timeout);
  d->Add("failure-grace", "failure_grace",
         "seconds an agent may stay silent before its server is declared failed (default 60)", "SECONDS",
         &s->failure_grace);
  d->Add("failure-storm-share", "failure_storm_share",
         "share of the servers that may fall silent together before the manager suspects its own isolation and "
         "declares none failed (default 0.333: a third)",
         "FRACTION", &s->failure_storm_share);
  d->Add("rebuild-rate", "rebuild_rate", "MiB/s each rebuild (so each disk) may use (default 64)", "MIBS",
         &s->rebuild_rate);
  d->Add("rebuild-cluster-rate", "rebuild_cluster_rate", "MiB/s all rebuilds together may use (default 0: no limit)",
         "MIBS", &s->rebuild_cluster_rate);
  d->AddSwitch("audit", "check the database's consistency and exit", &s->audit);
  d->Add("head-records", "head_records",
         "with --audit: head agents' volume record directories (state_dir/volumes), comma-separated; no leg "
         "recorded there may lie on free space or another chunk",
         "DIRS", &s->head_records);
}


// A fraction in (0, 1]: "0.5", "0.333".
Status ParseShare(const std::string& key, const std::string& text, double* share) {
  char* end = nullptr;
  const double v = text.empty() ? 0 : strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(v > 0 && v <= 1))
    return Status::Error(EINVAL, key + " must be a fraction above 0 and at most 1, such as 0.333");
  *share = v;
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

int RunAudit(const DaemonSettings& daemon, const std::string& db, const std::string& head_records) {
  std::vector<std::string> problems;
  Status st = Store::Audit(db, &problems);
  if (st.ok() && !head_records.empty()) st = Store::AuditHeadRecords(db, SplitList(head_records), &problems);
  if (!st.ok()) return daemon.Fail(st);
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
  if (!st.ok()) return daemon.Fail(st);
  if (settings.audit) return RunAudit(daemon, settings.db, settings.head_records);
  st = daemon.InitLogging();
  if (!st.ok()) return daemon.Fail(st);

  Store::Options options;
  if (!settings.chunk_size.empty()) {
    st = ParseChunkSize(settings.chunk_size, &options.chunk_gib);
    if (!st.ok()) return daemon.Fail(st);
    options.chunk_explicit = true;
  }
  int agent_timeout_s = 0;
  st = ParseWhole("agent_timeout", "seconds", settings.agent_timeout, 1, &agent_timeout_s);
  if (!st.ok()) return daemon.Fail(st);
  RecoveryOptions recovery;
  st = ParseWhole("failure_grace", "seconds", settings.failure_grace, 1, &recovery.grace_s);
  if (!st.ok()) return daemon.Fail(st);
  if (!settings.failure_storm_share.empty()) {
    st = ParseShare("failure_storm_share", settings.failure_storm_share, &recovery.storm_share);
    if (!st.ok()) return daemon.Fail(st);
  }
  // Calls made while judging failures must end well within a grace period.
  int quick_s = std::min(agent_timeout_s, std::max(2, recovery.grace_s / 4));
  if (!settings.agent_quick_timeout.empty()) {
    st = ParseWhole("agent_quick_timeout", "seconds", settings.agent_quick_timeout, 1, &quick_s);
    if (!st.ok()) return daemon.Fail(st);
  }
  int rate = 0;
  st = ParseWhole("rebuild_rate", "MiB/s", settings.rebuild_rate, 1, &rate);
  if (!st.ok()) return daemon.Fail(st);
  recovery.disk_rate_mibs = rate;
  if (settings.rebuild_cluster_rate != "0") {
    st = ParseWhole("rebuild_cluster_rate", "MiB/s", settings.rebuild_cluster_rate, 1, &rate);
    if (!st.ok()) return daemon.Fail(st);
    recovery.cluster_rate_mibs = rate;
  }
  HttpOptions http;
  st = ServeOptions(settings.serve, &http);
  if (!st.ok()) return daemon.Fail(st);
  // Attach and detach wait on agents for up to agent_timeout: in a pool a
  // waiting call would hold up the heartbeats queued behind it.
  http.thread_per_connection = true;
  HttpOptions metrics_http;
  if (!settings.metrics.listen.empty()) {
    st = MetricsServeOptions(settings.metrics, http, &metrics_http);
    if (!st.ok()) return daemon.Fail(st);
  }
  AgentOptions agents;
  agents.secret = http.secret;  // the manager and its agents share the cluster secret
  agents.ca_file = settings.ca_file;
  agents.timeout_ms = agent_timeout_s * 1000;
  agents.quick_timeout_ms = quick_s * 1000;

  const sigset_t stop = BlockStopSignals();
  // The HTTP layer caps bodies at 8 MiB; let the XML parser take that much.
  RaiseXmlSizeLimit();
  Store store;
  st = store.Open(settings.db, options);
  if (!st.ok()) return daemon.Fail(st);
  VS_LOG_INFO("vastsky-manager %s: state in %s, chunk size %lld GiB", VASTSKY_VERSION, settings.db.c_str(),
              static_cast<long long>(store.chunk_gib()));
  Api api(&store, agents, recovery);
  Metrics metrics;
  api.CountInto(&metrics);
  // /metrics first: whoever waits for the API port then finds both up.
  HttpServer server, metrics_server;
  if (!settings.metrics.listen.empty()) {
    st = metrics_server.StartGet(metrics_http, "/metrics", Metrics::kContentType, [&api, &metrics](std::string* body) {
      ScrapeInput in;
      VS_RETURN_IF_ERROR(api.ReadScrape(&in));
      *body = metrics.Render(in);  // without the API lock
      return Status::OK();
    });
    if (!st.ok()) return daemon.Fail(st);
  }
  // Enrolled servers call with credentials of their own (API.md, "Enrollment").
  http.authenticate = [&api](const std::string& user, const std::string& password, Caller* who) {
    return api.Authenticate(user, password, who);
  };
  st = server.Start(http, [&api](const Caller& caller, const std::string& body) { return api.Handle(caller, body); });
  if (!st.ok()) return daemon.Fail(st);
  api.StartRecovery();

  const int sig = WaitForStopSignal(stop);
  VS_LOG_INFO("signal %d: stopping; in-flight calls finish first", sig);
  api.StopRecovery();
  metrics_server.Stop();
  server.Stop();
  VS_LOG_INFO("stopped cleanly");
  return 0;
}
