// The Store test suites' common ground: a Store on a fresh database per
// test, a cluster of servers and disks registered in it, and the audit
// every suite ends its checks with.
#pragma once

#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

#include "manager/store.h"
#include "tests/unit/temp_db.h"

namespace vastsky {

class StoreFixture : public CppUnit::TestFixture {
 public:
  void setUp() override {
    tmp_ = new TempDb;
    store_ = new Store;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, Store::Options()).ok());
    ssvrs_.clear();
    pdsks_.clear();
  }
  void tearDown() override {
    delete store_;
    delete tmp_;
  }

 protected:
  // servers storage servers of disks disks each, of sectors each.
  void Cluster(int servers, int disks, int64_t sectors) {
    for (int s = 0; s < servers; ++s) {
      int64_t id;
      CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.0." + std::to_string(ssvrs_.size() + 1)}, nullptr, &id).ok());
      ssvrs_.push_back(id);
      for (int d = 0; d < disks; ++d) {
        int64_t pd;
        CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(id, "/dev/d" + std::to_string(d), sectors, &pd).ok());
        pdsks_.push_back(pd);
      }
    }
  }

  void Audit() {
    std::vector<std::string> problems;
    CPPUNIT_ASSERT(Store::Audit(tmp_->path, &problems).ok());
    CPPUNIT_ASSERT_MESSAGE(problems.empty() ? "" : problems[0], problems.empty());
  }

  TempDb* tmp_ = nullptr;
  Store* store_ = nullptr;
  std::vector<int64_t> ssvrs_, pdsks_;
};

}  // namespace vastsky
