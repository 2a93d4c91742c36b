// vastsky-bench: the manager at the scale the placement design is for. Drives
// a real vastsky-manager over XML-RPC: registers a simulated cluster (servers
// on 127.10.x.y, never contacted), fills it with volumes through the API, then
// reports balance, call latencies, peak memory, the cost of a Prometheus
// scrape (with --metrics-url) and restart time against the targets. A missed target is reported, not failed: only errors (a failed
// call, lost state, an unclean exit) make the exit status non-zero.
//
//   vastsky-bench --url U --secret-file F --manager-log L [options] -- MANAGER-ARGV...
// tests/bench/run.sh supplies the temp dir, port and manager command line.
#include <tclap/CmdLine.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "lib/rpc_client.h"
#include "lib/secret.h"
#include "lib/status.h"
#include "lib/units.h"
#include "tests/bench/manager_process.h"
#include "tests/bench/random_placement.h"
#include "tests/bench/scrape_bench.h"

namespace vastsky {
namespace bench {
namespace {

using Clock = std::chrono::steady_clock;
using Members = std::map<std::string, xmlrpc_c::value>;
constexpr int kVer = 5;
constexpr int64_t kSectorsPerGib = 1ll << 21;
constexpr int kMaxEnospc = 10;  // the cluster is full for our stream; stop filling

struct Options {
  std::string url, secret_file, manager_log;
  std::string metrics_url, metrics_secret_file;  // the scrape phase; none without
  int scrapes = 20;
  std::vector<std::string> manager_argv;
  int servers = 1000, disks = 12, racks = 25;
  std::vector<int64_t> disk_sizes_gib;
  double fill = 0.8, vol_scale = 1.0, redundancy3 = 0.15;
  int list_all_reps = 20, list_one_reps = 200;
  double list_budget_s = 30;  // per kind; a slow list must not stall the run
  uint64_t seed = 1;
};

// A failed step: the run cannot go on, its numbers would be meaningless.
struct Fatal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

double Secs(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
double MsSince(Clock::time_point a) { return 1000 * Secs(a, Clock::now()); }

// Nearest-rank percentile.
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100 * static_cast<double>(v.size())));
  return v[std::min(v.size(), std::max<size_t>(rank, 1)) - 1];
}

const char* Verdict(bool met) { return met ? "PASS" : "MISS"; }

void Say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void Say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fputs("bench: ", stdout);
  std::vfprintf(stdout, fmt, ap);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  va_end(ap);
}

