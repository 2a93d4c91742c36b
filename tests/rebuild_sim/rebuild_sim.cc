// vastsky-rebuild-sim: the manager's own allocator and rebuild scheduler over
// a simulated cluster, to show how fast a lost disk or server comes back.
//
// The cluster: servers x disks of one size, filled to `fill` with mirrors
// placed by the Allocator exactly as createLogicalVolume places them. Then a
// disk (or a whole server) fails: each lost leg gets a replacement through
// the same load-aware PlaceMirror the manager's failure handling uses, and
// the rebuilds run under PickRebuilds, one chunk copy taking chunk / rate on
// both the source and the destination disk. Printed (one "bench:" line per
// figure, MISS when a target is missed):
//  - time to full redundancy;
//  - the lower bound: the most data any one surviving disk reads or writes,
//    over the per-disk rate; and their ratio (target <= 1.15);
//  - the speedup over rebuilding onto one dedicated spare disk, which must
//    write every lost chunk itself (target >= 0.8 x (N-1)/2 for a disk).
#include <algorithm>
#include <cstdio>
#include <map>
#include <queue>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <tclap/CmdLine.h>

#include "manager/allocator.h"
#include "manager/rebuild_scheduler.h"

namespace vastsky {
namespace {

struct Options {
  int servers = 100, disks = 12;
  double disk_tb = 12;  // decimal TB, as disks are sold
  double fill = 0.7;
  int chunk_gib = 4, redundancy = 3;
  double rate_mibs = 100;  // per-disk rebuild rate
};

struct Leg {
  int64_t pdsk = 0, ssvr = 0;
};

class Cluster {
 public:
  explicit Cluster(const Options& o) : o_(o) {
    const int64_t size_mib = static_cast<int64_t>(o.disk_tb * 1e12 / (1 << 20));
    for (int s = 1; s <= o.servers; ++s)
      for (int d = 0; d < o.disks; ++d) {
        const int64_t id = (s - 1) * o.disks + d + 1;
        alloc_.AddDisk({id, s, size_mib, 1.0, true}, {{0, size_mib}});
        ssvr_of_[id] = s;
      }
    leg_mib_ = o.chunk_gib * 1024 + 1;
    const int64_t target = static_cast<int64_t>(o.fill * size_mib / leg_mib_) * o.servers * o.disks / o.redundancy;
    for (int64_t m = 0; m < target; ++m) {
      Journal j;
      std::vector<Placement> placed;
      if (!alloc_.PlaceMirror(o.redundancy, leg_mib_, {}, &j, &placed).ok()) break;
      std::vector<Leg> legs;
      for (const Placement& p : placed) {
        legs.push_back({p.pdsk_id, p.ssvr_id});
        on_disk_[p.pdsk_id].push_back(mirrors_.size());
      }
      mirrors_.push_back(legs);
    }
  }

  struct Result {
    int64_t lost_chunks = 0;
    double seconds = 0, bound_s = 0, spare_s = 0;
    int64_t max_disk_chunks = 0;
  };

  // Fails the given disks, replaces their legs and runs every rebuild.
  Result Fail(const std::set<int64_t>& dead) {
    for (int64_t d : dead) alloc_.SetAllocatable(d, false);
    std::vector<RebuildTask> queue;
    std::unordered_map<int64_t, double> load;
    std::set<size_t> hit;
    for (int64_t d : dead)
      for (size_t m : on_disk_[d]) hit.insert(m);
    // As the manager does: all lost legs of the event first get their
    // sources, then their destinations, each by load.
    for (size_t m : hit) {
      RebuildTask t;
      t.id = static_cast<int64_t>(m) + 1;
      for (const Leg& l : mirrors_[m])
        if (!dead.count(l.pdsk)) t.sources.push_back(l.pdsk);
      t.live_legs = static_cast<int>(t.sources.size());
      queue.push_back(t);
    }
    ChooseSources(&queue, &load);
    for (RebuildTask& t : queue) {
      const size_t m = static_cast<size_t>(t.id - 1);
      std::vector<Placement> keep;
      for (const Leg& l : mirrors_[m]) keep.push_back({l.pdsk, l.ssvr, 0, 0});
      for (const Leg& l : mirrors_[m]) {
        if (!dead.count(l.pdsk)) continue;
        Journal j;
        std::vector<Placement> placed;
        if (!alloc_.PlaceMirror(1, leg_mib_, keep, &j, &placed, &load, t.source).ok())
          throw std::runtime_error("no room for a replacement");
        keep.push_back(placed[0]);
        t.dests.push_back(placed[0].pdsk_id);
        load[placed[0].pdsk_id] += 1;
      }
    }
    Result r;
    r.lost_chunks = 0;
    for (const RebuildTask& t : queue) r.lost_chunks += t.dests.size();
    // Event loop: every copy takes the same time on its disks.
    const double copy_s = o_.chunk_gib * 1024.0 / o_.rate_mibs;
    std::map<int64_t, int64_t> work;  // chunks read or written per disk
    std::set<int64_t> busy;
    using Done = std::pair<double, std::vector<int64_t>>;  // time, disks
    std::priority_queue<Done, std::vector<Done>, std::greater<Done>> running;
    double now = 0;
    while (!queue.empty() || !running.empty()) {
      std::vector<RebuildStart> starts = PickRebuilds(queue, busy, 1 << 30);
      std::set<int64_t> started;
      for (const RebuildStart& s : starts) {
        started.insert(s.id);
        auto t = std::find_if(queue.begin(), queue.end(), [&](const RebuildTask& x) { return x.id == s.id; });
        std::vector<int64_t> disks = t->dests;
        disks.push_back(s.source);
        for (int64_t d : disks) {
          busy.insert(d);
          ++work[d];
        }
        running.push({now + copy_s, disks});
      }
      queue.erase(std::remove_if(queue.begin(), queue.end(),
                                 [&](const RebuildTask& x) { return started.count(x.id) > 0; }),
                  queue.end());
      if (running.empty()) throw std::runtime_error("rebuilds left that can never start");
      now = running.top().first;
      while (!running.empty() && running.top().first == now) {
        for (int64_t d : running.top().second) busy.erase(d);
        running.pop();
      }
    }
    r.seconds = now;
    for (const auto& w : work) r.max_disk_chunks = std::max(r.max_disk_chunks, w.second);
    r.bound_s = r.max_disk_chunks * copy_s;
    r.spare_s = r.lost_chunks * copy_s;
    return r;
  }

