// vastsky-storage-agent: exports a storage server's disks over iSCSI for the
// manager (agents/PROTOCOL.md, "Storage agent"). Flags win over the config
// file (/etc/vastsky/storage-agent.conf, section [storage-agent]).

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agents/host/device_mapper.h"
#include "agents/host/iscsi_target.h"
#include "agents/host/thin_pool.h"
#include "agents/storage/agent_api.h"
#include "agents/storage/exports.h"
#include "agents/storage/pool_legs.h"
#include "agents/common/agent_settings.h"
#include "agents/common/heartbeat.h"
#include "lib/manager_link.h"
#include "agents/storage/registration.h"
#include "agents/storage/scrub.h"
#include "agents/storage/storage_metrics.h"
#include "lib/http_server.h"
#include "lib/clock.h"
#include "lib/daemon.h"
#include "lib/log.h"
#include "lib/metric_families.h"
#include "lib/op_journal.h"
#include "lib/rpc_client.h"
#include "lib/rpc_service.h"
#include "lib/rpc_values.h"
#include "lib/secret.h"
#include "lib/state_file.h"
#include "lib/units.h"
#include "lib/version.h"

using namespace vastsky;

namespace {

struct Settings {
  AgentSettings agent;
  std::string domain, disks;
  std::string target = "lio";
  std::string tgt_control_port = "0";
  std::string scrub_rate = "32", scrub_pause = "86400";
  std::string thin_check = "/usr/sbin/thin_check", thin_check_timeout = "600";
  std::string thin_dump = "/usr/sbin/thin_dump", thin_dump_timeout = "10";
  std::string thin_delta = "/usr/sbin/thin_delta", thin_ls = "/usr/sbin/thin_ls";
};

void Declare(DaemonSettings* d, Settings* s) {
  s->agent.Declare(d, "127.0.0.1:8883", "/var/lib/vastsky/storage-agent");
  d->Add("domain", "domain", "failure domain to register with", "NAME", &s->domain);
  d->Add("disks", "disks", "disk paths, comma-separated", "PATHS", &s->disks);
  d->Add("target", "target", "lio (default), tgt or sim (tests only)", "KIND", &s->target);
  d->Add("scrub-rate", "scrub_rate", "MiB/s the background scrub reads each disk at (default 32; 0: no scrub)", "MIBS",
         &s->scrub_rate);
  d->Add("scrub-pause", "scrub_pause", "seconds between scrub passes (default 86400)", "SECONDS", &s->scrub_pause);
  d->Add("thin-check", "thin_check", "thin-provisioning-tools' thin_check, run on each pool before activation",
         "PATH", &s->thin_check);
  d->Add("thin-check-timeout", "thin_check_timeout", "seconds thin_check may take per disk (default 600)", "SECONDS",
         &s->thin_check_timeout);
  d->Add("thin-dump", "thin_dump", "thin-provisioning-tools' thin_dump, run for legMap on a pool's metadata snapshot",
         "PATH", &s->thin_dump);
  d->Add("thin-dump-timeout", "thin_dump_timeout",
         "seconds thin_dump, thin_delta or thin_ls may take per legMap, legDelta or legUsage (default 10)", "SECONDS",
         &s->thin_dump_timeout);
  d->Add("thin-delta", "thin_delta", "thin-provisioning-tools' thin_delta, run for legDelta on a metadata snapshot",
         "PATH", &s->thin_delta);
  d->Add("thin-ls", "thin_ls", "thin-provisioning-tools' thin_ls, run for legUsage on a metadata snapshot", "PATH",
         &s->thin_ls);
  d->Add("tgt-control-port", "tgt_control_port", "target=tgt: tgtd's control port (tgtd -C N; default 0)", "N",
         &s->tgt_control_port);
}

Status NewTarget(const Settings& s, std::unique_ptr<IscsiTarget>* out) {
  if (s.target == "lio") {
    *out = NewLioTarget();
  } else if (s.target == "sim") {
    *out = NewSimTarget(s.agent.state_dir + "/sim-target");
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

// The disks' pools: the kernel's device-mapper, or with target=sim the
// simulated one, whose metadata is no dm-thin's (its own checker, dumper
// and reports stand in for thin_check, thin_dump, thin_delta and thin_ls).
Status NewPools(const Settings& s, std::unique_ptr<ThinPools>* out) {
  ThinPoolOptions o;
  int check_s = 0, dump_s = 0;
  VS_RETURN_IF_ERROR(ParseWhole("thin_check_timeout", "seconds", s.thin_check_timeout, 1, &check_s));
  VS_RETURN_IF_ERROR(ParseWhole("thin_dump_timeout", "seconds", s.thin_dump_timeout, 1, &dump_s));
  o.thin_check_timeout_ms = check_s * 1000;
  o.thin_check = s.thin_check;
  o.thin_dump_timeout_ms = dump_s * 1000;
  o.thin_dump = s.thin_dump;
  o.thin_delta = s.thin_delta;
  o.thin_ls = s.thin_ls;
  o.dump_dir = s.agent.state_dir;
  std::shared_ptr<DeviceMapper> dm;
  std::shared_ptr<ThinDumper> dumper;
  std::shared_ptr<ThinChecker> checker;
  std::shared_ptr<ThinReports> reports;
  if (s.target == "sim") {
    dm = NewSimDeviceMapper(s.agent.state_dir + "/sim-dm");
    dumper = NewSimThinDumper(s.agent.state_dir + "/sim-dm");
    checker = NewSimThinChecker(s.agent.state_dir + "/sim-dm");
    reports = NewSimThinReports(s.agent.state_dir + "/sim-dm");
  } else {
    dm = WithDeadlines(std::shared_ptr<DeviceMapper>(NewKernelDeviceMapper()), 30000);
  }
  out->reset(new ThinPools(dm, o, dumper, checker, reports));
  (*out)->RemoveLeftoverDumps();
  return Status::OK();
}

Status Check(Settings* s, RegistrationOptions* reg, ScrubOptions* scrub) {
  VS_RETURN_IF_ERROR(s->agent.Check());
  int rate = 0, pause = 0;
  VS_RETURN_IF_ERROR(ParseWhole("scrub_rate", "MiB/s", s->scrub_rate, 0, &rate));
  VS_RETURN_IF_ERROR(ParseWhole("scrub_pause", "seconds", s->scrub_pause, 1, &pause));
  scrub->rate_mibs = rate;
  scrub->pause_s = pause;
  reg->data_ips = s->agent.data_ips;
  reg->disks = SplitList(s->disks);
  reg->domain = s->domain;
  reg->ids_file = s->agent.state_dir + "/ids";
  reg->heartbeat_s = s->agent.heartbeat_s;
  reg->url = s->agent.agent_url;
  if (reg->disks.empty()) return Status::Error(EINVAL, "disks is not set: give the disks to export");
  return Status::OK();
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
  ScrubOptions scrub;
  Status st = Check(&settings, &reg_options, &scrub);
  if (!st.ok()) return daemon.Fail(st);
  std::unique_ptr<IscsiTarget> target;
  st = NewTarget(settings, &target);
  if (!st.ok()) return daemon.Fail(st);
  // The exports layer reaches the pools through it (LegDevices).
  std::unique_ptr<ThinPools> pools;
  st = NewPools(settings, &pools);
  if (!st.ok()) return daemon.Fail(st);
  st = MakeStateDir(settings.agent.state_dir);
  if (!st.ok()) return daemon.Fail(st);
  HttpOptions http, metrics_http;
  AgentIdentity me;
  st = AgentServeOptions(settings.agent, &http, &me);
  if (st.ok() && !settings.agent.metrics.listen.empty())
    st = MetricsServeOptions(settings.agent.metrics, http, &metrics_http);
  if (!st.ok()) return daemon.Fail(st);

  const sigset_t stop = BlockStopSignals();
  RaiseXmlSizeLimit();

  Exports exports(std::move(target), std::make_shared<PoolLegDevices>(pools.get()), reg_options.data_ips,
                  settings.agent.state_dir);
  OpJournal journal;
  st = exports.Load();
  if (st.ok()) st = journal.Open(settings.agent.state_dir + "/ops");
  if (!st.ok()) return daemon.Fail(st);
  // Calls are bounded well under a heartbeat period so a hung manager
  // delays beats, never the agent's service or its shutdown for long.
  // A ManagerLink is not thread-safe: the heartbeat thread and the scrub
  // thread each own one.
  const int link_timeout_ms = std::min(reg_options.heartbeat_s, 5) * 1000;
  ManagerLink link(settings.agent.managers, me.user, me.secret, settings.agent.ca_file, link_timeout_ms);
  ManagerLink scrub_link(settings.agent.managers, me.user, me.secret, settings.agent.ca_file, link_timeout_ms);
  Registration registration(reg_options, &link, &exports, pools.get());
  VS_LOG_INFO("vastsky-storage-agent %s: %zu disk(s), target %s, state in %s", VASTSKY_VERSION,
              reg_options.disks.size(), settings.target.c_str(), settings.agent.state_dir.c_str());
  // Steps 1-4 of the start-up: what the last run exported comes back at
  // once (heads keep access even while the manager is down), then the
  // manager confirms or renews the ids. The heartbeat thread retries.
  st = registration.RestoreExports();
  if (!st.ok()) return daemon.Fail(st);
  HeartbeatLoop heartbeat("storage server", reg_options.heartbeat_s, [&registration] { return registration.Register(); },
                          [&registration] { return registration.Beat(); });
  if (const Status reg = heartbeat.RegisterNow(); !reg.ok())
    VS_LOG_WARN("first registration failed (%s); retrying every %d s", reg.ToString().c_str(), reg_options.heartbeat_s);

  RpcService service;
  AddStorageAgentMethods(&exports, pools.get(), &journal, &service);
  Scrubber scrubber(
      scrub, Scrubber::ReadDirect,
      [&exports] {
        std::vector<ExportInfo> list;
        std::vector<ScrubDisk> disks;
        if (exports.List(&list).ok())
          for (const ExportInfo& e : list) disks.push_back({e.pdsk_id, e.device});
        return disks;
      },
      [&scrub_link](int64_t pdsk_id, const std::vector<int64_t>& bad_gib) {
        std::vector<xmlrpc_c::value> blocks;
        for (int64_t b : bad_gib) blocks.push_back(IntValue(b));
        xmlrpc_c::value r;
        return scrub_link.Call("notifyBadBlocks", {{"pdskid", IntValue(pdsk_id)}, {"blocks", xmlrpc_c::value_array(blocks)}},
                         &r);
      });
  // /metrics first: whoever waits for the API port then finds both up.
  HttpServer server, metrics_server;
  if (!settings.agent.metrics.listen.empty())
    st = metrics_server.StartGet(metrics_http, "/metrics", kMetricsContentType, [&registration, &scrubber](std::string* body) {
      const PoolUsageLook pools = registration.LastUsage();  // before now: its age must not come out negative
      *body = RenderStorageMetrics(pools, scrubber.Progress(), SystemClock()->MonotonicMs());
      return Status::OK();
    });
  if (st.ok()) st = server.Start(http, [&service](const Caller& caller, const std::string& body) { return service.Handle(caller, body); });
  if (!st.ok()) return daemon.Fail(st);
  std::thread beats([&heartbeat] { heartbeat.Run(); });
  std::thread scrubbing([&scrubber] { scrubber.Run(); });

  const int sig = WaitForStopSignal(stop);
  VS_LOG_INFO("signal %d: stopping; exports stay in the kernel", sig);
  metrics_server.Stop();
  scrubber.Stop();
  scrubbing.join();
  heartbeat.Stop();
  beats.join();
  server.Stop();
  VS_LOG_INFO("stopped cleanly");
  return 0;
}
