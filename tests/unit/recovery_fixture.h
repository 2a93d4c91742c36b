// What the recovery loop's unit tests share: a Store on a temporary
// database, storage servers (one disk each) and a head with agents behind
// FakeAgents, a FakeClock, and the Attacher and Recovery over them.
#pragma once

#include <cppunit/extensions/HelperMacros.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lib/clock.h"
#include "manager/attacher.h"
#include "manager/recovery.h"
#include "manager/store.h"
#include "tests/unit/fake_agents.h"

namespace vastsky {

class RecoveryFixture : public CppUnit::TestFixture {
 public:
  void tearDown() override {
    recovery_.reset();
    attacher_.reset();
    store_.reset();
    (void)system(("rm -rf " + dir_).c_str());
  }

 protected:
  static constexpr int64_t kDiskSectors = 100LL * 1024 * 2048;  // 100 GiB
  static constexpr int kGraceS = 60;
  const std::string kHeadUrl = "http://127.0.0.1:8882/RPC2";
  const std::string kIqn = "iqn.2024-01.org.example:head";

  static std::string SsvrUrl(int i) { return "http://127.0.0.1:" + std::to_string(9000 + i) + "/RPC2"; }

  Attacher::Locked Locked() {
    return [this](const std::function<Status()>& f) {
      std::lock_guard<std::mutex> lock(mu_);
      return f();
    };
  }

  // A fresh manager's loop (as after a restart), the grace period kGraceS.
  void NewRecovery() {
    RecoveryOptions o;
    o.grace_s = kGraceS;
    recovery_.reset(new Recovery(store_.get(), attacher_.get(), Locked(), o, &clock_));
  }

  void SetUpPool(int servers) {
    char tmpl[] = "/tmp/vastsky-unit-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_.reset(new Store);
    CPPUNIT_ASSERT(store_->Open(dir_ + "/state.db", Store::Options()).ok());
    attacher_.reset(new Attacher(store_.get(), Locked(), &agents_, &agents_));
    for (int s = 0; s < servers; ++s) {
      int64_t id, pd;
      const std::string url = SsvrUrl(s);
      CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.0." + std::to_string(s + 1)}, nullptr, &id, false, &url).ok());
      CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(id, "/dev/d0", kDiskSectors, &pd).ok());
      ssvrs_.push_back(id);
      pdsks_.push_back(pd);
    }
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &head_, false, &kHeadUrl, &kIqn).ok());
    NewRecovery();
  }

  VolumeLayout Layout(int64_t v) {
    VolumeLayout l;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{v, ""}, &l).ok());
    return l;
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
  std::mutex mu_;
  FakeAgents agents_;
  FakeClock clock_;
  std::unique_ptr<Attacher> attacher_;
  std::unique_ptr<Recovery> recovery_;
  std::vector<int64_t> ssvrs_, pdsks_;
  int64_t head_ = 0;
};

}  // namespace vastsky
