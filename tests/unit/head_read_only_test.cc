// A read-only volume on the head (agents/PROTOCOL.md, `read_only` in the
// `lvol` struct): parsed with false for absent, its top device loaded
// read-only over writable raids, and kept so by a restart, a re-assembly,
// a grow, a rebuild and a freeze; a repeat attach in the other mode
// refused. Over the simulated dm, whose read-only devices have a ".ro" file.
#include <cppunit/extensions/HelperMacros.h>

#include <sys/stat.h>

#include <cerrno>
#include <memory>
#include <nlohmann/json.hpp>

#include "agents/head/assembly.h"
#include "agents/head/freezer.h"
#include "agents/head/volume_spec.h"
#include "lib/api_params.h"
#include "lib/clock.h"
#include "lib/version.h"
#include "tests/unit/head_fixture.h"
#include "tests/unit/temp_db.h"

using namespace vastsky;
using namespace vastsky::head_test;

namespace {

using Struct = std::map<std::string, xmlrpc_c::value>;

// The `lvol` struct a manager sends for v, read_only as given.
Struct LvolStruct(const VolumeSpec& v, const xmlrpc_c::value* read_only) {
  std::vector<xmlrpc_c::value> mirrors;
  for (const MirrorSpec& m : v.mirrors) {
    std::vector<xmlrpc_c::value> legs;
    for (const LegSpec& l : m.legs) {
      std::vector<xmlrpc_c::value> portals;
      for (const std::string& p : l.portals) portals.push_back(xmlrpc_c::value_string(p));
      legs.push_back(xmlrpc_c::value_struct(Struct{{"chunkid", xmlrpc_c::value_int(static_cast<int>(l.chunk_id))},
                                                   {"pdskid", xmlrpc_c::value_int(static_cast<int>(l.pdsk_id))},
                                                   {"portals", xmlrpc_c::value_array(portals)},
                                                   {"length_mib", xmlrpc_c::value_int(static_cast<int>(l.length_mib))},
                                                   {"status", xmlrpc_c::value_int(l.status)}}));
    }
    mirrors.push_back(xmlrpc_c::value_struct(Struct{{"mirrorid", xmlrpc_c::value_int(static_cast<int>(m.mirror_id))},
                                                    {"offset_gib", xmlrpc_c::value_int(static_cast<int>(m.offset_gib))},
                                                    {"capacity_gib", xmlrpc_c::value_int(static_cast<int>(m.capacity_gib))},
                                                    {"legs", xmlrpc_c::value_array(legs)}}));
  }
  Struct s{{"lvolid", xmlrpc_c::value_int(static_cast<int>(v.lvol_id))},
           {"lvolname", xmlrpc_c::value_string(v.name)},
           {"mirrors", xmlrpc_c::value_array(mirrors)}};
  if (read_only) s["read_only"] = *read_only;
  return s;
}

// Parses v sent as an attach's `lvol`, read_only as given (null: absent).
Status Parse(const VolumeSpec& v, const xmlrpc_c::value* read_only, VolumeSpec* out) {
  xmlrpc_c::paramList list;
  list.add(xmlrpc_c::value_struct(Struct{{"ver", xmlrpc_c::value_int(kProtocolVersion)},
                                         {"lvol", xmlrpc_c::value_struct(LvolStruct(v, read_only))}}));
  Params p, lvol;
  VS_RETURN_IF_ERROR(Params::From(list, &p));
  VS_RETURN_IF_ERROR(p.Struct("lvol", &lvol));
  return ParseVolumeSpec(lvol, out);
}

VolumeSpec ReadOnly(VolumeSpec v) {
  v.read_only = true;
  return v;
}

}  // namespace

class HeadReadOnlyTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(HeadReadOnlyTest);
  CPPUNIT_TEST(ReadOnlyIsParsedAndAbsentIsFalse);
  CPPUNIT_TEST(ReadOnlyAttachLoadsOnlyTheTopReadOnly);
  CPPUNIT_TEST(AbsentReadOnlyStaysWritable);
  CPPUNIT_TEST(RestartAndReassemblyKeepReadOnly);
  CPPUNIT_TEST(RecordWithoutReadOnlyIsWritable);
  CPPUNIT_TEST(GrowKeepsTheMode);
  CPPUNIT_TEST(RebuildAndFreezeKeepReadOnly);
  CPPUNIT_TEST(RepeatAttachInTheOtherModeIsEinval);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    tmp_.reset(new TempDb);
    dm_ = NewSimDeviceMapper(tmp_->dir + "/dm");
    iscsi_ = NewSimInitiator(tmp_->dir + "/iscsi", "iqn.2024-01.org.vastsky.test:head");
    mkdir((tmp_->dir + "/iscsi").c_str(), 0755);
    Open();
  }
  void tearDown() override {
    assembly_.reset();
    freezer_.reset();
    tmp_.reset();
  }

  // "`read_only` (bool, optional: absent is false)"
  void ReadOnlyIsParsedAndAbsentIsFalse() {
    VolumeSpec v;
    CPPUNIT_ASSERT(Parse(Volume(7, 2), nullptr, &v).ok());
    CPPUNIT_ASSERT(!v.read_only);
    const xmlrpc_c::value yes = xmlrpc_c::value_boolean(true), no = xmlrpc_c::value_boolean(false);
    VolumeSpec ro, rw;
    CPPUNIT_ASSERT(Parse(Volume(7, 2), &yes, &ro).ok());
    CPPUNIT_ASSERT(ro.read_only);
    CPPUNIT_ASSERT(Parse(Volume(7, 2), &no, &rw).ok());
    CPPUNIT_ASSERT(!rw.read_only);
    // A bool only: a manager sending 1 is told, not taken at its word.
    const xmlrpc_c::value one = xmlrpc_c::value_int(1);
    VolumeSpec bad;
    const Status st = Parse(Volume(7, 2), &one, &bad);
    CPPUNIT_ASSERT_EQUAL(EINVAL, st.code());
    CPPUNIT_ASSERT(st.message().find("read_only") != std::string::npos);
  }

  // "the head loads the top device `vastsky-<lvolid>` read-only ...; its
  // raids and legs stay read-write"; listVolumes' `read_only`.
  void ReadOnlyAttachLoadsOnlyTheTopReadOnly() {
    Attach(ReadOnly(Volume(7, 2)));
    CPPUNIT_ASSERT(ReadOnlyDm("vastsky-7"));
    std::vector<std::string> names;
    CPPUNIT_ASSERT(dm_->List(&names).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(1 + 2 + 8), names.size());
    for (const std::string& n : names)
      if (n != "vastsky-7") CPPUNIT_ASSERT_MESSAGE(n + " stays writable", !ReadOnlyDm(n));
    CPPUNIT_ASSERT(Listed(7).read_only);
    // A write through the simulated device fails as the kernel's would.
    CPPUNIT_ASSERT_EQUAL(EROFS, dm_->Discard("vastsky-7", 0, 8).code());
  }

  // "absent is false": the top device is writable, as before.
  void AbsentReadOnlyStaysWritable() {
    Attach(Volume(8, 1));
    CPPUNIT_ASSERT(!ReadOnlyDm("vastsky-8"));
    CPPUNIT_ASSERT(!Listed(8).read_only);
    CPPUNIT_ASSERT(dm_->Discard("vastsky-8", 0, 8).ok());
  }

  // "The record in `state_dir` keeps the mode ..., so re-assembly by the
  // looks, an agent restart ... load the top device read-only again";
  // "A top device found writable that is to be read-only (adopted at a
  // restart) is reloaded read-only."
  void RestartAndReassemblyKeepReadOnly() {
    Attach(ReadOnly(Volume(7, 2)));
    Restart();  // its devices are still there, adopted
    CPPUNIT_ASSERT(ReadOnlyDm("vastsky-7"));
    // The watch's re-assembly of a top device gone missing.
    CPPUNIT_ASSERT(dm_->Remove("vastsky-7").ok());
    assembly_->Reconcile();
    CPPUNIT_ASSERT(ReadOnlyDm("vastsky-7"));
    // A reboot: nothing is left but the record.
    std::vector<std::string> names;
    CPPUNIT_ASSERT(dm_->List(&names).ok());
    for (const std::string& n : names) CPPUNIT_ASSERT(dm_->Remove(n).ok());
    Restart();
    CPPUNIT_ASSERT(ReadOnlyDm("vastsky-7"));
    // Found writable (as by hand, or by an agent that ignored the mode).
    std::vector<DmTarget> table;
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-7", &table).ok());
    CPPUNIT_ASSERT(dm_->Replace("vastsky-7", table, DmAccess::kReadWrite).ok());
    Restart();
    CPPUNIT_ASSERT(ReadOnlyDm("vastsky-7"));
    std::vector<DmTarget> now;
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-7", &now).ok());
    CPPUNIT_ASSERT_EQUAL(table.size(), now.size());
    CPPUNIT_ASSERT_EQUAL(table[1].params, now[1].params);
  }

  // "(a record without it: false)"
  void RecordWithoutReadOnlyIsWritable() {
    VolumeSpec v = ReadOnly(Volume(3, 1)), back;
    std::string user, secret;
    const std::string text = EncodeVolumeRecord(v, "user", "secret-secret");
    CPPUNIT_ASSERT(DecodeVolumeRecord(text, &back, &user, &secret).ok());
    CPPUNIT_ASSERT(back.read_only);
    nlohmann::json j = nlohmann::json::parse(text);
    CPPUNIT_ASSERT_EQUAL(size_t(1), j.erase("read_only"));  // the record as an older agent wrote it
    CPPUNIT_ASSERT(DecodeVolumeRecord(j.dump(1), &back, &user, &secret).ok());
    CPPUNIT_ASSERT(!back.read_only);
    CPPUNIT_ASSERT_EQUAL(int64_t(3), back.lvol_id);
  }

  // "`growLogicalVolume`'s reload load[s] the top device read-only again";
  // "`growLogicalVolume` keep[s] the attach's mode whatever [its]
  // `read_only` says" (both ways).
  void GrowKeepsTheMode() {
    Attach(ReadOnly(Volume(9, 1)));
    CPPUNIT_ASSERT(assembly_->Grow(Volume(9, 2)).ok());  // this call says writable
    std::vector<DmTarget> table;
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-9", &table).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(2), table.size());
    CPPUNIT_ASSERT(ReadOnlyDm("vastsky-9"));
    CPPUNIT_ASSERT(dm_->Remove("vastsky-9").ok());  // and the grown record says so too
    Restart();
    CPPUNIT_ASSERT(ReadOnlyDm("vastsky-9"));
    table.clear();
    CPPUNIT_ASSERT(dm_->GetTable("vastsky-9", &table).ok());
    CPPUNIT_ASSERT_EQUAL(size_t(2), table.size());
    Attach(Volume(8, 1));
    CPPUNIT_ASSERT(assembly_->Grow(ReadOnly(Volume(8, 2))).ok());
    CPPUNIT_ASSERT(!ReadOnlyDm("vastsky-8"));
  }

  // "`rebuildMirror` reloads only raids, and a freeze's suspend and resume
  // keep the mode"
  void RebuildAndFreezeKeepReadOnly() {
    const VolumeSpec v = ReadOnly(Volume(4, 2, 2));
    Attach(v);
    VolumeSpec next = v;
    next.read_only = false;  // ignored, as by a grow
    next.mirrors[0].legs[0] = Leg(4999, 9, 3);
    CPPUNIT_ASSERT(assembly_->Rebuild(next, next.mirrors[0].mirror_id, 0).ok());
    CPPUNIT_ASSERT(ReadOnlyDm("vastsky-4"));
    CPPUNIT_ASSERT(assembly_->Freeze(4, 2000).ok());
    int64_t paused = 0;
    CPPUNIT_ASSERT(freezer_->Thaw(4, &paused).ok());
    CPPUNIT_ASSERT(ReadOnlyDm("vastsky-4"));
  }

  // "A repeated `attachLogicalVolume` with another `read_only` is EINVAL
  // and changes nothing (detach first)"
  void RepeatAttachInTheOtherModeIsEinval() {
    Attach(ReadOnly(Volume(6, 1)));
    std::string device;
    const Status st = assembly_->Attach(Volume(6, 1), "user", "secret-secret", &device);
    CPPUNIT_ASSERT_EQUAL(EINVAL, st.code());
    CPPUNIT_ASSERT(st.message().find("detach it first") != std::string::npos);
    CPPUNIT_ASSERT(ReadOnlyDm("vastsky-6"));
    Attach(ReadOnly(Volume(6, 1)));  // the same mode: a repeat
    Attach(Volume(5, 1));
    CPPUNIT_ASSERT_EQUAL(EINVAL, assembly_->Attach(ReadOnly(Volume(5, 1)), "user", "secret-secret", &device).code());
    CPPUNIT_ASSERT(!ReadOnlyDm("vastsky-5"));
    // Once detached, the other mode is a new attach.
    CPPUNIT_ASSERT(assembly_->Detach(5).ok());
    Attach(ReadOnly(Volume(5, 1)));
    CPPUNIT_ASSERT(ReadOnlyDm("vastsky-5"));
  }

 private:
  void Open() {
    assembly_.reset();
    freezer_.reset(new Freezer(dm_.get(), &clock_));
    assembly_.reset(new Assembly(Options(tmp_->dir, &clock_, freezer_.get()), dm_.get(), iscsi_.get()));
  }
  // The agent restarts as main.cc starts it: Start, then a first look.
  void Restart() {
    Open();
    CPPUNIT_ASSERT(assembly_->Start().ok());
    assembly_->Reconcile();
  }
  void Attach(const VolumeSpec& v) {
    std::string device;
    const Status st = assembly_->Attach(v, "user", "secret-secret", &device);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
  }
  bool ReadOnlyDm(const std::string& name) {
    DmInfo info;
    CPPUNIT_ASSERT(dm_->GetInfo(name, &info).ok());
    CPPUNIT_ASSERT_MESSAGE(name + " exists", info.exists);
    return info.read_only;
  }
  VolumeState Listed(int64_t lvol) {
    std::vector<VolumeState> vols;
    CPPUNIT_ASSERT(assembly_->List(&vols).ok());
    for (const VolumeState& v : vols)
      if (v.lvol_id == lvol) return v;
    CPPUNIT_FAIL("lvol " + std::to_string(lvol) + " not listed");
    return {};
  }

  std::unique_ptr<TempDb> tmp_;
  FakeClock clock_;
  std::unique_ptr<DeviceMapper> dm_;
  std::unique_ptr<IscsiInitiator> iscsi_;
  std::unique_ptr<Freezer> freezer_;
  std::unique_ptr<Assembly> assembly_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(HeadReadOnlyTest);