std::string Printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Printf(const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

// ---- XML-RPC plumbing ----

int64_t AsInt(const xmlrpc_c::value& v) {
  switch (v.type()) {
    case xmlrpc_c::value::TYPE_INT: return xmlrpc_c::value_int(v);
    case xmlrpc_c::value::TYPE_I8: return xmlrpc_c::value_i8(v);
    case xmlrpc_c::value::TYPE_DOUBLE: return static_cast<int64_t>(xmlrpc_c::value_double(v));
    default: throw Fatal("expected a number in the manager's answer");
  }
}

int64_t Member(const Members& m, const std::string& name) {
  auto it = m.find(name);
  if (it == m.end()) throw Fatal("answer lacks member '" + name + "'");
  return AsInt(it->second);
}

// out must be a fresh value (xmlrpc_c::value refuses reassignment); null
// when the answer does not matter.
Status Call(RpcClient& rpc, const std::string& method, Members m, xmlrpc_c::value* out = nullptr) {
  m["ver"] = xmlrpc_c::value_int(kVer);
  xmlrpc_c::paramList p;
  p.add(xmlrpc_c::value_struct(m));
  xmlrpc_c::value discard;
  return rpc.Call(method, p, out ? out : &discard);
}

xmlrpc_c::value MustCall(RpcClient& rpc, const std::string& method, Members m = {}) {
  xmlrpc_c::value out;
  Status st = Call(rpc, method, std::move(m), &out);
  if (!st.ok()) throw Fatal(method + ": " + st.ToString());
  return out;
}

std::vector<xmlrpc_c::value> Array(const xmlrpc_c::value& v) {
  return xmlrpc_c::value_array(v).vectorValueValue();
}

struct ClusterStatus {
  int64_t capacity = 0, used = 0, chunk = 0;
};

ClusterStatus GetStatus(RpcClient& rpc) {
  Members m = xmlrpc_c::value_struct(MustCall(rpc, "getClusterStatus"));
  return {Member(m, "capacity"), Member(m, "used"), Member(m, "chunk_size")};
}

// Polls until `probe` succeeds; returns the seconds since `since`. Refused
// connections and EAGAIN mean "not yet"; any other failure is an error.
double WaitServing(ManagerProcess& mgr, Clock::time_point since, const std::function<Status()>& probe) {
  Status last;
  while (Secs(since, Clock::now()) < 120) {
    if (!mgr.Alive()) throw Fatal("manager " + mgr.ExitDescription() + " while starting");
    last = probe();
    if (last.ok()) return Secs(since, Clock::now());
    if (last.code() != ECONNREFUSED && last.code() != EIO && last.code() != EAGAIN)
      throw Fatal("manager answered, wrongly, while starting: " + last.ToString());
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  throw Fatal("manager did not answer within 120 s: " + last.ToString());
}

// ---- the phases ----

// Racks are failure domains; servers go round-robin over them. Returns the
// disks as the random-placement model sees them.
std::vector<ModelDisk> RegisterCluster(RpcClient& rpc, const Options& o, std::mt19937_64& rng) {
  std::uniform_int_distribution<size_t> size_pick(0, o.disk_sizes_gib.size() - 1);
  std::vector<ModelDisk> disks;
  for (int s = 0; s < o.servers; ++s) {
    std::vector<xmlrpc_c::value> ips{xmlrpc_c::value_string(Printf("127.10.%d.%d", s / 250, s % 250 + 1))};
    int64_t ssvrid = AsInt(MustCall(rpc, "registerStorageServer",
                                    {{"ip_data", xmlrpc_c::value_array(ips)},
                                     {"domain", xmlrpc_c::value_string(Printf("rack-%02d", s % o.racks))}}));
    for (int d = 0; d < o.disks; ++d) {
      int64_t gib = o.disk_sizes_gib[size_pick(rng)];
      MustCall(rpc, "registerPhysicalDisk",
               {{"ssvrid", xmlrpc_c::value_int(static_cast<int>(ssvrid))},
                {"local_path", xmlrpc_c::value_string(Printf("/dev/disk/by-id/bench-%d-%d", s, d))},
                {"capacity", xmlrpc_c::value_string(std::to_string(gib * kSectorsPerGib))}});
      disks.push_back({s, s % o.racks, static_cast<double>(gib)});
    }
  }
  return disks;
}

// The mix: half small, 40% medium, 10% large; mostly 2 legs.
ModelVolume NextVolume(std::mt19937_64& rng, const Options& o) {
  std::uniform_real_distribution<double> u01(0, 1);
  double u = u01(rng), lo = 500, hi = 2000;
  if (u < 0.5) lo = 10, hi = 100;
  else if (u < 0.9) lo = 100, hi = 500;
  ModelVolume v;
  double gib = std::uniform_real_distribution<double>(lo, hi)(rng) * o.vol_scale;
  v.capacity_gib = std::clamp<int64_t>(std::llround(gib), 1, 1048576);
  v.redundancy = u01(rng) < o.redundancy3 ? 3 : 2;
  return v;
}

struct FillResult {
  std::vector<ModelVolume> volumes;
  std::vector<std::string> names;
  std::vector<double> create_ms;  // one per created volume
  int enospc = 0;
};

// getClusterStatus may be slow on a big cluster, so it is asked only when our
// own count of the space taken since its last answer (capacity x redundancy)
// reaches the next tenth of the target, or the target.
FillResult Fill(RpcClient& rpc, const Options& o, std::mt19937_64& rng, ClusterStatus cs) {
  FillResult r;
  const double target = o.fill * static_cast<double>(cs.capacity);
  double next_check = 0.1 * target;
  int64_t pending = 0;
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; r.enospc < kMaxEnospc; ++i) {
    if (static_cast<double>(cs.used + pending) >= next_check) {
      cs = GetStatus(rpc);
      pending = 0;
      if (static_cast<double>(cs.used) >= target) break;
      Say("filling: %.1f%% used, %zu volumes, %.0f s",
          100.0 * static_cast<double>(cs.used) / static_cast<double>(cs.capacity), r.names.size(),
          Secs(t0, Clock::now()));
      next_check = std::min(target, static_cast<double>(cs.used) + 0.1 * target);
    }
    ModelVolume v = NextVolume(rng, o);
    std::string name = Printf("bench-%06d", i);
    Clock::time_point c0 = Clock::now();
    Status st = Call(rpc, "createLogicalVolume",
                     {{"lvolname", xmlrpc_c::value_string(name)},
                      {"capacity", xmlrpc_c::value_int(static_cast<int>(v.capacity_gib))},
                      {"redundancy", xmlrpc_c::value_int(v.redundancy)}});
    double ms = MsSince(c0);
    if (st.code() == ENOSPC) {
      ++r.enospc;
      continue;
    }
    if (!st.ok()) throw Fatal("createLogicalVolume " + name + ": " + st.ToString());
    r.create_ms.push_back(ms);
    r.volumes.push_back(v);
    r.names.push_back(name);
    pending += v.capacity_gib * v.redundancy;
  }
  if (r.names.empty()) throw Fatal("no volume could be created");
  return r;
}

// Per-disk used fraction from the manager's own accounting.
struct Balance {
  double max = 0, mean = 0, min = 0;
  size_t disks = 0;
};

Balance MeasureBalance(RpcClient& rpc) {
  Balance b;
  b.min = 1e9;
  double sum = 0;
  for (const xmlrpc_c::value& d : Array(MustCall(rpc, "listPhysicalDisks"))) {
    Members m = xmlrpc_c::value_struct(d);
    int64_t cap = Member(m, "capacity"), avail = Member(m, "available");
    if (cap <= 0) continue;
    double f = static_cast<double>(cap - avail) / static_cast<double>(cap);
    b.max = std::max(b.max, f);
    b.min = std::min(b.min, f);
    sum += f;
    ++b.disks;
  }
  if (b.disks == 0) throw Fatal("listPhysicalDisks returned no disks");
  b.mean = sum / static_cast<double>(b.disks);
  return b;
}

// Up to `reps` calls, stopping early (after at least 5) once the budget is
// spent. Returns the latencies in ms.
std::vector<double> TimeCalls(int reps, double budget_s, const std::function<void()>& call) {
  std::vector<double> ms;
  const Clock::time_point t0 = Clock::now();
  while (static_cast<int>(ms.size()) < reps && (ms.size() < 5 || Secs(t0, Clock::now()) < budget_s)) {
    Clock::time_point c0 = Clock::now();
    call();
    ms.push_back(MsSince(c0));
  }
  return ms;
}

// p50 of each tenth of the creates, in order: growth with the fill shows here.
std::string CreateTrend(const std::vector<double>& ms) {
  std::string out;
  for (size_t k = 0; k < 10; ++k)
    out += Printf(" %.1f", Percentile(std::vector<double>(ms.begin() + ms.size() * k / 10,
                                                          ms.begin() + ms.size() * (k + 1) / 10), 50));
  return out;
}

// A create's cost grows with its mirror count; this shows how much.
std::string CreateBySize(const FillResult& f, double vol_scale) {
  const double small = 100 * vol_scale, large = 500 * vol_scale;
  std::vector<double> part[3];
  for (size_t j = 0; j < f.volumes.size(); ++j) {
    double gib = static_cast<double>(f.volumes[j].capacity_gib);
    part[gib < small ? 0 : gib < large ? 1 : 2].push_back(f.create_ms[j]);
  }
  const std::string label[3] = {Printf("<%.0f", small), Printf("%.0f-%.0f", small, large),
                                Printf(">=%.0f", large)};
  std::string out;
  for (int k = 0; k < 3; ++k)
    out += Printf("%s%s GiB p50 %.1f p99 %.1f (n=%zu)", k ? "; " : "", label[k].c_str(),
                  Percentile(part[k], 50), Percentile(part[k], 99), part[k].size());
  return out;
}

// One heartbeat per storage server reporting its disks' pools, as agents
// do, so the scrape carries the per-disk pool series a real cluster's has.
// Half of what is placed counts as written (thin pools), well below the
// nearfull ratio. Servers have no agent URL, so no heartbeat age series:
// that is one series per server fewer than in a real cluster.
void ReportPools(RpcClient& rpc) {
  std::map<int64_t, std::vector<xmlrpc_c::value>> per_ssvr;
  for (const xmlrpc_c::value& d : Array(MustCall(rpc, "listPhysicalDisks"))) {
    Members m = xmlrpc_c::value_struct(d);
    const int64_t data_mib = Member(m, "capacity") / 2048;  // sectors
    const int64_t placed_mib = (Member(m, "capacity") - Member(m, "available")) / 2048;
    per_ssvr[Member(m, "ssvrid")].push_back(xmlrpc_c::value_struct(Members{
        {"pdskid", m.at("pdskid")},
        {"data_used_mib", xmlrpc_c::value_i8(placed_mib / 2)},
        {"data_mib", xmlrpc_c::value_i8(data_mib)},
        {"meta_used_kib", xmlrpc_c::value_int(1024)},
        {"meta_kib", xmlrpc_c::value_int(131072)},
        {"mode", xmlrpc_c::value_string("rw")}}));
  }
  for (const auto& s : per_ssvr)
    MustCall(rpc, "heartbeat", {{"ssvrid", xmlrpc_c::value_int(static_cast<int>(s.first))},
                                {"pools", xmlrpc_c::value_array(s.second)}});
}

// Prometheus' scrape of the full cluster; the probe beside it is the
// cheapest call that takes the API lock.
ScrapeResult ScrapePhase(RpcClient& rpc, const Options& o, ManagerProcess& mgr, const std::vector<std::string>& names,
                         std::mt19937_64& rng) {
  ReportPools(rpc);
  ScrapeOptions so;
  so.url = o.metrics_url;
  Status st = ReadSecretFile(o.metrics_secret_file, &so.password);
  if (!st.ok()) throw Fatal("metrics secret: " + st.ToString());
  so.manager_pid = mgr.pid();
  so.scrapes = o.scrapes;
  std::uniform_int_distribution<size_t> pick(0, names.size() - 1);
  return MeasureScrapes(so, [&] {
    MustCall(rpc, "listLogicalVolumes", {{"lvolname", xmlrpc_c::value_string(names[pick(rng)])}});
  });
}

void SayScrape(const ScrapeResult& r, size_t disks, size_t lvols) {
  constexpr double kIntervalS = 15;  // Prometheus' customary scrape interval
  const double share = r.cpu_ms_per_scrape / (10 * kIntervalS);  // ms per 15 s as % of one core
  Say("/metrics at %zu pdsk and %zu lvols: %.0f KiB, %zu series; scrape wall p50 %.1f ms max %.1f ms (n=%zu)",
      disks, lvols, static_cast<double>(r.body_bytes) / 1024, r.series, Percentile(r.wall_ms, 50),
      Percentile(r.wall_ms, 100), r.wall_ms.size());
  Say("/metrics manager CPU %.1f ms per scrape = %.3f%% of a core at one scrape per %.0f s (target < 1%%) %s; "
      "manager CPU without scrapes %.1f ms/s",
      r.cpu_ms_per_scrape, share, kIntervalS, Verdict(share < 1), r.idle_cpu_ms_per_s);
  Say("/metrics API lock held per scrape (vastsky_scrape_lock_seconds) p50 %.1f ms max %.1f ms, %.0f%% of the "
      "scrape's wall time; the rest (render, HTTP) is outside the lock",
      Percentile(r.lock_ms, 50), Percentile(r.lock_ms, 100),
      100 * Percentile(r.lock_ms, 50) / std::max(Percentile(r.wall_ms, 50), 1e-9));
  // Were the render under the lock, back-to-back scrapes would hold it
  // nearly all the time, and a call would wait half a scrape in the median;
  // outside it, a call waits only when it meets the read. The median is
  // the test: a busy machine's stalls show in the tail either way.
  const double median = Percentile(r.probe_beside_ms, 50), quarter = Percentile(r.wall_ms, 50) / 4;
  Say("listLogicalVolumes(one) alone p50 %.2f ms p99 %.2f ms (n=%zu); beside back-to-back scrapes p50 %.2f ms "
      "(target < a quarter scrape, %.1f ms) %s, p99 %.2f ms max %.2f ms (n=%zu, %d scrapes)",
      Percentile(r.probe_alone_ms, 50), Percentile(r.probe_alone_ms, 99), r.probe_alone_ms.size(), median, quarter,
      Verdict(median < quarter), Percentile(r.probe_beside_ms, 99), Percentile(r.probe_beside_ms, 100),
      r.probe_beside_ms.size(), r.scrapes_beside);
}

int Run(const Options& o) {
  const Clock::time_point t_start = Clock::now();
  std::string secret;
  Status st = ReadSecretFile(o.secret_file, &secret);
  if (!st.ok()) throw Fatal("secret: " + st.ToString());
  RaiseXmlSizeLimit();
  RpcEndpoint ep;
  ep.url = o.url;
  ep.password = secret;
  std::vector<std::string> problems;  // errors found once the numbers exist

  std::string sizes;
  for (int64_t s : o.disk_sizes_gib) sizes += (sizes.empty() ? "" : ",") + std::to_string(s);
  Say("params servers=%d disks=%d disk-sizes=%s GiB racks=%d fill=%.2f vol-scale=%g "
      "redundancy3=%.2f seed=%" PRIu64,
      o.servers, o.disks, sizes.c_str(), o.racks, o.fill, o.vol_scale, o.redundancy3, o.seed);

  ManagerProcess mgr(o.manager_argv, o.manager_log);
  st = mgr.Start();
  if (!st.ok()) throw Fatal("start manager: " + st.ToString());
  auto rpc = std::make_unique<RpcClient>(ep);
  WaitServing(mgr, Clock::now(), [&] { return Call(*rpc, "getClusterStatus", {}); });

  std::mt19937_64 rng(o.seed);
  Clock::time_point t0 = Clock::now();
  const std::vector<ModelDisk> model = RegisterCluster(*rpc, o, rng);
  const double register_s = Secs(t0, Clock::now());
  ClusterStatus cs = GetStatus(*rpc);
  Say("cluster %d ssvr x %d pdsk, %s raw, chunk %" PRId64 " GiB (registered in %.1f s)", o.servers,
      o.disks, FormatBytes(static_cast<uint64_t>(cs.capacity) << 30).c_str(), cs.chunk, register_s);

  t0 = Clock::now();
  const FillResult fill = Fill(*rpc, o, rng, cs);
  const double fill_s = Secs(t0, Clock::now());
  cs = GetStatus(*rpc);
  const double filled = static_cast<double>(cs.used) / static_cast<double>(cs.capacity);
  if (fill.enospc > 0)
    problems.push_back(std::to_string(fill.enospc) + " createLogicalVolume ENOSPC before the fill target");

  const Balance bal = MeasureBalance(*rpc);
  const RandomPlacementResult rnd = SimulateRandomPlacement(model, fill.volumes, cs.chunk, o.seed + 1);

  size_t listed = 0;
  const std::vector<double> all_ms = TimeCalls(o.list_all_reps, o.list_budget_s, [&] {
    listed = Array(MustCall(*rpc, "listLogicalVolumes")).size();
  });
  if (!all_ms.empty() && listed != fill.names.size())
    problems.push_back(Printf("listLogicalVolumes lists %zu volumes, %zu were created", listed, fill.names.size()));
  std::uniform_int_distribution<size_t> name_pick(0, fill.names.size() - 1);
  const std::vector<double> one_ms = TimeCalls(o.list_one_reps, o.list_budget_s, [&] {
    MustCall(*rpc, "listLogicalVolumes", {{"lvolname", xmlrpc_c::value_string(fill.names[name_pick(rng)])}});
  });
  const long rss_kib = mgr.PeakRssKib();
  std::unique_ptr<ScrapeResult> scrape;
  if (!o.metrics_url.empty()) scrape = std::make_unique<ScrapeResult>(ScrapePhase(*rpc, o, mgr, fill.names, rng));

  // Restart: from exec of the new process until it answers, then until the
  // whole volume list comes back; state must have survived.
  t0 = Clock::now();
  st = mgr.Stop(60);
  const double shutdown_s = Secs(t0, Clock::now());
  if (!st.ok()) throw Fatal("stop: " + st.ToString());
  rpc = std::make_unique<RpcClient>(ep);
  t0 = Clock::now();
  st = mgr.Start();
  if (!st.ok()) throw Fatal("restart manager: " + st.ToString());
  const double first_s = WaitServing(mgr, t0, [&] {
    return Call(*rpc, "listLogicalVolumes", {{"lvolname", xmlrpc_c::value_string(fill.names.back())}});
  });
  const size_t relisted = Array(MustCall(*rpc, "listLogicalVolumes")).size();
  const double full_s = Secs(t0, Clock::now());
  if (relisted != fill.names.size())
    problems.push_back(Printf("after restart listLogicalVolumes lists %zu volumes, %zu were created", relisted,
                              fill.names.size()));
  const ClusterStatus after = GetStatus(*rpc);
  if (after.used != cs.used || after.capacity != cs.capacity)
    problems.push_back(Printf("after restart used/capacity %" PRId64 "/%" PRId64 " GiB, before %" PRId64
                              "/%" PRId64, after.used, after.capacity, cs.used, cs.capacity));
  const long rss2_kib = mgr.PeakRssKib();
  st = mgr.Stop(60);
  if (!st.ok()) problems.push_back("final stop: " + st.ToString());

  const double balance = bal.max / bal.mean;
  const double c99 = Percentile(fill.create_ms, 99);
  Say("volumes created %zu (filled %.1f%%) in %.1f s", fill.names.size(), 100 * filled, fill_s);
  Say("balance max/mean used fraction %.3f (target <= 1.02) %s; max %.3f mean %.3f min %.3f over %zu disks",
      balance, Verdict(balance <= 1.02), bal.max, bal.mean, bal.min, bal.disks);
  // Random placement fills small disks up first, which lifts the plain mean
  // of fractions too; max over the cluster-wide fill shows the waste better.
  Say("random placement, same disks and volumes: max/mean %.3f (max %.3f mean %.3f; max/cluster fill %.3f)%s",
      rnd.max_over_mean, rnd.max_fraction, rnd.mean_fraction, rnd.max_fraction / rnd.overall_fraction,
      rnd.unplaced_legs ? Printf(", %" PRId64 " legs unplaced", rnd.unplaced_legs).c_str() : "");
  Say("createLogicalVolume p50 %.1f ms p99 %.1f ms max %.1f ms (target p99 <= 20 ms) %s",
      Percentile(fill.create_ms, 50), c99, Percentile(fill.create_ms, 100), Verdict(c99 <= 20));
  Say("createLogicalVolume ms by size: %s", CreateBySize(fill, o.vol_scale).c_str());
  Say("createLogicalVolume p50 by tenth of the volumes created (ms):%s", CreateTrend(fill.create_ms).c_str());
  Say("listLogicalVolumes(all, %zu vols) p50 %.1f ms p99 %.1f ms (n=%zu); (one) p50 %.2f ms p99 %.2f ms (n=%zu)",
      listed, Percentile(all_ms, 50), Percentile(all_ms, 99), all_ms.size(), Percentile(one_ms, 50),
      Percentile(one_ms, 99), one_ms.size());
  Say("manager peak RSS %.0f MiB (after restart and one full list %.0f MiB)", rss_kib / 1024.0, rss2_kib / 1024.0);
  Say("restart to first answer %.2f s (target <= 2 s) %s; to full list %.2f s; shutdown took %.2f s", first_s,
      Verdict(first_s <= 2), full_s, shutdown_s);
  if (scrape) SayScrape(*scrape, bal.disks, listed);
  Say("total runtime %.0f s", Secs(t_start, Clock::now()));
  for (const std::string& p : problems) Say("ERROR %s", p.c_str());
  return problems.empty() ? 0 : 1;
}

std::vector<int64_t> ParseSizes(const std::string& csv) {
  std::vector<int64_t> out;
  std::stringstream ss(csv);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
    }
    if (used == 0 || used != item.size() || v <= 0) throw Fatal("bad --disk-sizes item '" + item + "'");
    out.push_back(v);
  }
  if (out.empty()) throw Fatal("--disk-sizes is empty");
  return out;
}

}  // namespace
}  // namespace bench
}  // namespace vastsky

