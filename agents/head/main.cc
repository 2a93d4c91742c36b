// vastsky-head-agent: assembles VastSky volumes on a head server (the XCP
// host) for the manager (agents/PROTOCOL.md, "Head agent"). Flags win over
// the config file (/etc/vastsky/head-agent.conf, section [head-agent]).

#include <algorithm>
#include <string>
#include <thread>

#include "agents/common/agent_url.h"
#include "agents/common/heartbeat.h"
#include "agents/common/manager_link.h"
#include "agents/head/agent_api.h"
#include "agents/head/assembly.h"
#include "agents/head/registration.h"
#include "lib/daemon.h"
#include "lib/http_server.h"
#include "lib/iscsi_names.h"
#include "lib/log.h"
#include "lib/op_journal.h"
#include "lib/rpc_client.h"
#include "lib/rpc_service.h"
#include "lib/state_file.h"
#include "lib/version.h"

using namespace vastsky;

namespace {

struct Settings {
  std::string manager = "http://127.0.0.1:8881/RPC2";
  std::string ca_file, data_ip, url, initiator_name, link_dir;
  ServeSettings serve;
  std::string host = "kernel";
  std::string state_dir = "/var/lib/vastsky/head-agent";
  std::string heartbeat = "5", kernel_timeout = "30";
};

void Declare(DaemonSettings* d, Settings* s) {
  s->serve.listen = "127.0.0.1:8882";
  d->AddServing(&s->serve);
  d->Add("manager", "manager", "manager URL(s), comma-separated, tried in order", "URLS", &s->manager);
  d->Add("ca-file", "ca_file", "PEM CA to verify the manager's certificate", "FILE", &s->ca_file);
  d->Add("url", "url", "URL the manager calls this agent on (default: from listen)", "URL", &s->url);
  d->Add("data-ip", "data_ip", "this head's data addresses, comma-separated", "IPS", &s->data_ip);
  d->Add("initiator-name", "initiator_name", "iSCSI initiator IQN (default: /etc/iscsi/initiatorname.iscsi)", "IQN",
         &s->initiator_name);
  d->Add("host", "host", "kernel (default) or sim (simulated dm and iSCSI, tests only)", "KIND", &s->host);
  d->Add("link-dir", "link_dir", "where volume links go (default /dev/vastsky)", "DIR", &s->link_dir);
  d->Add("state-dir", "state_dir", "ids, attached volumes and the operation journal", "DIR", &s->state_dir);
  d->Add("heartbeat", "heartbeat", "seconds between heartbeats (default 5)", "SECONDS", &s->heartbeat);
  d->Add("kernel-timeout", "kernel_timeout", "seconds any one kernel call may take (default 30)", "SECONDS",
         &s->kernel_timeout);
}

Status Seconds(const char* what, const std::string& text, int* out) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(text) < 1)
    return Status::Error(EINVAL, std::string(what) + " must be a whole number of seconds, at least 1");
  *out = std::stoi(text);
  return Status::OK();
}

// The kernel parts, or their simulation under state_dir/sim.
struct Host {
  std::unique_ptr<DeviceMapper> dm;
  std::unique_ptr<IscsiInitiator> iscsi;
};

