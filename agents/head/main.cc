// vastsky-head-agent: assembles VastSky volumes on a head server (the XCP
// host) for the manager (agents/PROTOCOL.md, "Head agent"). Flags win over
// the config file (/etc/vastsky/head-agent.conf, section [head-agent]).

#include <algorithm>
#include <string>
#include <thread>

#include "agents/common/agent_settings.h"
#include "agents/common/heartbeat.h"
#include "lib/manager_link.h"
#include "agents/head/agent_api.h"
#include "agents/head/assembly.h"
#include "agents/head/head_metrics.h"
#include "agents/head/leg_maps.h"
#include "agents/head/registration.h"
#include "agents/head/watch.h"
#include "lib/daemon.h"
#include "lib/http_server.h"
#include "lib/iscsi_names.h"
#include "lib/log.h"
#include "lib/metric_families.h"
#include "lib/op_journal.h"
#include "lib/rpc_client.h"
#include "lib/rpc_service.h"
#include "lib/state_file.h"
#include "lib/units.h"
#include "lib/version.h"

using namespace vastsky;

namespace {

struct Settings {
  AgentSettings agent;
  std::string initiator_name, link_dir;
  std::string host = "kernel";
  std::string kernel_timeout = "30";
};

void Declare(DaemonSettings* d, Settings* s) {
  s->agent.Declare(d, "127.0.0.1:8882", "/var/lib/vastsky/head-agent");
  d->Add("initiator-name", "initiator_name", "iSCSI initiator IQN (default: /etc/iscsi/initiatorname.iscsi)", "IQN",
         &s->initiator_name);
  d->Add("host", "host", "kernel (default) or sim (simulated dm and iSCSI, tests only)", "KIND", &s->host);
  d->Add("link-dir", "link_dir", "where volume links go (default /dev/vastsky)", "DIR", &s->link_dir);
  d->Add("kernel-timeout", "kernel_timeout", "seconds any one kernel call may take (default 30)", "SECONDS",
         &s->kernel_timeout);
}

// The kernel parts, or their simulation under state_dir/sim.
struct Host {
  std::unique_ptr<DeviceMapper> dm;
  std::unique_ptr<IscsiInitiator> iscsi;
};

Status NewHost(const Settings& s, int timeout_ms, int discard_timeout_ms, Host* h) {
  if (s.host == "kernel") {
    h->dm = WithDeadlines(std::shared_ptr<DeviceMapper>(NewKernelDeviceMapper()), timeout_ms, discard_timeout_ms);
    h->iscsi = NewOpenIscsiInitiator(timeout_ms);
  } else if (s.host == "sim") {
    h->dm = NewSimDeviceMapper(s.agent.state_dir + "/sim/dm");
    h->iscsi = NewSimInitiator(s.agent.state_dir + "/sim/iscsi",
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

  int timeout_s = 0;
  std::string initiator;
  const AgentSettings& agent = settings.agent;
  st = settings.agent.Check();
  if (st.ok()) st = ParseWhole("kernel_timeout", "seconds", settings.kernel_timeout, 1, &timeout_s);
  if (st.ok()) st = MakeStateDir(agent.state_dir);
  Host host;
  AssemblyOptions options;
  if (st.ok()) st = NewHost(settings, timeout_s * 1000, options.discard_timeout_ms, &host);
  if (st.ok()) st = host.iscsi->InitiatorName(&initiator);
  if (st.ok() && !settings.initiator_name.empty()) initiator = settings.initiator_name;
  std::string why;
  if (st.ok() && !ValidIscsiName(initiator, &why)) st = Status::Error(EINVAL, "initiator name " + initiator + ": " + why);
  HttpOptions http, metrics_http;
  AgentIdentity me;
  if (st.ok()) st = AgentServeOptions(agent, &http, &me);
  if (st.ok() && !agent.metrics.listen.empty()) st = MetricsServeOptions(agent.metrics, http, &metrics_http);
  if (!st.ok()) return daemon.Fail(st);

  const sigset_t stop = BlockStopSignals();
  RaiseXmlSizeLimit();
  options.link_dir = !settings.link_dir.empty() ? settings.link_dir
                     : settings.host == "sim"   ? agent.state_dir + "/sim/dev/vastsky"
                                                : "/dev/vastsky";
  options.records_dir = agent.state_dir + "/volumes";
  options.kernel_timeout_ms = timeout_s * 1000;
  ManagerLink link(agent.managers, me.user, me.secret, agent.ca_file, std::min(agent.heartbeat_s, 5) * 1000);
  HeadRegistration registration(agent.data_ips, initiator, agent.agent_url, agent.state_dir + "/hsvrid", &link);
  // Trims ask for leg maps over a link of their own: a slow legMap must
  // never hold up a heartbeat.
  ManagerLink maps_link(agent.managers, me.user, me.secret, agent.ca_file, kLegMapTimeoutMs);
  std::unique_ptr<LegMaps> leg_maps = NewManagerLegMaps(&maps_link, [&registration] { return registration.id(); });
  Freezer freezer(host.dm.get(), SystemClock());
  options.freezer = &freezer;
  Assembly assembly(options, host.dm.get(), host.iscsi.get(), leg_maps.get());
  OpJournal journal;
  st = journal.Open(agent.state_dir + "/ops");
  if (st.ok()) st = assembly.Start();
  if (!st.ok()) return daemon.Fail(st);
  VS_LOG_INFO("vastsky-head-agent %s: initiator %s, host %s, links in %s, state in %s", VASTSKY_VERSION,
              initiator.c_str(), settings.host.c_str(), options.link_dir.c_str(), agent.state_dir.c_str());
  // What this head had attached comes back before anything else: VMs on it
  // may be waiting for their disks.
  assembly.Reconcile();

  HeadWatch watch(&assembly, agent.heartbeat_s);
  HeartbeatLoop heartbeat(
      "head server", agent.heartbeat_s, [&registration] { return registration.Register(); },
      [&registration, &watch] { return registration.Beat(watch.DeadLegs()); });
  if (const Status reg = heartbeat.RegisterNow(); !reg.ok())
    VS_LOG_WARN("first registration failed (%s); retrying every %d s", reg.ToString().c_str(), agent.heartbeat_s);

  RpcService service;
  AddHeadAgentMethods(&assembly, &freezer, &journal, &service);
  // /metrics first: whoever waits for the API port then finds both up.
  HttpServer server, metrics_server;
  if (!agent.metrics.listen.empty())
    st = metrics_server.StartGet(metrics_http, "/metrics", kMetricsContentType, [&watch](std::string* body) {
      const HeadLook look = watch.LastLook();  // before now: its age must not come out negative
      *body = RenderHeadMetrics(look, SystemClock()->MonotonicMs());
      return Status::OK();
    });
  if (st.ok()) st = server.Start(http, [&service](const Caller& caller, const std::string& body) { return service.Handle(caller, body); });
  if (!st.ok()) return daemon.Fail(st);
  std::thread beats([&heartbeat] { heartbeat.Run(); });
  std::thread watching([&watch] { watch.Run(); });
  std::thread thawing([&freezer] { freezer.Run(); });

  const int sig = WaitForStopSignal(stop);
  VS_LOG_INFO("signal %d: stopping; attached volumes stay in the kernel", sig);
  heartbeat.Stop();
  beats.join();
  // A look blocked on a dying disk ends with its kernel calls' deadline.
  watch.Stop();
  watching.join();
  metrics_server.Stop();
  server.Stop();
  // After the server: no freeze comes in behind the last deadline kept.
  freezer.Stop();
  thawing.join();
  VS_LOG_INFO("stopped cleanly");
  return 0;
}
