// The storage agent's exports (agents/storage/exports.h) and its link to
// the manager (lib/manager_link.h): agents/PROTOCOL.md, "A revoke is on
// disk before it is acknowledged", and a link shared by threads.
#include <cppunit/extensions/HelperMacros.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "agents/storage/exports.h"
#include "lib/http_server.h"
#include "lib/manager_link.h"
#include "lib/rpc_service.h"
#include "lib/ids.h"

using namespace vastsky;

namespace {

std::string TempDir() {
  char path[] = "/tmp/vastsky-exports-XXXXXX";
  CPPUNIT_ASSERT(mkdtemp(path) != nullptr);
  return path;
}

// An Exports as the agent builds it at start, over state in dir; `kernel`
// names the simulated kernel target's state (a new name: a reboot).
std::unique_ptr<Exports> Open(const std::string& dir, const std::string& kernel) {
  std::unique_ptr<Exports> e(new Exports(NewSimTarget(dir + "/" + kernel), {"127.0.0.1"}, dir + "/acls"));
  CPPUNIT_ASSERT(e->Load().ok());
  return e;
}

std::vector<std::string> Initiators(Exports* e, int64_t pdsk_id) {
  std::vector<ExportInfo> list;
  CPPUNIT_ASSERT(e->List(&list).ok());
  for (const ExportInfo& x : list)
    if (x.pdsk_id == pdsk_id) return x.initiators;
  return {};
}

}  // namespace

class StorageExportsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(StorageExportsTest);
  CPPUNIT_TEST(RevokeIsOnDiskBeforeItIsAcknowledged);
  CPPUNIT_TEST(RevokeOfAnInitiatorOnlyInTheKernelSucceeds);
  CPPUNIT_TEST(ManagerLinkIsSharedByThreads);
  CPPUNIT_TEST_SUITE_END();

 public:
  // "A revoke is on disk before it is acknowledged": a revoke whose ACL
  // file could not be written fails, and its retry writes the file even
  // though the initiator is gone from memory already; a restart (a fresh
  // Exports, the kernel's ACLs forgotten) does not allow it again.
  void RevokeIsOnDiskBeforeItIsAcknowledged() {
    const std::string dir = TempDir(), disk = dir + "/disk";
    const std::string head = "iqn.2024-01.org.example:head-1";
    {
      std::unique_ptr<Exports> e = Open(dir, "kernel-1");
      CPPUNIT_ASSERT(e->Export(7, disk).ok());
      CPPUNIT_ASSERT(e->Allow(7, {head, "user", "secret-secret"}).ok());
      CPPUNIT_ASSERT_EQUAL(0, mkdir((dir + "/acls.tmp").c_str(), 0700));  // the next write fails
      CPPUNIT_ASSERT(!e->Revoke(7, head).ok());
      CPPUNIT_ASSERT_EQUAL(0, rmdir((dir + "/acls.tmp").c_str()));
      CPPUNIT_ASSERT(e->Revoke(7, head).ok());  // the manager's retry
    }
    std::unique_ptr<Exports> after = Open(dir, "kernel-2");
    CPPUNIT_ASSERT(after->Export(7, disk).ok());
    CPPUNIT_ASSERT(Initiators(after.get(), 7).empty());
    std::filesystem::remove_all(dir);
  }

  // An initiator the kernel has but the ACL file never had (added by hand)
  // is revoked like any other, and stays revoked.
  void RevokeOfAnInitiatorOnlyInTheKernelSucceeds() {
    const std::string dir = TempDir(), disk = dir + "/disk";
    const std::string stray = "iqn.2024-01.org.example:stray";
    std::unique_ptr<Exports> e = Open(dir, "kernel");
    CPPUNIT_ASSERT(e->Export(7, disk).ok());
    std::unique_ptr<IscsiTarget> kernel = NewSimTarget(dir + "/kernel");
    CPPUNIT_ASSERT(kernel->Allow(DiskIqn(7), {stray, "", ""}).ok());
    CPPUNIT_ASSERT_EQUAL(size_t{1}, Initiators(e.get(), 7).size());
    CPPUNIT_ASSERT(e->Revoke(7, stray).ok());
    CPPUNIT_ASSERT(Initiators(e.get(), 7).empty());
    std::unique_ptr<Exports> after = Open(dir, "kernel-after-reboot");
    CPPUNIT_ASSERT(after->Export(7, disk).ok());
    CPPUNIT_ASSERT(Initiators(after.get(), 7).empty());
    std::filesystem::remove_all(dir);
  }

  // Calls from two threads on one link (the storage agent's heartbeat and
  // scrub report) take turns; under ThreadSanitizer (make SAN=thread) a
  // link without its lock is a reported race.
  void ManagerLinkIsSharedByThreads() {
    RpcService service;
    service.Add("heartbeat", [](const Params&, xmlrpc_c::value* r) {
      *r = xmlrpc_c::value_int(0);
      return Status::OK();
    });
    HttpOptions http;
    http.listen = "127.0.0.1:0";
    http.secret = "test-secret-0123456789";
    HttpServer server;
    CPPUNIT_ASSERT(server.Start(http, [&service](const std::string& body) { return service.Handle(body); }).ok());
    // The first URL refuses: every call moves preferred_ on to the second.
    ManagerLink link({"http://127.0.0.1:1/RPC2", "http://127.0.0.1:" + std::to_string(server.port()) + "/RPC2"},
                     http.secret, "", 5000);
    int failures[2] = {0, 0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t)
      threads.emplace_back([&link, &failures, t] {
        for (int i = 0; i < 20; ++i) {
          xmlrpc_c::value r;
          if (!link.Call("heartbeat", {}, &r).ok()) ++failures[t];
        }
      });
    for (std::thread& t : threads) t.join();
    server.Stop();
    CPPUNIT_ASSERT_EQUAL(0, failures[0] + failures[1]);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(StorageExportsTest);
