// The head's trim of rebuilt legs (agents/PROTOCOL.md, "Rebuilt legs stay
// thin") over the simulated host and a fake of the manager's leg maps:
// exactly the source's unmapped data ranges are discarded, never the
// metadata MiB; the mirror is resumed on every path; failures back off and
// give up; an overrun drops and poisons the leg for good; a restarted agent
// resumes a suspended raid; the record keeps the flags; legMap answers are
// checked. Also what assembly does with the legs' dm-raid superblocks:
// stale legs rebuilt in full, dirty regions resynced after a crash.
#include <cppunit/extensions/HelperMacros.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <thread>

#include "agents/head/assembly.h"
#include "agents/head/leg_maps.h"
#include "lib/api_params.h"
#include "lib/clock.h"
#include "lib/rpc_values.h"
#include "lib/state_file.h"
#include "tests/unit/head_fixture.h"
#include "tests/unit/temp_db.h"

using namespace vastsky;
using namespace vastsky::head_test;

namespace {

// lvol 4, mirror 400: legs 4000 (pdsk 1) and 4001 (pdsk 2); 4000 gets
// replaced by 4900 (pdsk 9), which dm raid rebuilds from 4001.
const std::string kRaid = "vastsky-4-m400", kNewData = "vastsky-4-c4900-data";
constexpr int64_t kNew = 4900, kSource = 4001;

xmlrpc_c::value Answer(int64_t block_kib, const std::vector<int64_t>& flat) {
  std::vector<xmlrpc_c::value> ranges;
  for (int64_t v : flat) ranges.push_back(IntValue(v));
  return xmlrpc_c::value_struct(std::map<std::string, xmlrpc_c::value>{
      {"status", IntValue(0)}, {"block_kib", IntValue(block_kib)}, {"ranges", xmlrpc_c::value_array(ranges)}});
}

bool Has(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

class HeadTrimTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(HeadTrimTest);
  CPPUNIT_TEST(DiscardsExactlyTheUnmappedDataRanges);
  CPPUNIT_TEST(NothingWhileTheMirrorIsNotWhole);
  CPPUNIT_TEST(ALegFailingAsTheRaidSuspendsStopsTheTrim);
  CPPUNIT_TEST(ALegTakenBackIsTrimmedOnceWhole);
  CPPUNIT_TEST(AStaleLegIsRebuiltInFull);
  CPPUNIT_TEST(AStaleOnlyCopyIsTakenBackAsItIs);
  CPPUNIT_TEST(AStaleLegAtAttachIsRebuiltInFull);
  CPPUNIT_TEST(AMirrorAssembledAgainResyncsItsDirtyRegions);
  CPPUNIT_TEST(AnAdoptedRaidKeepsItsResyncOffset);
  CPPUNIT_TEST(FailuresResumeBackOffThenGiveUp);
  CPPUNIT_TEST(NoUnmapGivesUpAtOnce);
  CPPUNIT_TEST(OverrunDropsAndPoisonsTheLeg);
  CPPUNIT_TEST(RestartResumesASuspendedRaid);
  CPPUNIT_TEST(AttachFillingAFreshLegMarksItForTrim);
  CPPUNIT_TEST(RecordKeepsTheLegFlags);
  CPPUNIT_TEST(LegMapAnswerIsChecked);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    tmp_.reset(new TempDb);
    Open();
  }
  void tearDown() override {
    assembly_.reset();
    tmp_.reset();
  }

  // "discards ... every stretch that source has not mapped ...; thin offset
  // x is data offset x - 1 MiB; the metadata MiB is never discarded"
  void DiscardsExactlyTheUnmappedDataRanges() {
    // 64 KiB blocks (128 sectors): the metadata MiB, thin sectors
    // 2560-2816 and 12800-19200, and a stretch running past the data.
    maps_.maps[kSource] = {64, {{0, 16}, {20, 2}, {100, 50}, {16399, 5}}};
    RebuildLeg();
    WriteAt(kNewData, 600 * 512, "mapped on the source");
    WriteAt(kNewData, 1024 * 512, "reads zeros on the source");
    assembly_->Watch();
    CPPUNIT_ASSERT_EQUAL(kNewData + " 0 512\n" + kNewData + " 768 9984\n" + kNewData + " 17152 2079872\n", Discards());
    CPPUNIT_ASSERT_EQUAL(std::string("mapped on the source"), ReadAt(kNewData, 600 * 512, 20));
    CPPUNIT_ASSERT_EQUAL(std::string(25, '\0'), ReadAt(kNewData, 1024 * 512, 25));
    CPPUNIT_ASSERT(maps_.asked == std::vector<int64_t>{kSource});
    CPPUNIT_ASSERT(!Suspended());
    CPPUNIT_ASSERT_EQUAL(2, RecordedLeg(kNew).status);
    AssertNoMoreTries();
    // No mapping at all: the whole data slice, still not the metadata.
    maps_.maps[kSource] = {1536, {}};
    ReplaceLeg(4950);
    assembly_->Watch();
    CPPUNIT_ASSERT(Discards().find("vastsky-4-c4950-data 0 2097152\n") != std::string::npos);
  }