int main(int argc, char** argv) {
  using vastsky::bench::Fatal;
  vastsky::bench::Options o;
  // Everything after "--" is the manager's command line, untouched by TCLAP.
  int split = argc;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--") {
      split = i;
      break;
    }
  for (int i = split + 1; i < argc; ++i) o.manager_argv.push_back(argv[i]);
  try {
    TCLAP::CmdLine cmd("Benchmarks vastsky-manager on a simulated 1000-server cluster", ' ', "1");
    TCLAP::ValueArg<std::string> url("", "url", "manager URL, no credentials", true, "", "URL", cmd);
    TCLAP::ValueArg<std::string> secret("", "secret-file", "cluster secret", true, "", "FILE", cmd);
    TCLAP::ValueArg<std::string> log("", "manager-log", "manager output goes here", true, "", "FILE", cmd);
    TCLAP::ValueArg<int> servers("", "servers", "storage servers", false, o.servers, "N", cmd);
    TCLAP::ValueArg<int> disks("", "disks", "disks per server", false, o.disks, "N", cmd);
    TCLAP::ValueArg<std::string> sizes("", "disk-sizes", "disk sizes in GiB, drawn uniformly", false,
                                       "480,960,1920,3840", "LIST", cmd);
    TCLAP::ValueArg<int> racks("", "racks", "failure domains", false, o.racks, "N", cmd);
    TCLAP::ValueArg<double> fill("", "fill", "fill target, used/capacity", false, o.fill, "F", cmd);
    TCLAP::ValueArg<double> scale("", "vol-scale", "multiplies every volume size", false, o.vol_scale, "X", cmd);
    TCLAP::ValueArg<double> r3("", "redundancy3", "share of volumes with 3 legs", false, o.redundancy3, "F", cmd);
    TCLAP::ValueArg<int> all_reps("", "list-all-reps", "full listLogicalVolumes calls", false, o.list_all_reps,
                                  "N", cmd);
    TCLAP::ValueArg<int> one_reps("", "list-one-reps", "single-volume listLogicalVolumes calls", false,
                                  o.list_one_reps, "N", cmd);
    TCLAP::ValueArg<double> budget("", "list-budget", "seconds per list kind (at least 5 calls)", false,
                                   o.list_budget_s, "S", cmd);
    TCLAP::ValueArg<std::string> metrics_url("", "metrics-url", "the manager's /metrics; none: no scrape phase",
                                             false, "", "URL", cmd);
    TCLAP::ValueArg<std::string> metrics_secret("", "metrics-secret-file", "password of the user prometheus", false,
                                                "", "FILE", cmd);
    TCLAP::ValueArg<int> scrapes("", "scrapes", "timed scrapes of /metrics", false, o.scrapes, "N", cmd);
    TCLAP::ValueArg<uint64_t> seed("", "seed", "RNG seed", false, o.seed, "N", cmd);
    cmd.parse(split, argv);
    o.url = url.getValue();
    o.secret_file = secret.getValue();
    o.manager_log = log.getValue();
    o.servers = servers.getValue();
    o.disks = disks.getValue();
    o.disk_sizes_gib = vastsky::bench::ParseSizes(sizes.getValue());
    o.racks = racks.getValue();
    o.fill = fill.getValue();
    o.vol_scale = scale.getValue();
    o.redundancy3 = r3.getValue();
    o.list_all_reps = all_reps.getValue();
    o.list_one_reps = one_reps.getValue();
    o.list_budget_s = budget.getValue();
    o.seed = seed.getValue();
    o.metrics_url = metrics_url.getValue();
    o.metrics_secret_file = metrics_secret.getValue();
    o.scrapes = scrapes.getValue();
    if (!o.metrics_url.empty() && o.metrics_secret_file.empty()) throw Fatal("--metrics-url needs --metrics-secret-file");
    if (o.manager_argv.empty()) throw Fatal("no manager command line after --");
    if (o.servers < 1 || o.servers > 250 * 256 || o.disks < 1 || o.racks < 1 || o.fill <= 0 || o.fill >= 1 ||
        o.vol_scale <= 0 || o.redundancy3 < 0 || o.redundancy3 > 1 || o.list_all_reps < 0 || o.list_one_reps < 0 || o.scrapes < 1)
      throw Fatal("a parameter is out of range");
    return vastsky::bench::Run(o);
  } catch (const TCLAP::ArgException& e) {
    std::fprintf(stderr, "vastsky-bench: %s: %s\n", e.argId().c_str(), e.error().c_str());
  } catch (const std::exception& e) {
    std::printf("bench: ERROR %s\n", e.what());
  }
  return 2;
}
