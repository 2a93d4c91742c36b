// Snapshots of legs and what they share (agents/host/thin_pool.h:
// Snapshot, Delta, Thins, ParseThinDelta, ParseThinLs, LegDataPart) and the
// storage agent's snapshotLegs, legDelta, legUsage behind them
// (agents/PROTOCOL.md, "Snapshots of legs"): the real thin_delta and
// thin_ls over metadata that thin_restore wrote (no kernel needed), canned
// outputs, and the sim device-mapper's pools answering as the kernel's do.
#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

// Two thins sharing blocks 0-2 and 20 (thin 2 a snapshot of 1 since
// written): 3 rewritten in 2, 30 only in 1, 40 only in 2; thin 12345 empty.
const char kRestoreXml[] = R"(<superblock uuid="" time="1" transaction="3" flags="0" version="2" data_block_size="128" nr_data_blocks="1000">
  <device dev_id="1" mapped_blocks="6" transaction="0" creation_time="0" snap_time="1">
    <range_mapping origin_begin="0" data_begin="0" length="4" time="0"/>
    <single_mapping origin_block="20" data_block="10" time="0"/>
    <single_mapping origin_block="30" data_block="11" time="1"/>
  </device>
  <device dev_id="2" mapped_blocks="6" transaction="0" creation_time="1" snap_time="1">
    <range_mapping origin_begin="0" data_begin="0" length="3" time="0"/>
    <single_mapping origin_block="3" data_block="50" time="1"/>
    <single_mapping origin_block="20" data_block="10" time="0"/>
    <single_mapping origin_block="40" data_block="12" time="1"/>
  </device>
  <device dev_id="12345" mapped_blocks="0" transaction="0" creation_time="1" snap_time="1">
  </device>
</superblock>
)";

// thin_delta 0.9.0's own output for --snap1 1 --snap2 2 over kRestoreXml.
const char kDeltaXml[] = R"(<superblock uuid="" time="1" transaction="3" data_block_size="128" nr_data_blocks="1000">
  <diff left="1" right="2">
    <same begin="0" length="3"/>
    <different begin="3" length="1"/>
    <same begin="20" length="1"/>
    <left_only begin="30" length="1"/>
    <right_only begin="40" length="1"/>
  </diff>
</superblock>)";

// The sim's device-mapper, its suspends and resumes counted.
class CountingDm : public DeviceMapper {
 public:
  explicit CountingDm(std::shared_ptr<DeviceMapper> in) : in_(std::move(in)) {}
  Status Create(const std::string& n, const std::vector<DmTarget>& t, DmAccess a) override {
    return in_->Create(n, t, a);
  }
  Status Remove(const std::string& n) override { return in_->Remove(n); }
  Status Replace(const std::string& n, const std::vector<DmTarget>& t, DmAccess a) override {
    return in_->Replace(n, t, a);
  }
  Status GetInfo(const std::string& n, DmInfo* i) override { return in_->GetInfo(n, i); }
  Status GetTable(const std::string& n, std::vector<DmTarget>* t) override { return in_->GetTable(n, t); }
  Status GetStatus(const std::string& n, std::vector<DmTarget>* s) override { return in_->GetStatus(n, s); }
  Status List(std::vector<std::string>* n) override { return in_->List(n); }
  Status Message(const std::string& n, const std::string& m) override {
    DmInfo info;
    if (m.compare(0, 11, "create_snap") == 0 && in_->GetInfo(origin, &info).ok()) suspended_at_snap = info.suspended;
    return in_->Message(n, m);
  }
  Status Suspend(const std::string& n) override {
    ++suspends;
    return suspend_error.ok() ? in_->Suspend(n) : suspend_error;
  }
  Status Resume(const std::string& n) override {
    ++resumes;
    return in_->Resume(n);
  }
  Status Discard(const std::string& n, uint64_t o, uint64_t l) override { return in_->Discard(n, o, l); }
  std::string DevicePath(const std::string& n) override { return in_->DevicePath(n); }

  int suspends = 0, resumes = 0;
  Status suspend_error;
  std::string origin;  // whose suspension create_snap saw
  bool suspended_at_snap = false;

 private:
  std::shared_ptr<DeviceMapper> in_;
};

}  // namespace

class ThinSnapTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ThinSnapTest);
  CPPUNIT_TEST(RealThinDeltaOutputIsParsed);
  CPPUNIT_TEST(RealThinLsOutputIsParsed);
  CPPUNIT_TEST(MalformedDeltaIsEproto);
  CPPUNIT_TEST(MalformedThinLsIsEproto);
  CPPUNIT_TEST(TooManyDeltaRangesIsE2big);
  CPPUNIT_TEST(DataPartLeavesTheMetadataMibOut);
  CPPUNIT_TEST(SimSnapshotKeepsTheOriginsContent);
  CPPUNIT_TEST(SnapshotSuspendsAndResumesTheOrigin);
  CPPUNIT_TEST(ResumeHappensWhenCreateSnapFails);
  CPPUNIT_TEST(SnapshotFaults);
  CPPUNIT_TEST(SimDeltaAndUsage);
  CPPUNIT_TEST(ToolFaultsAndTimeouts);
  CPPUNIT_TEST_SUITE_END();

  std::unique_ptr<TempDb> tmp_;
  std::shared_ptr<CountingDm> dm_;
  std::unique_ptr<ThinPools> pools_;

  std::string File(const std::string& name, const std::string& text) {
    const std::string path = tmp_->dir + "/" + name;
    WriteFile(path, text);
    return path;
  }

  Status Delta(const std::string& xml, ThinMap* out, size_t max_ranges = 1000) {
    return ParseThinDelta(File("delta.xml", xml), 1, 2, max_ranges, out);
  }

  // The metadata of kRestoreXml, written by thin_restore.
  std::string RestoredMetadata() {
    const std::string meta = tmp_->dir + "/meta.bin";
    WriteFile(meta, "");
    CPPUNIT_ASSERT_EQUAL(0, truncate(meta.c_str(), 8 << 20));
    SubprocessResult r;
    CPPUNIT_ASSERT(RunProgram({"thin_restore", "-i", File("m.xml", kRestoreXml), "-o", meta}, 30000, &r).ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE(r.output, 0, r.exit_code);
    return meta;
  }

  // A formatted, open pool (pdsk 7) on a 256 MiB file, in the sim, with its
  // thin 1 (17 MiB) active: *dev.
  void OpenPool(std::string* dev, std::shared_ptr<ThinReports> reports = nullptr) {
    const std::string disk = tmp_->dir + "/disk";
    WriteFile(disk, "");
    CPPUNIT_ASSERT_EQUAL(0, truncate(disk.c_str(), 256 << 20));
    dm_ = std::make_shared<CountingDm>(NewSimDeviceMapper(tmp_->dir + "/dm"));
    dm_->origin = ThinName(7, 1);
    ThinPoolOptions o;
    o.thin_check = "true";
    o.dump_dir = tmp_->dir;
    if (!reports) reports = NewSimThinReports(tmp_->dir + "/dm");
    pools_.reset(new ThinPools(dm_, o, nullptr, nullptr, reports));
    PoolLabel label;
    CPPUNIT_ASSERT(pools_->Format(disk, kCluster, 7, &label).ok());
    CPPUNIT_ASSERT(pools_->Open(disk, label).ok());
    CPPUNIT_ASSERT(pools_->CreateThin(7, 1, 17, dev).ok());
  }

 public:
  void setUp() override { tmp_.reset(new TempDb); }
  void tearDown() override {
    pools_.reset();
    tmp_.reset();
  }

  // "the blocks whose mapping differs between the two thins (written in one
  // since they shared, or mapped in only one)": different, left_only and
  // right_only count, same does not.
  void RealThinDeltaOutputIsParsed() {
    const std::string meta = RestoredMetadata();
    const std::string xml = tmp_->dir + "/out.xml";
    SubprocessResult r;
    CPPUNIT_ASSERT(RunProgramToFile({"thin_delta", "--snap1", "1", "--snap2", "2", meta}, 30000, xml, &r).ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE(r.output, 0, r.exit_code);
    ThinMap map;
    Status st = ParseThinDelta(xml, 1, 2, 1000, &map);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(128), map.block_sectors);
    CPPUNIT_ASSERT((map.ranges == Ranges{{3, 1}, {30, 1}, {40, 1}}));
    CPPUNIT_ASSERT(Delta(kDeltaXml, &map).ok());
    CPPUNIT_ASSERT((map.ranges == Ranges{{3, 1}, {30, 1}, {40, 1}}));
    // Against an empty thin, everything mapped differs.
    CPPUNIT_ASSERT(RunProgramToFile({"thin_delta", "--snap1", "12345", "--snap2", "1", meta}, 30000, xml, &r).ok());
    CPPUNIT_ASSERT(ParseThinDelta(xml, 12345, 1, 1000, &map).ok());
    CPPUNIT_ASSERT((map.ranges == Ranges{{0, 4}, {20, 1}, {30, 1}}));
  }

  // "from thin_ls --metadata-snap (MAPPED_BLOCKS, EXCLUSIVE_BLOCKS), rounded
  // up to MiB": the real tool pads its columns.
  void RealThinLsOutputIsParsed() {
    SubprocessResult r;
    CPPUNIT_ASSERT(
        RunProgram({"thin_ls", "--no-headers", "-o", "DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS", RestoredMetadata()}, 30000, &r)
            .ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE(r.output, 0, r.exit_code);
    std::vector<ThinUsage> thins;
    CPPUNIT_ASSERT(ParseThinLs(r.output, 128, &thins).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(3), thins.size());
    std::map<int64_t, std::pair<uint64_t, uint64_t>> got;
    for (const ThinUsage& t : thins) got[t.thin_id] = {t.mapped_mib, t.exclusive_mib};
    // 6 blocks of 64 KiB: 384 KiB -> 1 MiB; 2 exclusive: 128 KiB -> 1 MiB.
    CPPUNIT_ASSERT((got[1] == std::pair<uint64_t, uint64_t>(1, 1)));
    CPPUNIT_ASSERT((got[2] == std::pair<uint64_t, uint64_t>(1, 1)));
    CPPUNIT_ASSERT((got[12345] == std::pair<uint64_t, uint64_t>(0, 0)));
    CPPUNIT_ASSERT(ParseThinLs("    1 17 16 \n   22 16 0 \n", 128, &thins).ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(2), thins[0].mapped_mib);
    CPPUNIT_ASSERT_EQUAL(uint64_t(1), thins[0].exclusive_mib);
    CPPUNIT_ASSERT_EQUAL(uint64_t(0), thins[1].exclusive_mib);
    CPPUNIT_ASSERT(ParseThinLs("1 3 1\n", 8192, &thins).ok());  // 4 MiB blocks
    CPPUNIT_ASSERT_EQUAL(uint64_t(12), thins[0].mapped_mib);
    CPPUNIT_ASSERT_EQUAL(uint64_t(4), thins[0].exclusive_mib);
    CPPUNIT_ASSERT(ParseThinLs("", 128, &thins).ok());
    CPPUNIT_ASSERT(thins.empty());
  }

  // "EPROTO if the tool's output does not parse (strict, like
  // ParseThinDump)".
  void MalformedDeltaIsEproto() {
    const std::string super =
        "<superblock uuid=\"\" time=\"1\" transaction=\"3\" data_block_size=\"128\" nr_data_blocks=\"1000\">\n";
    const std::vector<std::string> bad = {
        // --verbose's shape
        super + "<diff left=\"1\" right=\"2\"><different><range begin=\"3\" left_data_begin=\"3\" "
                "right_data_begin=\"50\" length=\"1\"/></different></diff></superblock>",
        super + "<diff left=\"2\" right=\"1\"><different begin=\"3\" length=\"1\"/></diff></superblock>",
        super + "<diff left=\"1\" right=\"2\"><different begin=\"3\" length=\"0\"/></diff></superblock>",
        super + "<diff left=\"1\" right=\"2\"><different begin=\"-3\" length=\"1\"/></diff></superblock>",
        super + "<diff left=\"1\" right=\"2\"><moved begin=\"3\" length=\"1\"/></diff></superblock>",
        super + "<diff left=\"1\" right=\"2\"></diff><diff left=\"1\" right=\"2\"></diff></superblock>",
        super + "</superblock>",
        super + "<diff left=\"1\" right=\"2\"><different begin=\"3\" length=\"1\"/></diff>",  // cut short
        "<superblock data_block_size=\"128\"><diff left=\"1\" right=\"2\">",
        "Unable to find mapping tree for snap2 (9)\n",
        "",
    };
    for (const std::string& text : bad) {
      ThinMap map;
      Status st = Delta(text, &map);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(text + ": " + st.ToString(), EPROTO, st.code());
    }
  }

  void MalformedThinLsIsEproto() {
    const std::vector<std::string> bad = {
        "DEV MAPPED_BLOCKS EXCLUSIVE_BLOCKS\n1 6 2\n",  // headers
        "1 6\n",
        "1 6 2 7\n",
        "1 384KiB 2\n",
        "1 6 7\n",     // more exclusive than mapped
        "1 6 2\n1 6 2\n",
        "0 6 2\n",
        "16777216 1 1\n",
        "-1 6 2\n",
        "1 1000000000000000 0\n",
        "Bad checksum in superblock\n",
    };
    for (const std::string& text : bad) {
      std::vector<ThinUsage> thins;
      Status st = ParseThinLs(text, 128, &thins);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(text + ": " + st.ToString(), EPROTO, st.code());
    }
  }

  // "E2BIG beyond a bound of ranges".
  void TooManyDeltaRangesIsE2big() {
    std::string body;
    for (int i = 0; i < 5; ++i)
      body += "<different begin=\"" + std::to_string(i * 2) + "\" length=\"1\"/><same begin=\"" +
              std::to_string(i * 2 + 1) + "\" length=\"1\"/>";
    const std::string xml = "<superblock data_block_size=\"128\"><diff left=\"1\" right=\"2\">" + body +
                            "</diff></superblock>";
    ThinMap map;
    CPPUNIT_ASSERT(Delta(xml, &map, 5).ok());
    CPPUNIT_ASSERT_EQUAL(E2BIG, Delta(xml, &map, 4).code());
  }

  // "deltas ... are reported for the data part (block offsets relative to
  // the data start, the 1 MiB meta part left out)".
  void DataPartLeavesTheMetadataMibOut() {
    ThinMap thin;
    thin.block_sectors = 128;  // 64 KiB: 16 blocks of metadata
    thin.ranges = {{0, 2}, {15, 3}, {40, 1}};
    ThinMap data = LegDataPart(thin);
    CPPUNIT_ASSERT_EQUAL(uint64_t(128), data.block_sectors);
    CPPUNIT_ASSERT((data.ranges == Ranges{{0, 2}, {24, 1}}));
    // A pool block over 1 MiB straddles the data's start: MiB units, the
    // first block's data part whole.
    thin.block_sectors = 8192;  // 4 MiB
    thin.ranges = {{0, 1}, {2, 2}};
    data = LegDataPart(thin);
    CPPUNIT_ASSERT_EQUAL(kLegMetaSectors, data.block_sectors);
    CPPUNIT_ASSERT((data.ranges == Ranges{{0, 3}, {7, 8}}));
    thin.block_sectors = 2048;
    thin.ranges = {{0, 1}};
    CPPUNIT_ASSERT(LegDataPart(thin).ranges.empty());
  }

  // "thin thin_id becomes a dm-thin snapshot of origin_thin_id": it reads
  // what the origin held, and keeps it when the origin changes or goes.
  void SimSnapshotKeepsTheOriginsContent() {
    std::string origin;
    OpenPool(&origin);
    WriteBytes(origin, 1 << 20, "before");
    Status st = pools_->Snapshot(7, 1, 2);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    WriteBytes(origin, 1 << 20, "after!");
    std::string snap;
    CPPUNIT_ASSERT(pools_->ActivateThin(7, 2, 17, &snap).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("before"), ReadBytes(snap, 1 << 20, 6));
    CPPUNIT_ASSERT(pools_->DeleteThin(7, 1).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("before"), ReadBytes(snap, 1 << 20, 6));
    // "Already existing thin_id = done before (ids are never reused): OK",
    // even with its origin gone since.
    CPPUNIT_ASSERT(pools_->Snapshot(7, 1, 2).ok());
  }

  // "If the origin's thin device is active ... it is suspended (with flush)
  // for the create_snap message and resumed".
  void SnapshotSuspendsAndResumesTheOrigin() {
    std::string origin;
    OpenPool(&origin);
    CPPUNIT_ASSERT(pools_->Snapshot(7, 1, 2).ok());
    CPPUNIT_ASSERT(dm_->suspended_at_snap);
    CPPUNIT_ASSERT_EQUAL(1, dm_->suspends);
    CPPUNIT_ASSERT_EQUAL(1, dm_->resumes);
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo(ThinName(7, 1), &info).ok());
    CPPUNIT_ASSERT(!info.suspended);
    // An origin not active is not touched.
    CPPUNIT_ASSERT(dm_->Remove(ThinName(7, 1)).ok());
    CPPUNIT_ASSERT(pools_->Snapshot(7, 1, 3).ok());
    CPPUNIT_ASSERT_EQUAL(1, dm_->suspends);
  }

  // "resumed whatever happens": a create_snap the kernel refuses, a suspend
  // of unknown outcome.
  void ResumeHappensWhenCreateSnapFails() {
    std::string origin;
    OpenPool(&origin);
    WriteFile(tmp_->dir + "/dm/message-errno", "5 create_snap\n");
    CPPUNIT_ASSERT_EQUAL(EIO, pools_->Snapshot(7, 1, 2).code());
    CPPUNIT_ASSERT_EQUAL(1, dm_->suspends);
    CPPUNIT_ASSERT_EQUAL(1, dm_->resumes);
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo(ThinName(7, 1), &info).ok());
    CPPUNIT_ASSERT(!info.suspended);
    // The kernel's ENOSPC (metadata full), and EOPNOTSUPP (read-only pool).
    WriteFile(tmp_->dir + "/dm/message-errno", "28 create_snap\n");
    CPPUNIT_ASSERT_EQUAL(ENOSPC, pools_->Snapshot(7, 1, 2).code());
    WriteFile(tmp_->dir + "/dm/message-errno", "95 create_snap\n");
    CPPUNIT_ASSERT_EQUAL(ENOSPC, pools_->Snapshot(7, 1, 2).code());
    unlink((tmp_->dir + "/dm/message-errno").c_str());
    dm_->suspend_error = Status::Error(ETIMEDOUT, "dm suspend took too long");
    CPPUNIT_ASSERT_EQUAL(ETIMEDOUT, pools_->Snapshot(7, 1, 2).code());
    CPPUNIT_ASSERT_EQUAL(4, dm_->resumes);
  }

  // "ENOENT naming it" (the origin), ids checked, "ENOSPC if the pool is out
  // of metadata/data space or not rw".
  void SnapshotFaults() {
    std::string origin;
    OpenPool(&origin);
    Status st = pools_->Snapshot(7, 9, 2);
    CPPUNIT_ASSERT_EQUAL(ENOENT, st.code());
    CPPUNIT_ASSERT(st.message().find("thin 9") != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(ENOENT, pools_->Snapshot(8, 1, 2).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, pools_->Snapshot(7, 0, 2).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, pools_->Snapshot(7, 1, kMaxThinId + 1).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, pools_->Snapshot(7, 1, 1).code());
    for (const auto& e : DirEntries(tmp_->dir + "/dm/thin"))
      WriteFile(tmp_->dir + "/dm/thin/" + e + ".needs_check", "ro\n");
    CPPUNIT_ASSERT_EQUAL(ENOSPC, pools_->Snapshot(7, 1, 2).code());
    CPPUNIT_ASSERT_EQUAL(0, dm_->suspends);
  }

  // legDelta and legUsage by the sim: "the blocks whose mapping differs"
  // in the data part; mapped and exclusive MiB.
  void SimDeltaAndUsage() {
    std::string origin;
    OpenPool(&origin);
    const off_t meta = 1 << 20, mib = 1 << 20;
    WriteBytes(origin, 100, "raid superblock");
    WriteBytes(origin, meta, std::string(3 * mib, 'a'));  // data blocks 0-47
    CPPUNIT_ASSERT(pools_->Snapshot(7, 1, 2).ok());
    WriteBytes(origin, meta, std::string(2 * mib, 'b'));            // 0-31 rewritten
    WriteBytes(origin, meta + 3 * mib, std::string(1 * mib, 'c'));  // 48-63 new
    WriteBytes(origin, 200, "bitmap bits");                         // the metadata part: left out
    ThinMap delta;
    Status st = pools_->Delta(7, 2, 1, &delta);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT_EQUAL(uint64_t(128), delta.block_sectors);
    CPPUNIT_ASSERT((delta.ranges == Ranges{{0, 32}, {48, 16}}));
    CPPUNIT_ASSERT_EQUAL(std::string("-"), HeldRoot(dm_.get(), PoolName(7)));
    CPPUNIT_ASSERT_EQUAL(ENOENT, pools_->Delta(7, 2, 5, &delta).code());
    CPPUNIT_ASSERT_EQUAL(ENOENT, pools_->Delta(7, 5, 1, &delta).code());
    CPPUNIT_ASSERT_EQUAL(ENOENT, pools_->Delta(8, 2, 1, &delta).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, pools_->Delta(7, 0, 1, &delta).code());
    std::vector<ThinUsage> thins;
    st = pools_->Thins(7, &thins);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT_EQUAL(size_t(2), thins.size());
    // Thin 1 maps 1 + 64 blocks of 64 KiB (5 MiB rounded up), 1 + 32 + 16
    // of them its own (4 MiB); thin 2 maps 1 + 48 (4 MiB), 1 + 32 its own.
    CPPUNIT_ASSERT_EQUAL(int64_t(1), thins[0].thin_id);
    CPPUNIT_ASSERT_EQUAL(uint64_t(5), thins[0].mapped_mib);
    CPPUNIT_ASSERT_EQUAL(uint64_t(4), thins[0].exclusive_mib);
    CPPUNIT_ASSERT_EQUAL(int64_t(2), thins[1].thin_id);
    CPPUNIT_ASSERT_EQUAL(uint64_t(4), thins[1].mapped_mib);
    CPPUNIT_ASSERT_EQUAL(uint64_t(3), thins[1].exclusive_mib);
    CPPUNIT_ASSERT_EQUAL(ENOENT, pools_->Thins(8, &thins).code());
    CPPUNIT_ASSERT_EQUAL(std::string("-"), HeldRoot(dm_.get(), PoolName(7)));
  }

  // The programs: ENOENT in thin_delta's words for a thin it lacks, EIO for
  // another failure, "bounded by a timeout" (ETIMEDOUT), the snapshot
  // released whatever happened.
  void ToolFaultsAndTimeouts() {
    const std::string tool = tmp_->dir + "/tool";
    std::string origin;
    OpenPool(&origin, NewThinReportPrograms(tool, tool, 300));
    ThinMap delta;
    std::vector<ThinUsage> thins;
    WriteFile(tool, "#!/bin/sh\necho 'Unable to find mapping tree for snap2 (9)' >&2\nexit 1\n", 0755);
    CPPUNIT_ASSERT_EQUAL(ENOENT, pools_->Delta(7, 1, 9, &delta).code());
    WriteFile(tool, "#!/bin/sh\necho 'Bad checksum in superblock' >&2\nexit 1\n", 0755);
    CPPUNIT_ASSERT_EQUAL(EIO, pools_->Delta(7, 1, 9, &delta).code());
    CPPUNIT_ASSERT_EQUAL(EIO, pools_->Thins(7, &thins).code());
    WriteFile(tool, "#!/bin/sh\nsleep 5\n", 0755);
    CPPUNIT_ASSERT_EQUAL(ETIMEDOUT, pools_->Delta(7, 1, 2, &delta).code());
    CPPUNIT_ASSERT_EQUAL(ETIMEDOUT, pools_->Thins(7, &thins).code());
    CPPUNIT_ASSERT_EQUAL(std::string("-"), HeldRoot(dm_.get(), PoolName(7)));
    // Its arguments, and its stdout taken whole.
    WriteFile(tool, "#!/bin/sh\necho \"$@\" > " + tmp_->dir + "/args\necho '  1 16 16'\necho ' 12 0 0'\n", 0755);
    CPPUNIT_ASSERT(pools_->Thins(7, &thins).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(2), thins.size());
    std::string args;
    CPPUNIT_ASSERT(ReadStateFile(tmp_->dir + "/args", &args).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("--metadata-snap --no-headers -o DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS ") +
                             dm_->DevicePath(PoolName(7) + "-meta") + "\n",
                         args);
    WriteFile(tool, "#!/bin/sh\necho \"$@\" > " + tmp_->dir + "/args\ncat <<'EOF'\n" + kDeltaXml + "\nEOF\n", 0755);
    Status st = pools_->Delta(7, 1, 2, &delta);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT(ReadStateFile(tmp_->dir + "/args", &args).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("--metadata-snap --snap1 1 --snap2 2 ") + dm_->DevicePath(PoolName(7) + "-meta") +
                             "\n",
                         args);
    // Blocks 3, 30, 40 of the thin: 3 lies in the metadata MiB (16 blocks).
    CPPUNIT_ASSERT((delta.ranges == Ranges{{14, 1}, {24, 1}}));
    std::vector<std::string> left;
    for (const std::string& f : DirEntries(tmp_->dir))
      if (f.find("vastsky-thin-dump-") == 0) left.push_back(f);
    CPPUNIT_ASSERT(left.empty());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ThinSnapTest);
