// The simulated target (agents/host/sim_target.cc) keeps the IscsiTarget
// contract (agents/host/iscsi_target.h) that integration tests rely on.
#include <cppunit/extensions/HelperMacros.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "agents/host/iscsi_target.h"

using namespace vastsky;

namespace {

const char kIqn[] = "iqn.2010-10.org.vastsky:pdsk-00000007";
const char kHead[] = "iqn.2024-01.org.example:head";

std::vector<std::string> Seen(IscsiTarget* t, const std::string& initiator) {
  std::vector<TargetInfo> all;
  CPPUNIT_ASSERT(t->List(&all).ok());
  for (const TargetInfo& i : all)
    for (const InitiatorInfo& a : i.initiators)
      if (a.initiator == initiator) return a.serials;
  return {};
}

}  // namespace

class SimTargetTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(SimTargetTest);
  CPPUNIT_TEST(MapSetsExactlyTheSerials);
  CPPUNIT_TEST(RemoveLunUnmapsItEverywhere);
  CPPUNIT_TEST(SerialServingAnotherDeviceIsEEXIST);
  CPPUNIT_TEST(LunNumbersAreGivenBackAndMappedAsIs);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    char path[] = "/tmp/vastsky-simtarget-XXXXXX";
    CPPUNIT_ASSERT(mkdtemp(path) != nullptr);
    dir_ = path;
    t_ = NewSimTarget(dir_ + "/state");
    CPPUNIT_ASSERT(t_->Export({kIqn, {"127.0.0.1:3260"}}).ok());
    CPPUNIT_ASSERT(t_->AddLun(kIqn, {LegSerial(1), "/dev/a"}).ok());
    CPPUNIT_ASSERT(t_->AddLun(kIqn, {LegSerial(2), "/dev/b"}).ok());
  }
  void tearDown() override { std::filesystem::remove_all(dir_); }

  // iscsi_target.h, Map: "the initiator sees exactly these LUNs"; Allow
  // "maps nothing"; ENOENT for a missing ACL or LUN.
  void MapSetsExactlyTheSerials() {
    CPPUNIT_ASSERT_EQUAL(ENOENT, t_->Map(kIqn, kHead, {LegSerial(1)}).code());
    CPPUNIT_ASSERT(t_->Allow(kIqn, {kHead, "u", "secret-secret"}).ok());
    CPPUNIT_ASSERT(Seen(t_.get(), kHead).empty());
    CPPUNIT_ASSERT(t_->Map(kIqn, kHead, {LegSerial(1), LegSerial(2)}).ok());
    CPPUNIT_ASSERT_EQUAL(size_t{2}, Seen(t_.get(), kHead).size());
    CPPUNIT_ASSERT(t_->Map(kIqn, kHead, {LegSerial(2)}).ok());
    CPPUNIT_ASSERT((Seen(t_.get(), kHead) == std::vector<std::string>{LegSerial(2)}));
    CPPUNIT_ASSERT_EQUAL(ENOENT, t_->Map(kIqn, kHead, {LegSerial(3)}).code());
    CPPUNIT_ASSERT((Seen(t_.get(), kHead) == std::vector<std::string>{LegSerial(2)}));
  }

  // RemoveLun "unmaps the LUN from every ACL first; absent fine".
  void RemoveLunUnmapsItEverywhere() {
    CPPUNIT_ASSERT(t_->Allow(kIqn, {kHead, "u", "secret-secret"}).ok());
    CPPUNIT_ASSERT(t_->Map(kIqn, kHead, {LegSerial(1), LegSerial(2)}).ok());
    CPPUNIT_ASSERT(t_->RemoveLun(kIqn, LegSerial(1)).ok());
    CPPUNIT_ASSERT(t_->RemoveLun(kIqn, LegSerial(1)).ok());
    CPPUNIT_ASSERT((Seen(t_.get(), kHead) == std::vector<std::string>{LegSerial(2)}));
    std::vector<TargetInfo> all;
    CPPUNIT_ASSERT(t_->List(&all).ok());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, all.at(0).luns.size());
  }

  void SerialServingAnotherDeviceIsEEXIST() {
    CPPUNIT_ASSERT(t_->AddLun(kIqn, {LegSerial(1), "/dev/a"}).ok());
    CPPUNIT_ASSERT_EQUAL(EEXIST, t_->AddLun(kIqn, {LegSerial(1), "/dev/c"}).code());
    CPPUNIT_ASSERT_EQUAL(ENOENT, t_->AddLun("iqn.2010-10.org.vastsky:pdsk-00000009", {LegSerial(5), "/dev/e"}).code());
  }

  // iscsi_target.h, AddLun: "at lun.lun when that is set ... EEXIST if ...
  // another serial holds that number or this serial is at another number";
  // Map: "mapped at their target LUN numbers". A fresh kernel (a reboot)
  // given the numbers back has the LUNs where they were, gaps included.
  void LunNumbersAreGivenBackAndMappedAsIs() {
    int n = -1;
    CPPUNIT_ASSERT(t_->AddLun(kIqn, {LegSerial(1), "/dev/a"}, &n).ok());
    CPPUNIT_ASSERT_EQUAL(kFirstLegLun, n);  // never 0 (iscsi_target.h)
    CPPUNIT_ASSERT(t_->AddLun(kIqn, {LegSerial(2), "/dev/b", 2}, &n).ok());
    CPPUNIT_ASSERT_EQUAL(2, n);
    CPPUNIT_ASSERT_EQUAL(EEXIST, t_->AddLun(kIqn, {LegSerial(2), "/dev/b", 4}).code());
    CPPUNIT_ASSERT_EQUAL(EEXIST, t_->AddLun(kIqn, {LegSerial(3), "/dev/c", 2}).code());
    std::unique_ptr<IscsiTarget> rebooted = NewSimTarget(dir_ + "/state-after-reboot");
    CPPUNIT_ASSERT(rebooted->Export({kIqn, {}}).ok());
    Status st = rebooted->AddLun(kIqn, {LegSerial(2), "/dev/b", 2}, &n);
    CPPUNIT_ASSERT_MESSAGE(st.ToString(), st.ok());
    CPPUNIT_ASSERT_EQUAL(2, n);
    CPPUNIT_ASSERT(rebooted->AddLun(kIqn, {LegSerial(9), "/dev/i"}, &n).ok());
    CPPUNIT_ASSERT_EQUAL(1, n);
    CPPUNIT_ASSERT(rebooted->AddLun(kIqn, {LegSerial(7), "/dev/g", 5}, &n).ok());
    CPPUNIT_ASSERT(rebooted->Allow(kIqn, {kHead, "u", "secret-secret"}).ok());
    CPPUNIT_ASSERT(rebooted->Map(kIqn, kHead, {LegSerial(7), LegSerial(2)}).ok());
    std::vector<TargetInfo> all;
    CPPUNIT_ASSERT(rebooted->List(&all).ok());
    std::map<std::string, int> target;
    for (const LunSpec& l : all.at(0).luns) target[l.serial] = l.lun;
    CPPUNIT_ASSERT_EQUAL(5, target[LegSerial(7)]);
    const InitiatorInfo& head = all.at(0).initiators.at(0);
    CPPUNIT_ASSERT_EQUAL(size_t{2}, head.luns.size());
    for (size_t i = 0; i < head.serials.size(); ++i) CPPUNIT_ASSERT_EQUAL(target[head.serials[i]], head.luns[i]);
  }

 private:
  std::string dir_;
  std::unique_ptr<IscsiTarget> t_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(SimTargetTest);