Status NewHost(const Settings& s, int timeout_ms, Host* h) {
  if (s.host == "kernel") {
    h->dm = WithDeadlines(std::shared_ptr<DeviceMapper>(NewKernelDeviceMapper()), timeout_ms);
    h->iscsi = NewOpenIscsiInitiator(timeout_ms);
  } else if (s.host == "sim") {
    h->dm = NewSimDeviceMapper(s.state_dir + "/sim/dm");
    h->iscsi = NewSimInitiator(s.state_dir + "/sim/iscsi",
                               s.initiator_name.empty() ? "iqn.2010-10.org.vastsky.sim:head" : s.initiator_name);
  } else {
    return Status::Error(EINVAL, "host must be kernel or sim, not '" + s.host + "'");
  }
  return Status::OK();
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  DaemonSettings daemon("vastsky-head-agent", "VastSky head agent: assembles volumes on this host",
                        "head-agent", "/etc/vastsky/head-agent.conf");
  Declare(&daemon, &settings);
  Status st = daemon.Parse(argc, argv);
  if (st.ok()) st = daemon.InitLogging();
  if (!st.ok()) return daemon.Fail(st);

  int heartbeat_s = 0, timeout_s = 0;
  const std::vector<std::string> data_ips = SplitList(settings.data_ip);
  std::string url, initiator;
  st = Seconds("heartbeat", settings.heartbeat, &heartbeat_s);
  if (st.ok()) st = Seconds("kernel_timeout", settings.kernel_timeout, &timeout_s);
  if (st.ok() && data_ips.empty()) st = Status::Error(EINVAL, "data_ip is not set: give this head's data address(es)");
  if (st.ok() && SplitList(settings.manager).empty()) st = Status::Error(EINVAL, "manager is not set: give the manager's URL");
  if (st.ok()) st = AgentUrl(settings.url, settings.serve, data_ips, &url);
  if (st.ok()) st = MakeStateDir(settings.state_dir);
  Host host;
  if (st.ok()) st = NewHost(settings, timeout_s * 1000, &host);
  if (st.ok()) st = host.iscsi->InitiatorName(&initiator);
  if (st.ok() && !settings.initiator_name.empty()) initiator = settings.initiator_name;
  std::string why;
  if (st.ok() && !ValidIscsiName(initiator, &why)) st = Status::Error(EINVAL, "initiator name " + initiator + ": " + why);
  HttpOptions http;
  if (st.ok()) st = ServeOptions(settings.serve, &http);
  if (!st.ok()) return daemon.Fail(st);

  const sigset_t stop = BlockStopSignals();
  RaiseXmlSizeLimit();
  AssemblyOptions options;
  options.link_dir = !settings.link_dir.empty() ? settings.link_dir
                     : settings.host == "sim"   ? settings.state_dir + "/sim/dev/vastsky"
                                                : "/dev/vastsky";
  options.records_dir = settings.state_dir + "/volumes";
  options.kernel_timeout_ms = timeout_s * 1000;
  Assembly assembly(options, host.dm.get(), host.iscsi.get());
  OpJournal journal;
  st = journal.Open(settings.state_dir + "/ops");
  if (st.ok()) st = assembly.Start();
  if (!st.ok()) return daemon.Fail(st);
  VS_LOG_INFO("vastsky-head-agent %s: initiator %s, host %s, links in %s, state in %s", VASTSKY_VERSION,
              initiator.c_str(), settings.host.c_str(), options.link_dir.c_str(), settings.state_dir.c_str());
  // What this head had attached comes back before anything else: VMs on it
  // may be waiting for their disks.
  assembly.Reconcile();

  ManagerLink link(SplitList(settings.manager), http.secret, settings.ca_file, std::min(heartbeat_s, 5) * 1000);
  HeadRegistration registration(data_ips, initiator, url, &link);
  HeartbeatLoop heartbeat(
      "head server", heartbeat_s, [&registration] { return registration.Register(); },
      [&registration, &assembly] {
        assembly.Reconcile();
        return registration.Beat();
      });
  st = heartbeat.RegisterNow();
  if (!st.ok()) VS_LOG_WARN("first registration failed (%s); retrying every %d s", st.ToString().c_str(), heartbeat_s);

  RpcService service;
  AddHeadAgentMethods(&assembly, &journal, &service);
  HttpServer server;
  st = server.Start(http, [&service](const std::string& body) { return service.Handle(body); });
  if (!st.ok()) return daemon.Fail(st);
  std::thread beats([&heartbeat] { heartbeat.Run(); });

  const int sig = WaitForStopSignal(stop);
  VS_LOG_INFO("signal %d: stopping; attached volumes stay in the kernel", sig);
  heartbeat.Stop();
  beats.join();
  server.Stop();
  VS_LOG_INFO("stopped cleanly");
  return 0;
}
