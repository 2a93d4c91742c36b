#include "agents/head/head_metrics.h"

#include "lib/ids.h"
#include "lib/metric_families.h"
#include "lib/units.h"

namespace vastsky {

namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Labels;

// dm raid's sync actions (the kernel's Documentation/admin-guide/device-mapper/dm-raid.rst).
const std::vector<const char*> kActions = {"idle", "frozen", "resync", "recover", "check", "repair", "reshape"};

// The kernel's I/O counters of one volume's device.
struct IoFamilies {
  Family<Counter>&reads, &read_bytes, &read_seconds, &writes, &written_bytes, &write_seconds;
  Family<Counter>&discards, &discarded_bytes, &discard_seconds, &busy_seconds, &queue_seconds;
  Family<Gauge>& in_flight;
  explicit IoFamilies(prometheus::Registry& r)
      : reads(CounterFamily(r, "vastsky_head_volume_reads_total", "Reads the volume's device completed")),
        read_bytes(CounterFamily(r, "vastsky_head_volume_read_bytes_total", "Bytes the volume's device read")),
        read_seconds(CounterFamily(r, "vastsky_head_volume_read_seconds_total", "Time reads took, summed")),
        writes(CounterFamily(r, "vastsky_head_volume_writes_total", "Writes the volume's device completed")),
        written_bytes(CounterFamily(r, "vastsky_head_volume_written_bytes_total", "Bytes the volume's device wrote")),
        write_seconds(CounterFamily(r, "vastsky_head_volume_write_seconds_total", "Time writes took, summed")),
        discards(CounterFamily(r, "vastsky_head_volume_discards_total", "Discards the volume's device completed")),
        discarded_bytes(CounterFamily(r, "vastsky_head_volume_discarded_bytes_total", "Bytes discarded")),
        discard_seconds(CounterFamily(r, "vastsky_head_volume_discard_seconds_total", "Time discards took, summed")),
        busy_seconds(CounterFamily(r, "vastsky_head_volume_busy_seconds_total",
                                   "Time the device had I/O in flight (its utilisation when taken as a rate)")),
        queue_seconds(CounterFamily(r, "vastsky_head_volume_queue_seconds_total",
                                    "Time requests spent in flight, summed over them (the mean queue length as a "
                                    "rate)")),
        in_flight(GaugeFamily(r, "vastsky_head_volume_in_flight", "Requests in flight now")) {}

  void Add(const Labels& l, const BlockIoStats& s) {
    constexpr double kMs = 1e-3, kSector = 512.0;
    reads.Add(l).Increment(static_cast<double>(s.reads));
    read_bytes.Add(l).Increment(static_cast<double>(s.read_sectors) * kSector);
    read_seconds.Add(l).Increment(static_cast<double>(s.read_ms) * kMs);
    writes.Add(l).Increment(static_cast<double>(s.writes));
    written_bytes.Add(l).Increment(static_cast<double>(s.write_sectors) * kSector);
    write_seconds.Add(l).Increment(static_cast<double>(s.write_ms) * kMs);
    discards.Add(l).Increment(static_cast<double>(s.discards));
    discarded_bytes.Add(l).Increment(static_cast<double>(s.discard_sectors) * kSector);
    discard_seconds.Add(l).Increment(static_cast<double>(s.discard_ms) * kMs);
    busy_seconds.Add(l).Increment(static_cast<double>(s.io_ms) * kMs);
    queue_seconds.Add(l).Increment(static_cast<double>(s.queue_ms) * kMs);
    in_flight.Add(l).Set(static_cast<double>(s.in_flight));
  }
};

// dm raid's view of one mirror: its legs, how many it holds alive and in
// sync ('A'), how far the sync is, and what it is doing.
struct MirrorFamilies {
  Family<Gauge>&legs, &legs_in_sync, &sync_ratio, &action;
  explicit MirrorFamilies(prometheus::Registry& r)
      : legs(GaugeFamily(r, "vastsky_head_mirror_legs", "Legs of the mirror's raid as the kernel has it")),
        legs_in_sync(GaugeFamily(r, "vastsky_head_mirror_legs_in_sync", "Legs alive and in sync (dm raid's 'A')")),
        sync_ratio(GaugeFamily(r, "vastsky_head_mirror_sync_ratio",
                               "Share of the mirror dm raid has synced (1 when whole or idle)")),
        action(GaugeFamily(r, "vastsky_head_mirror_sync_action", "1 for what dm raid is doing now, else 0")) {}

  void Add(const Labels& volume, const MirrorState& m) {
    if (m.health.empty()) return;  // the status was not readable: no guess
    Labels l = volume;
    l["mirror"] = FormatId("mirr", m.mirror_id);
    legs.Add(l).Set(static_cast<double>(m.health.size()));
    double alive = 0;
    for (char c : m.health) alive += c == 'A' ? 1 : 0;
    legs_in_sync.Add(l).Set(alive);
    int64_t done = 0, total = 0;
    if (ParseSyncRatio(m.sync, &done, &total))
      sync_ratio.Add(l).Set(static_cast<double>(done) / static_cast<double>(total));
    SetOneOf(action, l, "action", kActions, m.action);
  }
};

}  // namespace

std::string RenderHeadMetrics(const HeadLook& look, int64_t now_ms) {
  prometheus::Registry r;
  AddAge(r, "vastsky_head_look_age_seconds",
         "Seconds since the head agent last looked at its volumes (what the other series show); no series before "
         "the first look",
         look.at_ms, now_ms);
  Family<Gauge>& assembled = GaugeFamily(r, "vastsky_head_volume_assembled", "1 if the volume's device is assembled");
  Family<Gauge>& open = GaugeFamily(r, "vastsky_head_volume_open", "1 if the volume's device is open (a VM uses it)");
  Family<Gauge>& read_only = GaugeFamily(r, "vastsky_head_volume_read_only", "1 if the volume's device refuses writes");
  Family<Gauge>& capacity = GaugeFamily(r, "vastsky_head_volume_capacity_bytes", "Size of the volume's device");
  IoFamilies io(r);
  MirrorFamilies mirrors(r);
  for (const VolumeState& v : look.volumes) {
    const Labels l = {{"lvol", v.name}};  // the name the manager's series give it too
    assembled.Add(l).Set(v.assembled ? 1 : 0);
    open.Add(l).Set(v.open ? 1 : 0);
    read_only.Add(l).Set(v.read_only ? 1 : 0);
    capacity.Add(l).Set(static_cast<double>(v.capacity_gib) * 1073741824.0);
    if (v.io_known) io.Add(l, v.io);
    for (const MirrorState& m : v.mirrors) mirrors.Add(l, m);
  }
  return RenderMetrics(r);
}

}  // namespace vastsky
