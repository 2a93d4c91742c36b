// The agents' /metrics (agents/PROTOCOL.md, "Metrics"): the head's per
// volume I/O counters and mirror states from its last look, the storage
// agent's pool use and scrub progress, and the kernel's stat lines they
// come from.
#include <cppunit/extensions/HelperMacros.h>

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "agents/head/head_metrics.h"
#include "agents/head/watch.h"
#include "agents/storage/storage_metrics.h"
#include "lib/clock.h"
#include "tests/unit/head_fixture.h"
#include "tests/unit/metric_text.h"

using namespace vastsky;
using namespace vastsky::head_test;

namespace {
// A 4.18+ kernel's line: reads 100 (800 sectors, 30 ms), writes 50 (4096
// sectors, 70 ms), 2 in flight, busy 90 ms, queue 120 ms, 3 discards (64
// sectors, 5 ms), and two flush fields.
const char kStat[] = "     100        0      800       30       50        0     4096       70        2       90      120"
                     "        3        0       64        5        7        1\n";
}  // namespace

class AgentMetricsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AgentMetricsTest);
  CPPUNIT_TEST(BlockStatLinesOfEveryKernel);
  CPPUNIT_TEST(HeadVolumeIoFromTheKernelsCounters);
  CPPUNIT_TEST(HeadMirrorSyncStateFromDmRaid);
  CPPUNIT_TEST(HeadScrapeBeforeTheFirstLook);
  CPPUNIT_TEST(StoragePoolUseAndScrubProgress);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    char tmpl[] = "/tmp/vastsky-agent-metrics-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void tearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    CPPUNIT_ASSERT_EQUAL(0, system(cmd.c_str()));
  }

  void BlockStatLinesOfEveryKernel() {
    BlockIoStats s;
    CPPUNIT_ASSERT(ParseBlockStat(kStat, &s).ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t{100}, s.reads);
    CPPUNIT_ASSERT_EQUAL(uint64_t{4096}, s.write_sectors);
    CPPUNIT_ASSERT_EQUAL(uint64_t{120}, s.queue_ms);
    CPPUNIT_ASSERT_EQUAL(uint64_t{64}, s.discard_sectors);
    // Before 4.18 there were no discard fields.
    CPPUNIT_ASSERT(ParseBlockStat("1 0 8 1 2 0 16 3 0 4 5", &s).ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t{2}, s.writes);
    CPPUNIT_ASSERT_EQUAL(uint64_t{0}, s.discards);
    for (const char* bad : {"", "1 2 3", "1 0 8 1 2 0 16 3 0 4 x", "1 0 8 1 2 0 16 3 0 4 5 6 7 8 9 10 11 12",
                            "1 0 8 1 2 0 16 3 0 4 -5", "1 0 8 1 2 0 16 3 0 4 22222222222222244442"})
      CPPUNIT_ASSERT_EQUAL_MESSAGE(bad, EPROTO, ParseBlockStat(bad, &s).code());
  }

  // PROTOCOL.md: "per volume, the kernel's I/O counters of its device
  // (/sys/block/dm-N/stat): operations, bytes and time of reads, writes
  // and discards, time busy, time in queue, requests in flight".
  void HeadVolumeIoFromTheKernelsCounters() {
    OpenHead();
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(7, 2), "user", "secret-secret", &device).ok());
    std::ofstream(dm_->DevicePath("vastsky-7") + ".stat") << kStat;
    const HeadLook look = Look();  // before now, as the agent takes them
    const std::string t = RenderHeadMetrics(look, SystemClock()->MonotonicMs());
    const std::string l = "{lvol=\"vol7\"}";
    CPPUNIT_ASSERT_EQUAL(100.0, MetricValue(t, "vastsky_head_volume_reads_total" + l));
    CPPUNIT_ASSERT_EQUAL(800.0 * 512, MetricValue(t, "vastsky_head_volume_read_bytes_total" + l));
    CPPUNIT_ASSERT_EQUAL(50.0, MetricValue(t, "vastsky_head_volume_writes_total" + l));
    CPPUNIT_ASSERT_EQUAL(4096.0 * 512, MetricValue(t, "vastsky_head_volume_written_bytes_total" + l));
    CPPUNIT_ASSERT_DOUBLES_EQUAL(0.07, MetricValue(t, "vastsky_head_volume_write_seconds_total" + l), 1e-9);
    CPPUNIT_ASSERT_DOUBLES_EQUAL(0.12, MetricValue(t, "vastsky_head_volume_queue_seconds_total" + l), 1e-9);
    CPPUNIT_ASSERT_DOUBLES_EQUAL(0.09, MetricValue(t, "vastsky_head_volume_busy_seconds_total" + l), 1e-9);
    CPPUNIT_ASSERT_EQUAL(2.0, MetricValue(t, "vastsky_head_volume_in_flight" + l));
    CPPUNIT_ASSERT_EQUAL(3.0, MetricValue(t, "vastsky_head_volume_discards_total" + l));
    CPPUNIT_ASSERT_EQUAL(1.0, MetricValue(t, "vastsky_head_volume_assembled" + l));
    CPPUNIT_ASSERT_EQUAL(2.0 * 1073741824, MetricValue(t, "vastsky_head_volume_capacity_bytes" + l));
    const double age = MetricValue(t, "vastsky_head_look_age_seconds");
    CPPUNIT_ASSERT_MESSAGE(std::to_string(age), age >= 0 && age < 60);  // just taken; a loaded machine is slow
  }

  // PROTOCOL.md: "per mirror, dm raid's view: its legs, the legs alive
  // and in sync, the share synced and the sync action".
  void HeadMirrorSyncStateFromDmRaid() {
    OpenHead();
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(7, 2), "user", "secret-secret", &device).ok());
    std::ofstream(dm_->DevicePath("vastsky-7-m701") + ".status") << "raid1 2 Aa 512/2048 recover 0 0 -";
    const std::string t = RenderHeadMetrics(Look(), SystemClock()->MonotonicMs());
    const std::string whole = "{lvol=\"vol7\",mirror=\"" + FormatId("mirr", 700) + "\"";
    const std::string half = "{lvol=\"vol7\",mirror=\"" + FormatId("mirr", 701) + "\"";
    CPPUNIT_ASSERT_EQUAL(2.0, MetricValue(t, "vastsky_head_mirror_legs" + whole + "}"));
    CPPUNIT_ASSERT_EQUAL(2.0, MetricValue(t, "vastsky_head_mirror_legs_in_sync" + whole + "}"));
    CPPUNIT_ASSERT_EQUAL(1.0, MetricValue(t, "vastsky_head_mirror_sync_ratio" + whole + "}"));
    CPPUNIT_ASSERT_EQUAL(1.0, MetricValue(t, "vastsky_head_mirror_sync_action{action=\"idle\"," + whole.substr(1) + "}"));
    CPPUNIT_ASSERT_EQUAL(1.0, MetricValue(t, "vastsky_head_mirror_legs_in_sync" + half + "}"));
    CPPUNIT_ASSERT_EQUAL(0.25, MetricValue(t, "vastsky_head_mirror_sync_ratio" + half + "}"));
    CPPUNIT_ASSERT_EQUAL(1.0, MetricValue(t, "vastsky_head_mirror_sync_action{action=\"recover\"," + half.substr(1) + "}"));
    CPPUNIT_ASSERT_EQUAL(0.0, MetricValue(t, "vastsky_head_mirror_sync_action{action=\"idle\"," + half.substr(1) + "}"));
  }

  void HeadScrapeBeforeTheFirstLook() {
    const std::string t = RenderHeadMetrics(HeadLook(), SystemClock()->MonotonicMs());
    CPPUNIT_ASSERT_EQUAL(-1.0, MetricValue(t, "vastsky_head_look_age_seconds"));
    CPPUNIT_ASSERT(t.find("vastsky_head_volume_reads_total{") == std::string::npos);
  }

  // PROTOCOL.md: "per disk, its thin pool's use as the last heartbeat
  // read it, and the scrub's position, passes and bad blocks found".
  void StoragePoolUseAndScrubProgress() {
    PoolUsageLook pools;
    pools.at_ms = 1000;
    PoolUsage& u = pools.pools[3];
    u.data_mib = 1024;
    u.data_used_mib = 256;
    u.meta_kib = 4096;
    u.meta_used_kib = 100;
    u.mode = "out_of_data_space";
    Scrubber scrub(ScrubOptions{1 << 20, 1}, [](const std::string&, int64_t at, int64_t) {
      return at == (int64_t{1} << 30) ? Status::Error(EIO, "medium error") : Status::OK();
    }, nullptr, nullptr);
    std::vector<int64_t> bad;
    CPPUNIT_ASSERT(scrub.ScrubOne(ScrubDisk{3, "/dev/x"}, int64_t{3} << 30, &bad).ok());
    const std::string t = RenderStorageMetrics(pools, scrub.Progress(), 3500);
    const std::string l = "{pdsk=\"" + FormatId("pdsk", 3) + "\"}";
    CPPUNIT_ASSERT_EQUAL(2.5, MetricValue(t, "vastsky_storage_pool_look_age_seconds"));
    CPPUNIT_ASSERT_EQUAL(1024.0 * 1048576, MetricValue(t, "vastsky_storage_pool_data_bytes" + l));
    CPPUNIT_ASSERT_EQUAL(256.0 * 1048576, MetricValue(t, "vastsky_storage_pool_data_used_bytes" + l));
    CPPUNIT_ASSERT_EQUAL(100.0 * 1024, MetricValue(t, "vastsky_storage_pool_metadata_used_bytes" + l));
    CPPUNIT_ASSERT_EQUAL(1.0, MetricValue(t, "vastsky_storage_pool_mode{mode=\"out_of_data_space\"," + l.substr(1)));
    CPPUNIT_ASSERT_EQUAL(0.0, MetricValue(t, "vastsky_storage_pool_mode{mode=\"rw\"," + l.substr(1)));
    // ScrubOne is a pass's read of one disk: where it got, not a pass ended.
    CPPUNIT_ASSERT_EQUAL(3.0 * 1073741824, MetricValue(t, "vastsky_storage_scrub_position_bytes" + l));
    CPPUNIT_ASSERT_EQUAL(3.0 * 1073741824, MetricValue(t, "vastsky_storage_scrub_disk_bytes" + l));
  }

 private:
  void OpenHead() {
    OpenSimHead(dir_, &dm_, &iscsi_, &assembly_);
  }
  // One look of a real HeadWatch, as the head agent's thread takes it.
  HeadLook Look() {
    HeadWatch watch(assembly_.get(), 3600);
    std::thread run([&watch] { watch.Run(); });
    HeadLook look;
    for (int i = 0; i < 3000 && look.at_ms < 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      look = watch.LastLook();
    }
    watch.Stop();
    run.join();
    CPPUNIT_ASSERT(look.at_ms >= 0);
    return look;
  }

  std::string dir_;
  std::unique_ptr<DeviceMapper> dm_;
  std::unique_ptr<IscsiInitiator> iscsi_;
  std::unique_ptr<Assembly> assembly_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(AgentMetricsTest);
