// The storage agent's registration (agents/storage/registration.h) against
// a fake manager, sim device-mapper and regular files as disks:
// agents/PROTOCOL.md, "Storage agent", start-up steps 2, 3 and 6.
#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <string>
#include <vector>

#include "agents/host/thin_pool.h"
#include "agents/storage/exports.h"
#include "agents/storage/pool_legs.h"
#include "agents/storage/registration.h"
#include "lib/api_params.h"
#include "lib/http_server.h"
#include "lib/manager_link.h"
#include "lib/rpc_service.h"
#include "tests/unit/temp_db.h"

using namespace vastsky;

namespace {

const char kCluster[] = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

// What the manager was sent, and the answers it gives.
struct FakeManager {
  std::string cluster_id = kCluster;
  int64_t next_pdsk = 40;
  std::vector<int64_t> sent_pdskids;  // per registerPhysicalDisk: the pdskid sent, 0 if none
  std::vector<int64_t> capacities;
  std::vector<Params> pools;  // of the last heartbeat

  RpcService service;
  HttpServer server;

  FakeManager() {
    service.Add("registerStorageServer", [](const Params&, xmlrpc_c::value* r) {
      *r = xmlrpc_c::value_int(3);
      return Status::OK();
    });
    service.Add("getClusterStatus", [this](const Params&, xmlrpc_c::value* r) {
      std::map<std::string, xmlrpc_c::value> m{{"total_capacity", xmlrpc_c::value_int(0)}};
      if (!cluster_id.empty()) m["cluster_id"] = xmlrpc_c::value_string(cluster_id);
      *r = xmlrpc_c::value_struct(m);
      return Status::OK();
    });
    service.Add("registerPhysicalDisk", [this](const Params& p, xmlrpc_c::value* r) {
      int64_t id = 0;
      std::string capacity;
      if (p.Has("pdskid")) VS_RETURN_IF_ERROR(p.Id("pdskid", &id));
      VS_RETURN_IF_ERROR(p.String("capacity", &capacity));
      sent_pdskids.push_back(id);
      capacities.push_back(std::stoll(capacity));
      *r = xmlrpc_c::value_int(static_cast<int>(id ? id : ++next_pdsk));
      return Status::OK();
    });
    service.Add("heartbeat", [this](const Params& p, xmlrpc_c::value* r) {
      pools.clear();
      VS_RETURN_IF_ERROR(p.StructArray("pools", 100, &pools));
      *r = xmlrpc_c::value_int(0);
      return Status::OK();
    });
    HttpOptions http;
    http.listen = "127.0.0.1:0";
    http.secret = "test-secret-0123456789";
    CPPUNIT_ASSERT(server.Start(http, [this](const Caller& caller, const std::string& body) { return service.Handle(caller, body); }).ok());
  }
  ~FakeManager() { server.Stop(); }
  std::string url() { return "http://127.0.0.1:" + std::to_string(server.port()) + "/RPC2"; }
};

void MakeDisk(const std::string& path, uint64_t mib, const std::string& head = "") {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CPPUNIT_ASSERT(fd >= 0);
  CPPUNIT_ASSERT_EQUAL(0, ftruncate(fd, static_cast<off_t>(mib << 20)));
  CPPUNIT_ASSERT_EQUAL(static_cast<ssize_t>(head.size()), pwrite(fd, head.data(), head.size(), 0));
  close(fd);
}

}  // namespace

class StorageRegistrationTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(StorageRegistrationTest);
  CPPUNIT_TEST(BlankDisksAreFormattedLabelledOnesSendTheirId);
  CPPUNIT_TEST(RefusedDisksAreSkipped);
  CPPUNIT_TEST(NoClusterIdRegistersNoDisk);
  CPPUNIT_TEST_SUITE_END();

  std::unique_ptr<TempDb> tmp_;
  std::unique_ptr<FakeManager> manager_;
  std::vector<std::string> disks_;

  // One agent run: pools, exports and registration over the same state.
  struct Agent {
    std::unique_ptr<ThinPools> pools;
    std::unique_ptr<Exports> exports;
    std::unique_ptr<ManagerLink> link;
    std::unique_ptr<Registration> registration;
  };
  std::unique_ptr<Agent> Start() {
    std::unique_ptr<Agent> a(new Agent);
    ThinPoolOptions o;
    o.thin_check = "true";
    a->pools.reset(new ThinPools(NewSimDeviceMapper(tmp_->dir + "/dm"), o));
    a->exports.reset(new Exports(NewSimTarget(tmp_->dir + "/target"), std::make_shared<PoolLegDevices>(a->pools.get()),
                                 {"127.0.0.1"}, tmp_->dir));
    CPPUNIT_ASSERT(a->exports->Load().ok());
    a->link.reset(new ManagerLink({manager_->url()}, "admin", "test-secret-0123456789", "", 5000));
    RegistrationOptions r;
    r.data_ips = {"127.0.0.1"};
    r.url = "http://127.0.0.1:1/RPC2";
    r.disks = disks_;
    r.ids_file = tmp_->dir + "/ids";
    a->registration.reset(new Registration(r, a->link.get(), a->exports.get(), a->pools.get()));
    CPPUNIT_ASSERT(a->registration->RestoreExports().ok());
    return a;
  }
  std::vector<int64_t> Exported(Agent* a) {
    std::vector<ExportInfo> list;
    CPPUNIT_ASSERT(a->exports->List(&list).ok());
    std::vector<int64_t> ids;
    for (const ExportInfo& e : list) ids.push_back(e.pdsk_id);
    return ids;
  }

 public:
  void setUp() override {
    tmp_.reset(new TempDb);
    manager_.reset(new FakeManager);
    disks_ = {tmp_->dir + "/a", tmp_->dir + "/b"};
    for (const std::string& d : disks_) MakeDisk(d, 256);
  }
  void tearDown() override {
    manager_.reset();
    tmp_.reset();
  }

  // "A new (zero) disk registers without pdskid, then is formatted with the
  // id returned"; "pdskid = the label's id when the disk is labelled";
  // "capacity = pool data sectors"; heartbeats carry the pools.
  void BlankDisksAreFormattedLabelledOnesSendTheirId() {
    {
      auto a = Start();
      CPPUNIT_ASSERT(a->registration->Register().ok());
      CPPUNIT_ASSERT((manager_->sent_pdskids == std::vector<int64_t>{0, 0}));
      CPPUNIT_ASSERT((manager_->capacities == std::vector<int64_t>{239 * 2048, 239 * 2048}));
      CPPUNIT_ASSERT((Exported(a.get()) == std::vector<int64_t>{41, 42}));
      PoolLabel label;
      CPPUNIT_ASSERT(a->pools->ReadLabel(disks_[1], &label).ok());
      CPPUNIT_ASSERT_EQUAL(int64_t(42), label.pdsk_id);
      CPPUNIT_ASSERT_EQUAL(std::string(kCluster), label.cluster);
      CPPUNIT_ASSERT(a->registration->Beat().ok());
      CPPUNIT_ASSERT_EQUAL(size_t(2), manager_->pools.size());
      int64_t pdsk = 0, data = 0;
      std::string mode;
      CPPUNIT_ASSERT(manager_->pools[1].Id("pdskid", &pdsk).ok());
      CPPUNIT_ASSERT(manager_->pools[1].Int("data_mib", &data).ok());
      CPPUNIT_ASSERT(manager_->pools[1].String("mode", &mode).ok());
      CPPUNIT_ASSERT_EQUAL(int64_t(42), pdsk);
      CPPUNIT_ASSERT_EQUAL(int64_t(239), data);
      CPPUNIT_ASSERT_EQUAL(std::string("rw"), mode);
    }
    // A restart: the pools and exports are back before the manager is asked.
    manager_->sent_pdskids.clear();
    auto again = Start();
    CPPUNIT_ASSERT((Exported(again.get()) == std::vector<int64_t>{41, 42}));
    CPPUNIT_ASSERT_EQUAL(size_t(2), again->pools->Opened().size());
    CPPUNIT_ASSERT(again->registration->Register().ok());
    CPPUNIT_ASSERT((manager_->sent_pdskids == std::vector<int64_t>{41, 42}));
  }

  // "A refused disk is logged with what to do and skipped (the others go on)."
  void RefusedDisksAreSkipped() {
    MakeDisk(disks_[0], 256, std::string("DmRd\x01\0\0\0", 8));
    disks_.push_back(tmp_->dir + "/c");
    MakeDisk(disks_[2], 256);
    {
      ThinPools other(NewSimDeviceMapper(tmp_->dir + "/other-dm"), ThinPoolOptions());
      PoolLabel label;
      CPPUNIT_ASSERT(other.Format(disks_[2], "11111111-2222-3333-4444-555555555555", 9, &label).ok());
    }
    auto a = Start();
    CPPUNIT_ASSERT(a->registration->Register().ok());
    CPPUNIT_ASSERT((manager_->sent_pdskids == std::vector<int64_t>{0}));
    CPPUNIT_ASSERT((Exported(a.get()) == std::vector<int64_t>{41}));
    CPPUNIT_ASSERT((a->pools->Opened() == std::vector<int64_t>{41}));
  }

  // A manager without cluster_id: no disk is formatted or registered.
  void NoClusterIdRegistersNoDisk() {
    manager_->cluster_id.clear();
    auto a = Start();
    Status st = a->registration->Register();
    CPPUNIT_ASSERT_EQUAL(EPROTO, st.code());
    CPPUNIT_ASSERT(st.message().find("cluster_id") != std::string::npos);
    CPPUNIT_ASSERT(manager_->sent_pdskids.empty());
    PoolLabel label;
    CPPUNIT_ASSERT_EQUAL(ENOENT, a->pools->ReadLabel(disks_[0], &label).code());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(StorageRegistrationTest);