  // "once the mirror is whole (every present leg A, action idle)"
  void NothingWhileTheMirrorIsNotWhole() {
    maps_.maps[kSource] = {64, {}};
    RebuildLeg();
    SetStatus("raid1 2 aA 1024/2097152 recover 0 0 -");
    assembly_->Watch();
    CPPUNIT_ASSERT(maps_.asked.empty());
    CPPUNIT_ASSERT_EQUAL(3, RecordedLeg(kNew).status);
    // Whole: marked in sync and to be trimmed; the first try fails.
    SetStatus("");
    maps_.error = Status::Error(EHOSTDOWN, "storage server down");
    assembly_->Watch();
    CPPUNIT_ASSERT_EQUAL(size_t(1), maps_.asked.size());
    CPPUNIT_ASSERT(RecordedLeg(kNew).trim);
    // Its retry finds the source dead: no trim.
    SetStatus("raid1 2 AD 2097152/2097152 idle 0 0 -");
    maps_.error = Status::OK();
    clock_.Advance(31000);
    assembly_->Watch();
    CPPUNIT_ASSERT_EQUAL(size_t(1), maps_.asked.size());
    CPPUNIT_ASSERT_EQUAL(std::string(""), Discards());
    SetStatus("");
    assembly_->Watch();
    CPPUNIT_ASSERT_EQUAL(kNewData + " 0 2097152\n", Discards());
  }

  // "looks again and stops if a leg failed meanwhile (D; the frozen action
  // and a letters of a suspended raid are not failures)". The sim shows
  // every suspended raid frozen with a letters, so each other test's trim
  // passes that look.
  void ALegFailingAsTheRaidSuspendsStopsTheTrim() {
    maps_.maps[kSource] = {64, {}};
    RebuildLeg();
    std::ofstream(dm_->DevicePath(kRaid) + ".status-suspended") << "raid1 2 aD 2097152/2097152 frozen 0 0 -";
    assembly_->Watch();
    CPPUNIT_ASSERT(maps_.asked.empty());
    CPPUNIT_ASSERT_EQUAL(std::string(""), Discards());
    CPPUNIT_ASSERT(!Suspended());
    CPPUNIT_ASSERT(RecordedLeg(kNew).trim);
    // Its retry 30 s later finds the legs in sync (frozen, a letters).
    unlink((dm_->DevicePath(kRaid) + ".status-suspended").c_str());
    clock_.Advance(30000);
    assembly_->Watch();
    CPPUNIT_ASSERT_EQUAL(kNewData + " 0 2097152\n", Discards());
    AssertNoMoreTries();
  }

