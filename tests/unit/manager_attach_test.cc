// The Store's side of attach and detach through agents (manager/attacher.h):
// agent registration (url, initiator, CHAP), the intent and outcome
// transactions, which ACLs a head still needs, and what a restarted manager
// makes of a transition nobody drives any more.
#include <cppunit/extensions/HelperMacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "manager/store.h"

using namespace vastsky;

namespace {
const int64_t kDiskSectors = 100LL * 1024 * 2048;  // 100 GiB
const std::string kHeadUrl = "http://127.0.0.1:8882/RPC2";
const std::string kIqn = "iqn.2024-01.org.example:head";

struct AttachTempDb {
  std::string dir, path;
  AttachTempDb() {
    char tmpl[] = "/tmp/vastsky-unit-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/state.db";
  }
  ~AttachTempDb() { (void)system(("rm -rf " + dir).c_str()); }
};
}  // namespace

class ManagerAttachTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ManagerAttachTest);
  CPPUNIT_TEST(RegistrationChecksAndKeepsChap);
  CPPUNIT_TEST(IntentThenOutcome);
  CPPUNIT_TEST(FinishSyncsOnlyPlannedLegs);
  CPPUNIT_TEST(AbortRemovesIntent);
  CPPUNIT_TEST(HeadWithoutAgentIsStateOnly);
  CPPUNIT_TEST(HeadLegsOfOtherVolumes);
  CPPUNIT_TEST(GrantedAclsOnAServer);
  CPPUNIT_TEST(ReopenTurnsTransitionsIntoError);
  CPPUNIT_TEST(DetachRefusedGoesBack);
  CPPUNIT_TEST_SUITE_END();

  AttachTempDb* tmp_ = nullptr;
  Store* store_ = nullptr;
  std::vector<int64_t> ssvrs_;

 public:
  void setUp() override {
    tmp_ = new AttachTempDb;
    store_ = new Store;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, Store::Options()).ok());
    ssvrs_.clear();
  }
  void tearDown() override {
    delete store_;
    delete tmp_;
  }

  void Cluster(int servers) {
    for (int s = 0; s < servers; ++s) {
      int64_t id, pd;
      const std::string url = "http://127.0.0.1:" + std::to_string(9000 + s) + "/RPC2";
      CPPUNIT_ASSERT(store_->RegisterStorageServer({"127.1.0." + std::to_string(s + 1)}, nullptr, &id, false, &url).ok());
      CPPUNIT_ASSERT(store_->RegisterPhysicalDisk(id, "/dev/d0", kDiskSectors, &pd).ok());
      ssvrs_.push_back(id);
    }
  }

  int64_t Head(const std::string& ip, const std::string& url = kHeadUrl, const std::string& iqn = kIqn) {
    int64_t id;
    CPPUNIT_ASSERT(store_->RegisterHeadServer({ip}, &id, false, &url, &iqn).ok());
    return id;
  }

  int64_t Volume(const std::string& name, int64_t gib = 6) {
    int64_t id;
    CPPUNIT_ASSERT(store_->CreateLogicalVolume(name, gib, 2, &id).ok());
    return id;
  }

  VolumeInfo Info(int64_t id) {
    std::vector<VolumeInfo> v;
    VolumeRef ref{id, ""};
    CPPUNIT_ASSERT(store_->ListLogicalVolumes(&ref, &v).ok());
    return v.at(0);
  }

  std::set<int> LegStatuses(int64_t id) {
    VolumeLayout layout;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{id, ""}, &layout).ok());
    std::set<int> out;
    for (const MirrorInfo& m : layout.mirrors)
      for (const ChunkInfo& c : m.chunks) out.insert(c.status);
    return out;
  }

  int Errors(int64_t lvol) {
    std::vector<EventInfo> ev;
    CPPUNIT_ASSERT(store_->ListEvents(0, 10000, &ev).ok());
    int n = 0;
    for (const EventInfo& e : ev) n += e.target == "lvol" && e.target_id == lvol && e.level == "error";
    return n;
  }

  void RegistrationChecksAndKeepsChap() {
    int64_t id;
    const std::string ftp = "ftp://x/", spaced = "http://a b/", good = kHeadUrl, bad_iqn = "IQN.X";
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->RegisterHeadServer({"127.2.0.1"}, &id, false, &ftp, &kIqn).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->RegisterHeadServer({"127.2.0.1"}, &id, false, &spaced, &kIqn).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->RegisterHeadServer({"127.2.0.1"}, &id, false, &good, &bad_iqn).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->RegisterHeadServer({"127.2.0.1"}, &id, false, &good, nullptr).code());
    CPPUNIT_ASSERT_EQUAL(EINVAL, store_->RegisterStorageServer({"127.2.0.2"}, nullptr, &id, false, &ftp).code());
    const int64_t h = Head("127.2.0.1");
    std::vector<HeadServerInfo> heads;
    CPPUNIT_ASSERT(store_->ListHeadServers(h, &heads).ok());
    CPPUNIT_ASSERT_EQUAL(kHeadUrl, heads[0].url);
    CPPUNIT_ASSERT_EQUAL(kIqn, heads[0].initiator);
    // Another head may not take the same initiator.
    const std::string url2 = "https://h2:8882/RPC2";
    CPPUNIT_ASSERT_EQUAL(EEXIST, store_->RegisterHeadServer({"127.2.0.3"}, &id, false, &url2, &kIqn).code());

    Cluster(2);
    const int64_t v = Volume("v");
    AttachPlan first, second;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, h, false, &first).ok());
    CPPUNIT_ASSERT_EQUAL(std::string("vastsky-hsvr-00000001"), first.head.chap_user);
    CPPUNIT_ASSERT_EQUAL(size_t(16), first.head.chap_secret.size());
    CPPUNIT_ASSERT(store_->AbortAttach(first, "test").ok());
    // A reconnect updates the url and keeps the credentials.
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &id, true, &url2, nullptr).ok());
    CPPUNIT_ASSERT_EQUAL(h, id);
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, h, false, &second).ok());
    CPPUNIT_ASSERT_EQUAL(url2, second.head.url);
    CPPUNIT_ASSERT_EQUAL(first.head.chap_secret, second.head.chap_secret);
    // The storage agents know the head by its initiator: it cannot change
    // while a volume is attached (or in transition) under it.
    const std::string renamed = kIqn + "-renamed";
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->RegisterHeadServer({"127.2.0.1"}, &id, true, nullptr, &renamed).code());
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &id, true, nullptr, &kIqn).ok());
    CPPUNIT_ASSERT(store_->AbortAttach(second, "test").ok());
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.1"}, &id, true, nullptr, &renamed).ok());
  }

  void IntentThenOutcome() {
    Cluster(2);
    const int64_t h = Head("127.2.0.1"), v = Volume("v");
    AttachPlan plan;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, h, false, &plan).ok());
    CPPUNIT_ASSERT(plan.agent);
    CPPUNIT_ASSERT_EQUAL(kIqn, plan.head.initiator);
    CPPUNIT_ASSERT_EQUAL(size_t(2), plan.layout.mirrors.size());
    for (const MirrorInfo& m : plan.layout.mirrors)
      for (const ChunkInfo& c : m.chunks) {
        CPPUNIT_ASSERT(c.ssvr_url.find("http://127.0.0.1:900") == 0);
        CPPUNIT_ASSERT_EQUAL(size_t(1), c.ssvr_ips.size());
      }
    VolumeInfo info = Info(v);
    CPPUNIT_ASSERT_EQUAL(h, info.hsvr_id);
    CPPUNIT_ASSERT_EQUAL(int(kUnbound), info.bind_status);
    CPPUNIT_ASSERT_EQUAL(int(kBinding), info.bind_event);
    AttachPlan again;
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->BeginAttach(VolumeRef{v, ""}, h, false, &again).code());
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->DeleteLogicalVolume(VolumeRef{v, ""}).code());
    DetachPlan detach;
    CPPUNIT_ASSERT_EQUAL(EAGAIN, store_->BeginDetach(VolumeRef{v, ""}, &detach).code());
    CPPUNIT_ASSERT(store_->FinishAttach(plan, "/dev/vastsky/v").ok());
    info = Info(v);
    CPPUNIT_ASSERT_EQUAL(int(kBound), info.bind_status);
    CPPUNIT_ASSERT_EQUAL(int(kNoEvent), info.bind_event);
    CPPUNIT_ASSERT(LegStatuses(v) == std::set<int>{kInsync});

    CPPUNIT_ASSERT(store_->BeginDetach(VolumeRef{v, ""}, &detach).ok());
    CPPUNIT_ASSERT(detach.agent);
    CPPUNIT_ASSERT_EQUAL(int(kBound), detach.prior_status);
    CPPUNIT_ASSERT_EQUAL(int(kUnbinding), Info(v).bind_event);
    CPPUNIT_ASSERT_EQUAL(int(kBound), Info(v).bind_status);
    CPPUNIT_ASSERT(store_->FinishDetach(detach, "").ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(0), Info(v).hsvr_id);
    // Not attached: nothing to drive.
    CPPUNIT_ASSERT(store_->BeginDetach(VolumeRef{v, ""}, &detach).ok());
    CPPUNIT_ASSERT(!detach.agent);
  }

  void FinishSyncsOnlyPlannedLegs() {
    Cluster(3);
    const int64_t h = Head("127.2.0.1"), v = Volume("v", 2);
    AttachPlan plan;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, h, false, &plan).ok());
    // A disk fails while the agents work: its leg is replaced by a new one
    // the head never built. The head may be writing the mirror already, so
    // the new leg is SPARE, to be rebuilt, never ALLOCATED (nosync).
    const int64_t lost = plan.layout.mirrors[0].chunks[0].pdsk_id;
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetPdsk, lost).ok());
    CPPUNIT_ASSERT(store_->FinishAttach(plan, "/dev/vastsky/v").ok());
    CPPUNIT_ASSERT(LegStatuses(v) == (std::set<int>{kInsync, kSpare}));
  }

  void AbortRemovesIntent() {
    Cluster(2);
    const int64_t h = Head("127.2.0.1"), v = Volume("v");
    AttachPlan plan;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, h, false, &plan).ok());
    CPPUNIT_ASSERT(store_->AbortAttach(plan, "ECONNREFUSED: hsvr-00000001: attachLogicalVolume: refused").ok());
    VolumeInfo info = Info(v);
    CPPUNIT_ASSERT_EQUAL(int64_t(0), info.hsvr_id);
    CPPUNIT_ASSERT_EQUAL(int(kNoEvent), info.bind_event);
    CPPUNIT_ASSERT(LegStatuses(v) == std::set<int>{kAllocated});
    CPPUNIT_ASSERT_EQUAL(1, Errors(v));
    // The head was reported failed meanwhile: the outcome finds no intent.
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, h, false, &plan).ok());
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetHsvr, h).ok());
    CPPUNIT_ASSERT_EQUAL(EAGAIN, store_->FinishAttach(plan, "/dev/vastsky/v").code());
    CPPUNIT_ASSERT(LegStatuses(v) == std::set<int>{kAllocated});
  }

  void HeadWithoutAgentIsStateOnly() {
    Cluster(2);
    int64_t h;
    CPPUNIT_ASSERT(store_->RegisterHeadServer({"127.2.0.9"}, &h).ok());
    const int64_t v = Volume("v");
    AttachPlan plan;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, h, false, &plan).ok());
    CPPUNIT_ASSERT(!plan.agent);
    CPPUNIT_ASSERT_EQUAL(int(kBound), Info(v).bind_status);
    CPPUNIT_ASSERT(LegStatuses(v) == std::set<int>{kInsync});
    DetachPlan detach;
    CPPUNIT_ASSERT(store_->BeginDetach(VolumeRef{v, ""}, &detach).ok());
    CPPUNIT_ASSERT(!detach.agent);
    CPPUNIT_ASSERT_EQUAL(int64_t(0), Info(v).hsvr_id);
  }

  static std::set<int64_t> Disks(const std::map<int64_t, std::vector<LegGrant>>& legs) {
    std::set<int64_t> out;
    for (const auto& d : legs) out.insert(d.first);
    return out;
  }

  // API.md: a grant carries "the head's legs on that disk (volumes attached
  // or in transition there), with `create` unless the leg is INSYNC and
  // was created".
  void HeadLegsOfOtherVolumes() {
    Cluster(4);
    const int64_t h = Head("127.2.0.1"), a = Volume("a", 4), b = Volume("b", 4), c = Volume("c", 4);
    for (int64_t v : {a, b}) {
      AttachPlan plan;
      CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, h, false, &plan).ok());
      if (v != a) continue;  // b stays BINDING
      std::vector<LegGrant> granted;  // as the attacher's grants record them
      for (const ChunkInfo& ch : plan.layout.mirrors.at(0).chunks) granted.push_back(LegGrant{ch.id, ch.thin_id, 0, true});
      CPPUNIT_ASSERT(store_->MarkLegsCreated(granted).ok());
      CPPUNIT_ASSERT(store_->FinishAttach(plan, "/dev/x").ok());
    }
    auto disks = [this](int64_t v) {
      VolumeLayout l;
      CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{v, ""}, &l).ok());
      std::set<int64_t> out;
      for (const MirrorInfo& m : l.mirrors)
        for (const ChunkInfo& ch : m.chunks) out.insert(ch.pdsk_id);
      return out;
    };
    std::map<int64_t, std::vector<LegGrant>> needed;
    CPPUNIT_ASSERT(store_->HeadLegs(h, a, &needed).ok());
    CPPUNIT_ASSERT(Disks(needed) == disks(b));  // in transition counts
    VolumeLayout lb;
    CPPUNIT_ASSERT(store_->ShowLogicalVolume(VolumeRef{b, ""}, &lb).ok());
    for (const ChunkInfo& ch : lb.mirrors.at(0).chunks) {
      CPPUNIT_ASSERT_EQUAL(size_t(1), needed[ch.pdsk_id].size());
      const LegGrant& g = needed[ch.pdsk_id][0];
      CPPUNIT_ASSERT_EQUAL(ch.id, g.chunk_id);
      CPPUNIT_ASSERT_EQUAL(ch.thin_id, g.thin_id);
      CPPUNIT_ASSERT_EQUAL(kMetaMib + ch.length_mib, g.size_mib);
      CPPUNIT_ASSERT(g.create);  // ALLOCATED: maybe new
    }
    needed.clear();
    CPPUNIT_ASSERT(store_->HeadLegs(h, c, &needed).ok());
    std::set<int64_t> both = disks(a);
    for (int64_t d : disks(b)) both.insert(d);
    CPPUNIT_ASSERT(Disks(needed) == both);
    size_t existing = 0;
    for (const auto& d : needed)
      for (const LegGrant& g : d.second) existing += !g.create;
    CPPUNIT_ASSERT_EQUAL(size_t(2), existing);  // a's legs are INSYNC: never created again
    needed.clear();
    CPPUNIT_ASSERT(store_->HeadLegs(Head("127.2.0.2", kHeadUrl, kIqn + "2"), c, &needed).ok());
    CPPUNIT_ASSERT(needed.empty());
  }

  static std::set<std::pair<int64_t, std::string>> Granted(const GrantedAcls& view) {
    std::set<std::pair<int64_t, std::string>> out;
    for (const auto& g : view.granted) out.insert(g.first);
    return out;
  }

  // What ACL reconciliation (manager/acl_reconcile.h) keeps on a server:
  // each head's initiator on the disks of its volumes there, attached or
  // in transition; a fenced head's are gone; every initiator is named.
  void GrantedAclsOnAServer() {
    Cluster(2);  // redundancy 2: every volume has a leg on each server
    const int64_t h = Head("127.2.0.1"), g = Head("127.2.0.2", kHeadUrl, kIqn + "2");
    const int64_t a = Volume("a", 4), b = Volume("b", 4);
    AttachPlan plan;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{a, ""}, h, false, &plan).ok());
    CPPUNIT_ASSERT(store_->FinishAttach(plan, "/dev/x").ok());
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{b, ""}, g, false, &plan).ok());  // b stays BINDING
    GrantedAcls view;
    CPPUNIT_ASSERT(store_->GrantedAclsOn(ssvrs_[0], &view).ok());
    CPPUNIT_ASSERT((view.heads == std::map<std::string, int64_t>{{kIqn, h}, {kIqn + "2", g}}));
    std::vector<PhysicalDiskInfo> disks;
    CPPUNIT_ASSERT(store_->ListPhysicalDisks(ssvrs_[0], &disks).ok());
    const int64_t pdsk = disks.at(0).id;
    CPPUNIT_ASSERT(Granted(view) == (std::set<std::pair<int64_t, std::string>>{{pdsk, kIqn}, {pdsk, kIqn + "2"}}));
    CPPUNIT_ASSERT_EQUAL(size_t(1), (view.granted[{pdsk, kIqn}].size()));
    CPPUNIT_ASSERT(view.known_thin[pdsk] == (std::set<int64_t>{1, 2}));
    CPPUNIT_ASSERT_EQUAL(int64_t(3), view.next_thin[pdsk]);
    CPPUNIT_ASSERT(store_->NotifyFailure(kTargetHsvr, h).ok());  // fenced: its volume released
    view = GrantedAcls();
    CPPUNIT_ASSERT(store_->GrantedAclsOn(ssvrs_[0], &view).ok());
    CPPUNIT_ASSERT(Granted(view) == (std::set<std::pair<int64_t, std::string>>{{pdsk, kIqn + "2"}}));
  }

  void ReopenTurnsTransitionsIntoError() {
    Cluster(2);
    const int64_t h = Head("127.2.0.1"), v = Volume("v"), w = Volume("w");
    AttachPlan plan;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, h, false, &plan).ok());
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{w, ""}, h, false, &plan).ok());
    CPPUNIT_ASSERT(store_->FinishAttach(plan, "/dev/x").ok());
    DetachPlan detach;
    CPPUNIT_ASSERT(store_->BeginDetach(VolumeRef{w, ""}, &detach).ok());
    delete store_;
    store_ = new Store;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, Store::Options()).ok());
    for (int64_t id : {v, w}) {
      VolumeInfo info = Info(id);
      CPPUNIT_ASSERT_EQUAL(h, info.hsvr_id);
      CPPUNIT_ASSERT_EQUAL(int(kBindError), info.bind_status);
      CPPUNIT_ASSERT_EQUAL(int(kNoEvent), info.bind_event);
      CPPUNIT_ASSERT_EQUAL(1, Errors(id));
    }
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->BeginAttach(VolumeRef{v, ""}, h, false, &plan).code());
    CPPUNIT_ASSERT_EQUAL(EBUSY, store_->AttachLogicalVolume(VolumeRef{v, ""}, h).code());
    // Detach tears down from ERROR; a refusal keeps it ERROR.
    CPPUNIT_ASSERT(store_->BeginDetach(VolumeRef{v, ""}, &detach).ok());
    CPPUNIT_ASSERT(detach.agent);
    CPPUNIT_ASSERT_EQUAL(int(kBindError), detach.prior_status);
    CPPUNIT_ASSERT(store_->RestoreBound(detach, "EBUSY").ok());
    CPPUNIT_ASSERT_EQUAL(int(kBindError), Info(v).bind_status);
    CPPUNIT_ASSERT(store_->BeginDetach(VolumeRef{v, ""}, &detach).ok());
    CPPUNIT_ASSERT(store_->FinishDetach(detach, "").ok());
    CPPUNIT_ASSERT_EQUAL(int64_t(0), Info(v).hsvr_id);
    // A reopen with nothing pending changes nothing.
    delete store_;
    store_ = new Store;
    CPPUNIT_ASSERT(store_->Open(tmp_->path, Store::Options()).ok());
    CPPUNIT_ASSERT_EQUAL(1, Errors(w));
  }

  void DetachRefusedGoesBack() {
    Cluster(2);
    const int64_t h = Head("127.2.0.1"), v = Volume("v");
    AttachPlan plan;
    CPPUNIT_ASSERT(store_->BeginAttach(VolumeRef{v, ""}, h, false, &plan).ok());
    CPPUNIT_ASSERT(store_->FinishAttach(plan, "/dev/x").ok());
    DetachPlan detach;
    CPPUNIT_ASSERT(store_->BeginDetach(VolumeRef{v, ""}, &detach).ok());
    CPPUNIT_ASSERT(store_->RestoreBound(detach, "EBUSY: open").ok());
    VolumeInfo info = Info(v);
    CPPUNIT_ASSERT_EQUAL(int(kBound), info.bind_status);
    CPPUNIT_ASSERT_EQUAL(int(kNoEvent), info.bind_event);
    // A head that timed out: state unknown.
    CPPUNIT_ASSERT(store_->BeginDetach(VolumeRef{v, ""}, &detach).ok());
    CPPUNIT_ASSERT(store_->MarkAttachmentError(v, h, "ETIMEDOUT").ok());
    CPPUNIT_ASSERT_EQUAL(int(kBindError), Info(v).bind_status);
    CPPUNIT_ASSERT_EQUAL(int(kNoEvent), Info(v).bind_event);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ManagerAttachTest);
