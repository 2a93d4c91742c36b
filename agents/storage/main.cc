// vastsky-storage-agent: exports a storage server's disks over iSCSI for the
// manager (agents/PROTOCOL.md, "Storage agent"). Flags win over the config
// file (/etc/vastsky/storage-agent.conf, section [storage-agent]).

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agents/host/iscsi_target.h"
#include "agents/storage/agent_api.h"
#include "agents/storage/exports.h"
#include "agents/common/agent_url.h"
#include "agents/common/heartbeat.h"
#include "agents/common/manager_link.h"
#include "agents/storage/registration.h"
#include "lib/http_server.h"
#include "lib/daemon.h"
#include "lib/log.h"
#include "lib/op_journal.h"
#include "lib/rpc_client.h"
#include "lib/rpc_service.h"
#include "lib/secret.h"
#include "lib/state_file.h"
#include "lib/version.h"

using namespace vastsky;

namespace {

struct Settings {
  std::string manager = "http://127.0.0.1:8881/RPC2";
  std::string ca_file, data_ip, domain, disks, url;
  ServeSettings serve;
  std::string target = "lio";
  std::string tgt_control_port = "0";
  std::string state_dir = "/var/lib/vastsky/storage-agent";
  std::string heartbeat = "5";
};

void Declare(DaemonSettings* d, Settings* s) {
  s->serve.listen = "127.0.0.1:8883";
  d->AddServing(&s->serve);
  d->Add("manager", "manager", "manager URL(s), comma-separated, tried in order", "URLS", &s->manager);
  d->Add("ca-file", "ca_file", "PEM CA to verify the manager's certificate", "FILE", &s->ca_file);
  d->Add("url", "url", "URL the manager calls this agent on (default: from listen)", "URL", &s->url);
  d->Add("data-ip", "data_ip", "data addresses, comma-separated (iSCSI portals)", "IPS", &s->data_ip);
  d->Add("domain", "domain", "failure domain to register with", "NAME", &s->domain);
  d->Add("disks", "disks", "disk paths, comma-separated", "PATHS", &s->disks);
  d->Add("target", "target", "lio (default), tgt or sim (tests only)", "KIND", &s->target);
  d->Add("tgt-control-port", "tgt_control_port", "target=tgt: tgtd's control port (tgtd -C N; default 0)", "N",
         &s->tgt_control_port);
  d->Add("state-dir", "state_dir", "ids, ACLs and the operation journal", "DIR", &s->state_dir);
  d->Add("heartbeat", "heartbeat", "seconds between heartbeats (default 5)", "SECONDS", &s->heartbeat);
}

Status NewTarget(const Settings& s, std::unique_ptr<IscsiTarget>* out) {
  if (s.target == "lio") {
    *out = NewLioTarget();
  } else if (s.target == "sim") {
    *out = NewSimTarget(s.state_dir + "/sim-target");
  } else if (s.target == "tgt") {
    // tgtd's control socket is /var/run/tgtd/socket.<port>: several tgtds
    // on one host (one per network namespace) need distinct ports.
    const std::string& port = s.tgt_control_port;
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) > 32767)
      return Status::Error(EINVAL, "tgt_control_port must be a number from 0 to 32767 (tgtd -C)");
    *out = NewTgtTarget(std::stoi(port));
  } else {
    return Status::Error(EINVAL, "target must be lio, tgt or sim, not '" + s.target + "'");
  }
  return Status::OK();
}

Status Check(const Settings& s, RegistrationOptions* reg) {
  reg->data_ips = SplitList(s.data_ip);
  reg->disks = SplitList(s.disks);
  reg->domain = s.domain;
  reg->ids_file = s.state_dir + "/ids";
  if (reg->data_ips.empty()) return Status::Error(EINVAL, "data_ip is not set: give this server's data address(es)");
  if (reg->disks.empty()) return Status::Error(EINVAL, "disks is not set: give the disks to export");
  if (SplitList(s.manager).empty()) return Status::Error(EINVAL, "manager is not set: give the manager's URL");
  if (s.heartbeat.empty() || s.heartbeat.size() > 5 || s.heartbeat.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(s.heartbeat) < 1)
    return Status::Error(EINVAL, "heartbeat must be a whole number of seconds, at least 1");
  reg->heartbeat_s = std::stoi(s.heartbeat);
  return AgentUrl(s.url, s.serve, reg->data_ips, &reg->url);
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  DaemonSettings daemon("vastsky-storage-agent", "VastSky storage agent: exports this server's disks over iSCSI",
                        "storage-agent", "/etc/vastsky/storage-agent.conf");
  Declare(&daemon, &settings);
  Status parsed = daemon.Parse(argc, argv);
  if (parsed.ok()) parsed = daemon.InitLogging();
  if (!parsed.ok()) return daemon.Fail(parsed);

  RegistrationOptions reg_options;
  Status st = Check(settings, &reg_options);
  if (!st.ok()) return daemon.Fail(st);
  std::unique_ptr<IscsiTarget> target;
  st = NewTarget(settings, &target);
  if (!st.ok()) return daemon.Fail(st);
  st = MakeStateDir(settings.state_dir);
  if (!st.ok()) return daemon.Fail(st);
  HttpOptions http;
  st = ServeOptions(settings.serve, &http);
  if (!st.ok()) return daemon.Fail(st);

  const sigset_t stop = BlockStopSignals();
  RaiseXmlSizeLimit();

  Exports exports(std::move(target), reg_options.data_ips, settings.state_dir + "/acls");
  OpJournal journal;
  st = exports.Load();
  if (st.ok()) st = journal.Open(settings.state_dir + "/ops");
  if (!st.ok()) return daemon.Fail(st);
  // Calls are bounded well under a heartbeat period so a hung manager
  // delays beats, never the agent's service or its shutdown for long.
  ManagerLink link(SplitList(settings.manager), http.secret, settings.ca_file,
                   std::min(reg_options.heartbeat_s, 5) * 1000);
  Registration registration(reg_options, &link, &exports);
  VS_LOG_INFO("vastsky-storage-agent %s: %zu disk(s), target %s, state in %s", VASTSKY_VERSION,
              reg_options.disks.size(), settings.target.c_str(), settings.state_dir.c_str());
  // Steps 1-4 of the start-up: what the last run exported comes back at
  // once (heads keep access even while the manager is down), then the
  // manager confirms or renews the ids. The heartbeat thread retries.
  st = registration.RestoreExports();
  if (!st.ok()) return daemon.Fail(st);
  HeartbeatLoop heartbeat("storage server", reg_options.heartbeat_s, [&registration] { return registration.Register(); },
                          [&registration] { return registration.Beat(); });
  st = heartbeat.RegisterNow();
  if (!st.ok()) VS_LOG_WARN("first registration failed (%s); retrying every %d s", st.ToString().c_str(),
                            reg_options.heartbeat_s);

  RpcService service;
  AddStorageAgentMethods(&exports, &journal, &service);
  HttpServer server;
  st = server.Start(http, [&service](const std::string& body) { return service.Handle(body); });
  if (!st.ok()) return daemon.Fail(st);
  std::thread beats([&heartbeat] { heartbeat.Run(); });

  const int sig = WaitForStopSignal(stop);
  VS_LOG_INFO("signal %d: stopping; exports stay in the kernel", sig);
  heartbeat.Stop();
  beats.join();
  server.Stop();
  VS_LOG_INFO("stopped cleanly");
  return 0;
}