  // "the resync of a leg taken back copies whole bitmap regions, so the
  // head trims such a leg afterwards"
  void ALegTakenBackIsTrimmedOnceWhole() {
    maps_.maps[kSource] = {64, {{16, 4}}};
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(4, 1, 2), "user", "secret-secret", &device).ok());
    SetStatus("raid1 2 DA 2097152/2097152 idle 0 0 -");
    CPPUNIT_ASSERT(Has(assembly_->Watch(), 4000));
    CPPUNIT_ASSERT(RecordedLeg(4000).trim);
    CPPUNIT_ASSERT(!RecordedLeg(kSource).trim);
    CPPUNIT_ASSERT(maps_.asked.empty());
    SetStatus("raid1 2 aA 1024/2097152 resync 0 0 -");
    assembly_->Watch();
    CPPUNIT_ASSERT(maps_.asked.empty());
    SetStatus("");
    assembly_->Watch();
    CPPUNIT_ASSERT(maps_.asked == std::vector<int64_t>{kSource});
    // Thin blocks 16-19 are the first 256 KiB of data: mapped, kept.
    CPPUNIT_ASSERT_EQUAL(std::string("vastsky-4-c4000-data 512 2096640\n"), Discards());
    CPPUNIT_ASSERT(!RecordedLeg(4000).trim);
  }

  // PROTOCOL.md, "Repairing a pool": "a head rebuilds a leg marked stale
  // in full from the other legs instead of taking it back through its
  // bitmap".
  void AStaleLegIsRebuiltInFull() {
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(4, 1, 2), "user", "secret-secret", &device).ok());
    SetStatus("raid1 2 DA 2097152/2097152 idle 0 0 -");
    WriteAt("vastsky-4-c4000-meta", 0, "VsSt");
    CPPUNIT_ASSERT(Has(assembly_->Watch(), 4000));
    CPPUNIT_ASSERT(RaidTable().find(" rebuild 0 ") != std::string::npos);
    CPPUNIT_ASSERT_EQUAL(3, RecordedLeg(4000).status);
    CPPUNIT_ASSERT(RecordedLeg(4000).trim);
    SetStatus("");  // rebuilt: in sync again, then trimmed
    assembly_->Watch();
    CPPUNIT_ASSERT_EQUAL(2, RecordedLeg(4000).status);
  }

  // "... unless no other leg is in sync: the mark is removed and the leg
  // taken back as it is, with an error log".
  void AStaleOnlyCopyIsTakenBackAsItIs() {
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(4, 1, 2), "user", "secret-secret", &device).ok());
    SetStatus("raid1 2 DD 2097152/2097152 idle 0 0 -");
    WriteAt("vastsky-4-c4000-meta", 0, "VsSt");
    assembly_->Watch();
    CPPUNIT_ASSERT(RaidTable().find(" rebuild ") == std::string::npos);
    CPPUNIT_ASSERT_EQUAL(2, RecordedLeg(4000).status);
    CPPUNIT_ASSERT_EQUAL(std::string("DmRd"), ReadAt("vastsky-4-c4000-meta", 0, 4));
  }

  // "... and so does an assembly that finds a leg marked stale" (here the
  // re-assembly of a volume whose devices went, as after a reboot).
  void AStaleLegAtAttachIsRebuiltInFull() {
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(4, 1, 2), "user", "secret-secret", &device).ok());
    CPPUNIT_ASSERT(RaidTable().find(" rebuild ") == std::string::npos);
    WriteAt("vastsky-4-c4000-meta", 0, "VsSt");
    for (const std::string& name : {std::string("vastsky-4"), kRaid}) CPPUNIT_ASSERT(dm_->Remove(name).ok());
    assembly_->Reconcile();
    CPPUNIT_ASSERT(RaidTable().find(" rebuild 0 ") != std::string::npos);
  }

  // PROTOCOL.md, "A head that stopped without a word": "Before it
  // assembles a mirror's raid from scratch, a head sets the resync offset
  // in the dm-raid superblock of each leg in sync to 0" (here as after a
  // reboot: the devices went, the record stayed).
  void AMirrorAssembledAgainResyncsItsDirtyRegions() {
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(4, 1, 2), "user", "secret-secret", &device).ok());
    const std::string clean = Superblock(~uint64_t{0}), midway = Superblock(4096);
    WriteAt("vastsky-4-c4000-meta", 0, clean);
    WriteAt("vastsky-4-c4001-meta", 0, midway);
    for (const std::string& name : {std::string("vastsky-4"), kRaid}) CPPUNIT_ASSERT(dm_->Remove(name).ok());
    assembly_->Reconcile();
    CPPUNIT_ASSERT_EQUAL(Superblock(0), ReadAt("vastsky-4-c4000-meta", 0, clean.size()));
    // A resync that stood elsewhere carries on from there.
    CPPUNIT_ASSERT_EQUAL(midway, ReadAt("vastsky-4-c4001-meta", 0, midway.size()));
    CPPUNIT_ASSERT(RaidTable().find(" rebuild ") == std::string::npos);
  }

  // "... never a raid it adopts (an agent restart), which runs on."
  void AnAdoptedRaidKeepsItsResyncOffset() {
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(4, 1, 2), "user", "secret-secret", &device).ok());
    const std::string clean = Superblock(~uint64_t{0});
    WriteAt("vastsky-4-c4000-meta", 0, clean);
    Open();  // the agent restarts; the kernel keeps the devices
    CPPUNIT_ASSERT(assembly_->Start().ok());
    assembly_->Reconcile();
    CPPUNIT_ASSERT_EQUAL(clean, ReadAt("vastsky-4-c4000-meta", 0, clean.size()));
  }

  // "Any other failure resumes at once ... and is retried after 30 s,
  // doubling; after the 5th the leg stays fully provisioned"
  void FailuresResumeBackOffThenGiveUp() {
    maps_.maps[kSource] = {64, {}};
    RebuildLeg();
    std::ofstream(DmDir() + "/discard-errno") << EIO;
    assembly_->Watch();
    CPPUNIT_ASSERT_EQUAL(size_t(1), maps_.asked.size());
    CPPUNIT_ASSERT(!Suspended());
    for (int64_t wait_s : {30, 60, 120, 240}) {
      clock_.Advance(wait_s * 1000 - 1);
      assembly_->Watch();
      CPPUNIT_ASSERT(RecordedLeg(kNew).trim);
      const size_t tries = maps_.asked.size();
      clock_.Advance(1);
      assembly_->Watch();
      CPPUNIT_ASSERT_EQUAL(tries + 1, maps_.asked.size());
      CPPUNIT_ASSERT(!Suspended());
    }
    CPPUNIT_ASSERT_EQUAL(size_t(5), maps_.asked.size());
    AssertNoMoreTries();
  }

  // "on tgt the discard fails EOPNOTSUPP and the leg stays fully
  // provisioned (logged once)"
  void NoUnmapGivesUpAtOnce() {
    maps_.maps[kSource] = {64, {}};
    RebuildLeg();
    std::ofstream(DmDir() + "/discard-errno") << EOPNOTSUPP;
    assembly_->Watch();
    CPPUNIT_ASSERT(!Suspended());
    CPPUNIT_ASSERT_EQUAL(size_t(1), maps_.asked.size());
    AssertNoMoreTries();
  }

  // "A discard that outruns its deadline ... the raid is reloaded without
  // that leg before the resume, and the leg is poisoned: never taken back,
  // listed in every heartbeat's deadlegs until the manager replaces it."
  void OverrunDropsAndPoisonsTheLeg() {
    Open(/*discard_timeout_ms=*/300);
    maps_.maps[kSource] = {64, {}};
    RebuildLeg();
    std::ofstream(DmDir() + "/stall-discard").close();
    CPPUNIT_ASSERT(Has(assembly_->Watch(), kNew));
    CPPUNIT_ASSERT(!Suspended());
    CPPUNIT_ASSERT_EQUAL(std::string("raid1 1 0 2 - - "), RaidTable().substr(0, 16));
    CPPUNIT_ASSERT(RaidTable().find("c4900") == std::string::npos);
    CPPUNIT_ASSERT(RecordedLeg(kNew).poisoned);
    CPPUNIT_ASSERT(!RecordedLeg(kNew).trim);
    // Its data slice reads again: still never taken back.
    clock_.Advance(60000);
    CPPUNIT_ASSERT(Has(assembly_->Watch(), kNew));
    CPPUNIT_ASSERT(RaidTable().find("c4900") == std::string::npos);
    // The late discard lands on the dropped leg alone.
    unlink((DmDir() + "/stall-discard").c_str());
    for (int i = 0; i < 50 && Discards().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CPPUNIT_ASSERT_EQUAL(kNewData + " 0 2097152\n", Discards());
    // Nor after a restart, nor by an attach re-assembling after a reboot.
    Open();
    CPPUNIT_ASSERT(assembly_->Start().ok());
    CPPUNIT_ASSERT(Has(assembly_->Watch(), kNew));
    for (const std::string& name : {std::string("vastsky-4"), kRaid}) CPPUNIT_ASSERT(dm_->Remove(name).ok());
    VolumeSpec v = Volume(4, 1, 2);
    v.mirrors[0].legs[0] = Leg(kNew, 9, 2);
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(v, "user", "secret-secret", &device).ok());
    CPPUNIT_ASSERT(RaidTable().find("c4900") == std::string::npos);
    // The manager's replacement drops it.
    ReplaceLeg(4950);
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo(kNewData, &info).ok());
    CPPUNIT_ASSERT(!info.exists);
    CPPUNIT_ASSERT(!Has(assembly_->Watch(), kNew));
  }

  // "An agent that starts with a recorded mirror's raid suspended (a trim
  // it did not finish) resumes it."
  void RestartResumesASuspendedRaid() {
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(4, 1, 2), "user", "secret-secret", &device).ok());
    CPPUNIT_ASSERT(dm_->Suspend(kRaid).ok());
    CPPUNIT_ASSERT(Suspended());
    Open();
    CPPUNIT_ASSERT(assembly_->Start().ok());
    CPPUNIT_ASSERT(!Suspended());
  }

  // A fresh leg beside written ones is filled by dm raid as a replacement
  // is; a mirror of fresh legs only (nosync) is not.
  void AttachFillingAFreshLegMarksItForTrim() {
    VolumeSpec v = Volume(4, 1, 1);
    v.mirrors[0].legs[1].status = 2;
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(v, "user", "secret-secret", &device).ok());
    CPPUNIT_ASSERT(RecordedLeg(4000).trim);
    CPPUNIT_ASSERT(!RecordedLeg(4001).trim);
    CPPUNIT_ASSERT(assembly_->Attach(Volume(5, 1, 1), "user", "secret-secret", &device).ok());
    CPPUNIT_ASSERT(!RecordedLeg(5000, 5).trim);
  }

  void RecordKeepsTheLegFlags() {
    VolumeSpec v = Volume(4, 1, 2), back;
    v.mirrors[0].legs[0].trim = true;
    v.mirrors[0].legs[1].poisoned = true;
    std::string user, secret;
    CPPUNIT_ASSERT(DecodeVolumeRecord(EncodeVolumeRecord(v, "u", "s"), &back, &user, &secret).ok());
    CPPUNIT_ASSERT(back.mirrors[0].legs[0].trim && !back.mirrors[0].legs[0].poisoned);
    CPPUNIT_ASSERT(!back.mirrors[0].legs[1].trim && back.mirrors[0].legs[1].poisoned);
    // A record written before the flags existed reads them as false.
    const std::string old =
        R"({"lvolid": 4, "lvolname": "vol4", "chap_user": "u", "chap_secret": "s", "mirrors": [{"mirrorid": 400,
            "offset_gib": 0, "capacity_gib": 1, "legs": [{"chunkid": 4000, "pdskid": 1, "portals": ["10.0.0.1:3260"],
            "length_mib": 1024, "status": 2}]}]})";
    CPPUNIT_ASSERT(DecodeVolumeRecord(old, &back, &user, &secret).ok());
    CPPUNIT_ASSERT(!back.mirrors[0].legs[0].trim && !back.mirrors[0].legs[0].poisoned);
  }

  void LegMapAnswerIsChecked() {
    LegMap map;
    CPPUNIT_ASSERT(ParseLegMap(Answer(64, {0, 16, 20, 2}), &map).ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(64), map.block_kib);
    CPPUNIT_ASSERT((map.ranges == std::vector<std::pair<int64_t, int64_t>>{{0, 16}, {20, 2}}));
    CPPUNIT_ASSERT(ParseLegMap(Answer(64, {}), &map).ok());
    CPPUNIT_ASSERT(map.ranges.empty());
    for (const xmlrpc_c::value& bad : {Answer(64, {0}), Answer(64, {0, 16, 10, 2}), Answer(64, {5, 0}),
                                       Answer(0, {0, 1}), Answer(64, {-1, 2}), IntValue(0)})
      CPPUNIT_ASSERT_EQUAL(EPROTO, ParseLegMap(bad, &map).code());
    std::vector<int64_t> many;
    for (int64_t i = 0; i <= kMaxLegMapRanges; ++i) many.insert(many.end(), {2 * i, 1});
    CPPUNIT_ASSERT_EQUAL(EPROTO, ParseLegMap(Answer(64, many), &map).code());
    // A head not registered yet has no id to ask with.
    CPPUNIT_ASSERT_EQUAL(EAGAIN, NewManagerLegMaps(nullptr, [] { return int64_t{0}; })->Get(1, &map).code());
  }

 private:
  void Open(int discard_timeout_ms = 0) {
    assembly_.reset();
    sim_ = std::shared_ptr<DeviceMapper>(NewSimDeviceMapper(DmDir()));
    dm_ = discard_timeout_ms > 0 ? std::shared_ptr<DeviceMapper>(WithDeadlines(sim_, 5000, discard_timeout_ms)) : sim_;
    iscsi_ = NewSimInitiator(tmp_->dir + "/iscsi", "iqn.2024-01.org.vastsky.test:head");
    mkdir((tmp_->dir + "/iscsi").c_str(), 0755);
    assembly_.reset(new Assembly(Options(tmp_->dir, &clock_, nullptr), dm_.get(), iscsi_.get(), &maps_));
  }
  // lvol 4 attached in sync, then its leg 4000 replaced by kNew; the
  // simulated raid reports it rebuilt at once.
  void RebuildLeg() {
    std::string device;
    CPPUNIT_ASSERT(assembly_->Attach(Volume(4, 1, 2), "user", "secret-secret", &device).ok());
    ReplaceLeg(kNew);
  }
  // The first leg of mirror 400 replaced by `chunk` (on a disk of its own).
  void ReplaceLeg(int64_t chunk) {
    VolumeSpec v = Volume(4, 1, 2);
    v.mirrors[0].legs[0] = Leg(chunk, chunk - kNew + 9, 3);
    CPPUNIT_ASSERT(assembly_->Rebuild(v, 400, 0).ok());
  }
  // The new leg's trim is over (done or given up): recorded so, and no
  // later look tries again.
  void AssertNoMoreTries() {
    CPPUNIT_ASSERT(!RecordedLeg(kNew).trim);
    const size_t tries = maps_.asked.size();
    clock_.Advance(3600000);
    assembly_->Watch();
    CPPUNIT_ASSERT_EQUAL(tries, maps_.asked.size());
  }
  std::string DmDir() const { return tmp_->dir + "/dm"; }
  bool Suspended() {
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo(kRaid, &info).ok());
    return info.suspended;
  }
  std::string RaidTable() {
    std::vector<DmTarget> t;
    CPPUNIT_ASSERT(dm_->GetTable(kRaid, &t).ok());
    return t[0].params;
  }
  std::string Discards() {
    std::string text;
    return ReadStateFile(DmDir() + "/discards", &text).ok() ? text : "";
  }
  // The raid's status line as the simulated dm gives it; "" for in sync.
  void SetStatus(const std::string& line) {
    const std::string file = dm_->DevicePath(kRaid) + ".status";
    if (line.empty()) unlink(file.c_str());
    else std::ofstream(file) << line;
  }
  LegSpec RecordedLeg(int64_t chunk, int64_t lvol = 4) {
    std::string text, user, secret;
    VolumeSpec spec;
    CPPUNIT_ASSERT(ReadStateFile(tmp_->dir + "/volumes/" + std::to_string(lvol), &text).ok());
    CPPUNIT_ASSERT(DecodeVolumeRecord(text, &spec, &user, &secret).ok());
    for (const MirrorSpec& m : spec.mirrors)
      for (const LegSpec& l : m.legs)
        if (l.chunk_id == chunk) return l;
    CPPUNIT_FAIL("no leg " + std::to_string(chunk) + " in the record");
    return LegSpec();
  }
  // The first 48 bytes of a dm-raid superblock: magic, then zeros up to
  // array_resync_offset (little endian) at byte 40.
  static std::string Superblock(uint64_t resync_offset) {
    std::string sb = "DmRd" + std::string(36, '\0');
    for (int i = 0; i < 8; ++i) sb += static_cast<char>(resync_offset >> (8 * i) & 0xff);
    return sb;
  }
  void WriteAt(const std::string& dev, off_t offset, const std::string& text) {
    int fd = open(dm_->DevicePath(dev).c_str(), O_WRONLY);
    CPPUNIT_ASSERT(fd >= 0);
    CPPUNIT_ASSERT_EQUAL(static_cast<ssize_t>(text.size()), pwrite(fd, text.data(), text.size(), offset));
    close(fd);
  }
  std::string ReadAt(const std::string& dev, off_t offset, size_t n) {
    std::string buf(n, 'x');
    int fd = open(dm_->DevicePath(dev).c_str(), O_RDONLY);
    CPPUNIT_ASSERT(fd >= 0);
    CPPUNIT_ASSERT_EQUAL(static_cast<ssize_t>(n), pread(fd, &buf[0], n, offset));
    close(fd);
    return buf;
  }

  std::unique_ptr<TempDb> tmp_;
  FakeClock clock_;
  FakeLegMaps maps_;
  std::shared_ptr<DeviceMapper> sim_, dm_;
  std::unique_ptr<IscsiInitiator> iscsi_;
  std::unique_ptr<Assembly> assembly_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(HeadTrimTest);
