// A thin's mapped blocks (agents/host/thin_pool.h: ParseThinDump,
// ThinPools::Mapped) and the storage agent's legMap behind them
// (agents/PROTOCOL.md, "legMap"): thin_dump's XML parsed, from the real
// thin_dump over metadata that thin_restore wrote (no kernel needed), and
// the sim device-mapper's pools answering as the kernel's do.
#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "agents/host/thin_pool.h"
#include "lib/state_file.h"
#include "lib/subprocess.h"
#include "tests/unit/temp_db.h"
#include "tests/unit/thin_test_files.h"

using namespace vastsky;
using namespace vastsky::thin_test;

namespace {

using Ranges = std::vector<std::pair<int64_t, int64_t>>;

// Runs a tool that must succeed.
void Run(const std::vector<std::string>& argv) {
  SubprocessResult r;
  Status st = RunProgram(argv, 30000, &r);
  CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
  CPPUNIT_ASSERT_EQUAL_MESSAGE(argv[0] + ": " + r.output, 0, r.exit_code);
}

std::string Superblock(const std::string& body, int block_sectors = 128) {
  return "<superblock uuid=\"\" time=\"1\" transaction=\"2\" version=\"2\" data_block_size=\"" +
         std::to_string(block_sectors) + "\" nr_data_blocks=\"2000000\">\n" + body + "</superblock>\n";
}

// A <device> of thin id with mapped_blocks and the mapping lines given.
std::string Device(int id, int mapped, const std::string& mappings) {
  return "  <device dev_id=\"" + std::to_string(id) + "\" mapped_blocks=\"" + std::to_string(mapped) +
         "\" transaction=\"0\" creation_time=\"0\" snap_time=\"1\">\n" + mappings + "  </device>\n";
}

std::string Range(int64_t begin, int64_t data, int64_t length, int time = 0) {
  return "    <range_mapping origin_begin=\"" + std::to_string(begin) + "\" data_begin=\"" + std::to_string(data) +
         "\" length=\"" + std::to_string(length) + "\" time=\"" + std::to_string(time) + "\"/>\n";
}

std::string Single(int64_t block, int64_t data, int time = 0) {
  return "    <single_mapping origin_block=\"" + std::to_string(block) + "\" data_block=\"" + std::to_string(data) +
         "\" time=\"" + std::to_string(time) + "\"/>\n";
}

class FailingDumper : public ThinDumper {
 public:
  Status Dump(const std::string&, int64_t, const std::string&) override {
    return Status::Error(EIO, "thin_dump failed (metadata unreadable)");
  }
};

}  // namespace

class ThinMapTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ThinMapTest);
  CPPUNIT_TEST(RealThinDumpOutputIsParsed);
  CPPUNIT_TEST(SharedSubtreesAreFollowed);
  CPPUNIT_TEST(AnythingUnexpectedIsRefused);
  CPPUNIT_TEST(TooManyRangesIsE2big);
  CPPUNIT_TEST(SimPoolMapsTheBlocksWritten);
  CPPUNIT_TEST(LeftoverSnapshotIsReleasedAndRetried);
  CPPUNIT_TEST(SnapshotIsReleasedWhateverFails);
  CPPUNIT_TEST(LeftoverDumpsRemovedAtStart);
  CPPUNIT_TEST_SUITE_END();

  std::unique_ptr<TempDb> tmp_;

  std::string Xml(const std::string& text) {
    const std::string path = tmp_->dir + "/dump.xml";
    WriteFile(path, text);
    return path;
  }

  Status Parse(const std::string& text, int64_t thin_id, ThinMap* out, size_t max_ranges = 1000) {
    return ParseThinDump(Xml(text), thin_id, max_ranges, out);
  }

  // A formatted, open pool (pdsk 7) on a 256 MiB file, in the sim.
  std::shared_ptr<DeviceMapper> OpenPool(std::unique_ptr<ThinPools>* pools, std::shared_ptr<ThinDumper> dumper,
                                         ThinPoolOptions o = ThinPoolOptions()) {
    const std::string disk = tmp_->dir + "/disk";
    WriteFile(disk, "");
    CPPUNIT_ASSERT_EQUAL(0, truncate(disk.c_str(), 256 << 20));
    std::shared_ptr<DeviceMapper> dm = NewSimDeviceMapper(tmp_->dir + "/dm");
    o.thin_check = "true";
    o.dump_dir = tmp_->dir;
    pools->reset(new ThinPools(dm, o, std::move(dumper)));
    PoolLabel label;
    CPPUNIT_ASSERT((*pools)->Format(disk, kCluster, 7, &label).ok());
    CPPUNIT_ASSERT((*pools)->Open(disk, label).ok());
    return dm;
  }

 public:
  void setUp() override { tmp_.reset(new TempDb); }
  void tearDown() override { tmp_.reset(); }

  // "the thin's mapped blocks as [begin block, count] pairs, ascending,
  // adjacent ones coalesced": thin_dump splits runs whose data blocks or
  // times differ; they come back as one range.
  void RealThinDumpOutputIsParsed() {
    const std::string meta = tmp_->dir + "/meta.bin";
    WriteFile(tmp_->dir + "/in.xml",
              Superblock(Device(7, 8, Range(0, 10, 3) + Single(3, 20) + Single(10, 30, 1) + Range(11, 40, 2, 1) +
                                          Single(1000000, 50)) +
                         Device(9, 1, Single(5, 60)) + Device(11, 0, "")));
    WriteFile(meta, "");
    CPPUNIT_ASSERT_EQUAL(0, truncate(meta.c_str(), 8 << 20));
    Run({"thin_restore", "-i", tmp_->dir + "/in.xml", "-o", meta});
    const std::string out = tmp_->dir + "/out.xml";
    Run({"thin_dump", "--dev-id", "7", "-o", out, meta});
    ThinMap map;
    Status st = ParseThinDump(out, 7, 1000, &map);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(128), map.block_sectors);
    CPPUNIT_ASSERT((map.ranges == Ranges{{0, 4}, {10, 3}, {1000000, 1}}));
    // The whole pool's dump: only thin 9's blocks; a thin with none is empty.
    Run({"thin_dump", "-o", out, meta});
    CPPUNIT_ASSERT(ParseThinDump(out, 9, 1000, &map).ok());
    CPPUNIT_ASSERT((map.ranges == Ranges{{5, 1}}));
    CPPUNIT_ASSERT(ParseThinDump(out, 11, 1000, &map).ok());
    CPPUNIT_ASSERT(map.ranges.empty());
    // "ENOENT: ... no such thin".
    Run({"thin_dump", "--dev-id", "8", "-o", out, meta});
    CPPUNIT_ASSERT_EQUAL(ENOENT, ParseThinDump(out, 8, 1000, &map).code());
  }

  // thin_dump may write a subtree that several thins share once, as a
  // <def>, and <ref> it from each device.
  void SharedSubtreesAreFollowed() {
    ThinMap map;
    const std::string xml = Superblock("  <def name=\"17\">\n" + Range(100, 1, 4) + "  </def>\n" +
                                       Device(7, 7, Range(0, 9, 2) + "    <ref name=\"17\"/>\n" + Single(104, 5)) +
                                       Device(8, 4, "    <ref name=\"17\"/>\n"));
    Status st = Parse(xml, 7, &map);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT((map.ranges == Ranges{{0, 2}, {100, 5}}));
    CPPUNIT_ASSERT(Parse(xml, 8, &map).ok());
    CPPUNIT_ASSERT((map.ranges == Ranges{{100, 4}}));
    // Out of order: sorted and merged.
    CPPUNIT_ASSERT(Parse(Superblock(Device(7, 6, Range(50, 1, 2) + Range(10, 5, 3) + Single(13, 9))), 7, &map).ok());
    CPPUNIT_ASSERT((map.ranges == Ranges{{10, 4}, {50, 2}}));
  }

  // A block left out would be discarded on the new leg: whatever the parser
  // does not know is EPROTO, never a shorter list.
  void AnythingUnexpectedIsRefused() {
    ThinMap map;
    const std::vector<std::string> bad = {
        "not xml",
        Superblock(Device(7, 1, Single(1, 1))).substr(0, 120),  // cut short
        "<!DOCTYPE superblock [<!ENTITY b \"1\">]>" + Superblock(Device(7, 1, Single(1, 1))),
        Superblock(Device(7, 2, Single(1, 1) + "    <extent_mapping origin_begin=\"2\" length=\"1\"/>\n")),
        Superblock(Device(7, 2, Single(1, 1))),                                 // mapped_blocks disagrees
        Superblock(Device(7, 1, Single(1, 1)) + Device(7, 1, Single(2, 1))),  // a thin twice
        Superblock(Device(7, 1, "    <single_mapping origin_block=\"-1\" data_block=\"1\"/>\n")),
        Superblock(Device(7, 1, "    <single_mapping origin_block=\"0x10\" data_block=\"1\"/>\n")),
        Superblock(Device(7, 0, Range(1, 1, 0))),
        Superblock(Device(7, 1, "    <ref name=\"3\"/>\n")),                  // an unknown def
        Superblock(Device(7, 1, "text" + Single(1, 1))),
        Superblock("  <metadata_snap/>\n" + Device(7, 1, Single(1, 1))),
        "<pool data_block_size=\"128\">" + Device(7, 1, Single(1, 1)) + "</pool>",
        Superblock(Device(7, 1, Single(1, 1)), 0),
    };
    for (const std::string& xml : bad) {
      Status st = Parse(xml, 7, &map);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(xml + " -> " + st.ToString(), EPROTO, st.code());
    }
    CPPUNIT_ASSERT_EQUAL(EPROTO, ParseThinDump(tmp_->dir + "/none.xml", 7, 10, &map).code());
  }

  // "E2BIG: more than kMaxLegMapRanges ranges" (a small bound here).
  void TooManyRangesIsE2big() {
    ThinMap map;
    const std::string xml = Superblock(Device(7, 4, Single(0, 1) + Single(2, 2) + Single(4, 3) + Single(5, 4)));
    CPPUNIT_ASSERT(Parse(xml, 7, &map, 3).ok());
    CPPUNIT_ASSERT((map.ranges == Ranges{{0, 1}, {2, 1}, {4, 2}}));
    CPPUNIT_ASSERT_EQUAL(E2BIG, Parse(xml, 7, &map, 2).code());
    CPPUNIT_ASSERT(kMaxLegMapRanges == 262144);
  }

  // The sim answers as dm-thin: a block written is mapped (zeros too), one
  // never written is not; no snapshot is left held.
  void SimPoolMapsTheBlocksWritten() {
    std::unique_ptr<ThinPools> pools;
    auto dm = OpenPool(&pools, NewSimThinDumper(tmp_->dir + "/dm"));
    std::string dev;
    CPPUNIT_ASSERT(pools->CreateThin(7, 3, 16, &dev).ok());
    ThinMap map;
    Status st = pools->Mapped(7, 3, &map);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(128), map.block_sectors);
    CPPUNIT_ASSERT(map.ranges.empty());
    int fd = open(dev.c_str(), O_WRONLY);
    CPPUNIT_ASSERT(fd >= 0);
    const std::string zeros(4096, '\0'), data(70000, 'x');
    CPPUNIT_ASSERT_EQUAL(ssize_t(4096), pwrite(fd, zeros.data(), zeros.size(), 5 << 16));
    CPPUNIT_ASSERT_EQUAL(ssize_t(70000), pwrite(fd, data.data(), data.size(), 9 << 16));  // blocks 9 and 10
    CPPUNIT_ASSERT_EQUAL(ssize_t(1), pwrite(fd, "y", 1, (255 << 16) + 65535));
    close(fd);
    st = pools->Mapped(7, 3, &map);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT((map.ranges == Ranges{{5, 1}, {9, 2}, {255, 1}}));
    CPPUNIT_ASSERT_EQUAL(std::string("-"), HeldRoot(dm.get(), PoolName(7)));
    CPPUNIT_ASSERT_EQUAL(ENOENT, pools->Mapped(7, 4, &map).code());
    CPPUNIT_ASSERT_EQUAL(ENOENT, pools->Mapped(8, 3, &map).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, pools->Mapped(7, 0, &map).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, pools->Mapped(7, kMaxThinId + 1, &map).code());
    CPPUNIT_ASSERT_EQUAL(std::string("-"), HeldRoot(dm.get(), PoolName(7)));
  }

  // "a snapshot left by a crash (EBUSY/EINVAL on reserve) is released and
  // the reserve retried once".
  void LeftoverSnapshotIsReleasedAndRetried() {
    std::unique_ptr<ThinPools> pools;
    auto dm = OpenPool(&pools, NewSimThinDumper(tmp_->dir + "/dm"));
    std::string dev;
    CPPUNIT_ASSERT(pools->CreateThin(7, 3, 16, &dev).ok());
    CPPUNIT_ASSERT(dm->Message(PoolName(7), "reserve_metadata_snap").ok());
    CPPUNIT_ASSERT_EQUAL(EBUSY, dm->Message(PoolName(7), "reserve_metadata_snap").code());
    CPPUNIT_ASSERT(HeldRoot(dm.get(), PoolName(7)) != "-");
    ThinMap map;
    Status st = pools->Mapped(7, 3, &map);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT_EQUAL(std::string("-"), HeldRoot(dm.get(), PoolName(7)));
    CPPUNIT_ASSERT_EQUAL(EINVAL, dm->Message(PoolName(7), "release_metadata_snap").code());
  }

  // "release_metadata_snap always, even on failure"; "ETIMEDOUT: thin_dump
  // overran".
  void SnapshotIsReleasedWhateverFails() {
    std::unique_ptr<ThinPools> pools;
    auto dm = OpenPool(&pools, std::make_shared<FailingDumper>());
    std::string dev;
    CPPUNIT_ASSERT(pools->CreateThin(7, 3, 16, &dev).ok());
    ThinMap map;
    CPPUNIT_ASSERT_EQUAL(EIO, pools->Mapped(7, 3, &map).code());
    CPPUNIT_ASSERT_EQUAL(std::string("-"), HeldRoot(dm.get(), PoolName(7)));
    // A thin_dump that hangs is killed at the deadline.
    tmp_.reset(new TempDb);
    ThinPoolOptions o;
    o.thin_dump = tmp_->dir + "/slow-thin-dump";
    o.thin_dump_timeout_ms = 200;
    WriteFile(o.thin_dump, "#!/bin/sh\nsleep 5\n", 0755);
    dm = OpenPool(&pools, nullptr, o);
    CPPUNIT_ASSERT(pools->CreateThin(7, 3, 16, &dev).ok());
    Status st = pools->Mapped(7, 3, &map);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(st.ToString(), ETIMEDOUT, st.code());
    CPPUNIT_ASSERT_EQUAL(std::string("-"), HeldRoot(dm.get(), PoolName(7)));
    // The XML file goes too.
    std::vector<std::string> left;
    for (const std::string& f : DirEntries(tmp_->dir))
      if (f.find("vastsky-thin-dump-") == 0) left.push_back(f);
    CPPUNIT_ASSERT(left.empty());
  }

  // An agent killed mid-dump leaves its file; the next start removes it,
  // and nothing else in its state dir.
  void LeftoverDumpsRemovedAtStart() {
    std::unique_ptr<ThinPools> pools;
    OpenPool(&pools, nullptr);
    WriteFile(tmp_->dir + "/vastsky-thin-dump-Ab12Cd", "<superblock>");
    WriteFile(tmp_->dir + "/ids", "1");
    pools->RemoveLeftoverDumps();
    const std::vector<std::string> left = DirEntries(tmp_->dir);
    CPPUNIT_ASSERT(std::find(left.begin(), left.end(), "vastsky-thin-dump-Ab12Cd") == left.end());
    CPPUNIT_ASSERT(std::find(left.begin(), left.end(), "ids") != left.end());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ThinMapTest);