  int64_t mirrors() const { return mirrors_.size(); }

 private:
  Options o_;
  Allocator alloc_;
  int64_t leg_mib_ = 0;
  std::unordered_map<int64_t, int64_t> ssvr_of_;
  std::vector<std::vector<Leg>> mirrors_;
  std::unordered_map<int64_t, std::vector<size_t>> on_disk_;
};

std::string Hours(double s) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.0f s (%.2f h)", s, s / 3600);
  return buf;
}

// Prints one scenario; returns false if a target is missed.
bool Report(const char* what, const Cluster::Result& r, double speedup_target) {
  const double ratio = r.seconds / r.bound_s, speedup = r.spare_s / r.seconds;
  const bool ratio_ok = ratio <= 1.15, speedup_ok = speedup >= speedup_target;
  std::printf("bench: rebuild %s: %lld chunks lost, full redundancy after %s\n", what,
              static_cast<long long>(r.lost_chunks), Hours(r.seconds).c_str());
  std::printf("bench: rebuild %s: lower bound %s (busiest disk moves %lld chunks), ratio %.3f (target <= 1.15)%s\n",
              what, Hours(r.bound_s).c_str(), static_cast<long long>(r.max_disk_chunks), ratio,
              ratio_ok ? "" : " MISS");
  if (speedup_target > 0)
    std::printf("bench: rebuild %s: one dedicated spare would take %s: speedup %.0fx (target >= %.0fx)%s\n", what,
                Hours(r.spare_s).c_str(), speedup, speedup_target, speedup_ok ? "" : " MISS");
  else
    std::printf("bench: rebuild %s: one dedicated spare disk would take %s: speedup %.0fx\n", what,
                Hours(r.spare_s).c_str(), speedup);
  return ratio_ok && (speedup_target <= 0 || speedup_ok);
}

int Run(const Options& o) {
  const int n = o.servers * o.disks;
  std::printf("bench: rebuild simulator: %d servers x %d disks of %.0f TB, %.0f%% full, %d GiB chunks, %d legs, "
              "%.0f MiB/s per disk\n",
              o.servers, o.disks, o.disk_tb, o.fill * 100, o.chunk_gib, o.redundancy, o.rate_mibs);
  bool ok = true;
  {
    Cluster c(o);
    ok = Report("of one disk", c.Fail({1}), 0.8 * (n - 1) / 2) && ok;
  }
  {
    Cluster c(o);
    std::set<int64_t> server;
    for (int d = 1; d <= o.disks; ++d) server.insert(d);
    ok = Report("of one server", c.Fail(server), 0) && ok;
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace vastsky

int main(int argc, char** argv) {
  vastsky::Options o;
  try {
    TCLAP::CmdLine cmd("Simulates the rebuild of a failed disk and server with the manager's allocator and scheduler",
                       ' ', "1");
    TCLAP::ValueArg<int> servers("", "servers", "storage servers", false, o.servers, "N", cmd);
    TCLAP::ValueArg<int> disks("", "disks", "disks per server", false, o.disks, "N", cmd);
    TCLAP::ValueArg<double> tb("", "disk-tb", "disk size in TB (10^12 bytes)", false, o.disk_tb, "TB", cmd);
    TCLAP::ValueArg<double> fill("", "fill", "share of every disk in use", false, o.fill, "F", cmd);
    TCLAP::ValueArg<int> chunk("", "chunk-gib", "chunk size in GiB", false, o.chunk_gib, "N", cmd);
    TCLAP::ValueArg<int> legs("", "redundancy", "legs per mirror", false, o.redundancy, "N", cmd);
    TCLAP::ValueArg<double> rate("", "rate", "per-disk rebuild rate, MiB/s", false, o.rate_mibs, "MIBS", cmd);
    cmd.parse(argc, argv);
    o.servers = servers.getValue();
    o.disks = disks.getValue();
    o.disk_tb = tb.getValue();
    o.fill = fill.getValue();
    o.chunk_gib = chunk.getValue();
    o.redundancy = legs.getValue();
    o.rate_mibs = rate.getValue();
    if (o.servers < o.redundancy + 1 || o.servers > 10000 || o.disks < 1 || o.disks > 100 || o.disk_tb <= 0 ||
        o.disk_tb > 100 || o.fill <= 0 || o.fill >= 1 || o.chunk_gib < 1 || o.redundancy < 2 || o.redundancy > 9 ||
        o.rate_mibs <= 0) {
      std::fprintf(stderr, "vastsky-rebuild-sim: a parameter is out of range (see --help)\n");
      return 2;
    }
    return vastsky::Run(o);
  } catch (const TCLAP::ArgException& e) {
    std::fprintf(stderr, "vastsky-rebuild-sim: %s: %s\n", e.argId().c_str(), e.error().c_str());
  } catch (const std::exception& e) {
    std::printf("bench: ERROR %s\n", e.what());
  }
  return 2;
}
