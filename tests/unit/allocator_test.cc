// The allocator's contract: legs on distinct servers and domains, balance in
// proportion to size and weight, ENOSPC that leaves nothing behind, exact
// undo, and coalesced free space after any sequence of frees.
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include "manager/allocator.h"
#include "manager/rebuild_scheduler.h"

using vastsky::Allocator;
using vastsky::DiskSpec;
using vastsky::Extent;
using vastsky::Journal;
using vastsky::Placement;

namespace {

// servers x disks, disk i of server s has size sizes[(s*disks+i) % n] MiB.
Allocator MakeCluster(int servers, int disks, std::vector<int64_t> sizes) {
  Allocator a;
  int64_t id = 1;
  for (int s = 1; s <= servers; ++s)
    for (int d = 0; d < disks; ++d, ++id) {
      int64_t size = sizes[(id - 1) % sizes.size()];
      a.AddDisk(DiskSpec{id, s, size, 1.0, true}, {{0, size}});
    }
  return a;
}

std::map<int64_t, std::vector<Extent>> Snapshot(const Allocator& a, int64_t disks) {
  std::map<int64_t, std::vector<Extent>> out;
  for (int64_t id = 1; id <= disks; ++id)
    if (const auto* fl = a.FreeList(id))
      for (const auto& e : *fl) out[id].push_back({e.first, e.second});
  return out;
}

bool Same(const std::map<int64_t, std::vector<Extent>>& x, const std::map<int64_t, std::vector<Extent>>& y) {
  if (x.size() != y.size()) return false;
  for (const auto& e : x) {
    auto it = y.find(e.first);
    if (it == y.end() || it->second.size() != e.second.size()) return false;
    for (size_t i = 0; i < e.second.size(); ++i)
      if (it->second[i].offset != e.second[i].offset || it->second[i].length != e.second[i].length) return false;
  }
  return true;
}

}  // namespace

class AllocatorTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AllocatorTest);
  CPPUNIT_TEST(LegsOnDistinctServers);
  CPPUNIT_TEST(LegsOnDistinctDomains);
  CPPUNIT_TEST(TooFewDomainsIsEnospc);
  CPPUNIT_TEST(KeepLegsAreAvoided);
  CPPUNIT_TEST(ReplacementsGoToTheOtherSideOfTheirSource);
  CPPUNIT_TEST(BalanceInProportionToSize);
  CPPUNIT_TEST(WeightScalesShareAndZeroExcludes);
  CPPUNIT_TEST(EnospcLeavesNothingPlaced);
  CPPUNIT_TEST(UndoRestoresExactly);
  CPPUNIT_TEST(FreeCoalesces);
  CPPUNIT_TEST(FragmentedSpaceIsUsedBestFit);
  CPPUNIT_TEST(JournalChangesReplayToSameFreeList);
  CPPUNIT_TEST(UnallocatableDiskGetsNothing);
  CPPUNIT_TEST_SUITE_END();

 public:
  void LegsOnDistinctServers() {
    Allocator a = MakeCluster(5, 4, {100000});
    Journal j;
    for (int m = 0; m < 200; ++m) {
      std::vector<Placement> out;
      CPPUNIT_ASSERT(a.PlaceMirror(3, 1025, {}, &j, &out).ok());
      CPPUNIT_ASSERT_EQUAL(size_t(3), out.size());
      std::set<int64_t> servers;
      for (const Placement& p : out) servers.insert(p.ssvr_id);
      CPPUNIT_ASSERT_EQUAL(size_t(3), servers.size());
    }
  }

  void LegsOnDistinctDomains() {
    Allocator a = MakeCluster(6, 2, {100000});
    // Racks: {1,2} in r1, {3,4} in r2, {5,6} in r3.
    for (int s = 1; s <= 6; ++s) a.SetServerDomain(s, "r" + std::to_string((s + 1) / 2));
    Journal j;
    for (int m = 0; m < 100; ++m) {
      std::vector<Placement> out;
      CPPUNIT_ASSERT(a.PlaceMirror(3, 1025, {}, &j, &out).ok());
      std::set<int64_t> racks;
      for (const Placement& p : out) racks.insert((p.ssvr_id + 1) / 2);
      CPPUNIT_ASSERT_EQUAL(size_t(3), racks.size());
    }
  }

  void TooFewDomainsIsEnospc() {
    Allocator a = MakeCluster(4, 2, {100000});
    for (int s = 1; s <= 4; ++s) a.SetServerDomain(s, s <= 2 ? "r1" : "r2");
    Journal j;
    std::vector<Placement> out;
    vastsky::Status st = a.PlaceMirror(3, 1025, {}, &j, &out);
    CPPUNIT_ASSERT_EQUAL(ENOSPC, st.code());
    CPPUNIT_ASSERT(out.empty());
    CPPUNIT_ASSERT(j.empty());
    CPPUNIT_ASSERT(a.PlaceMirror(2, 1025, {}, &j, &out).ok());
  }

  void KeepLegsAreAvoided() {
    Allocator a = MakeCluster(4, 3, {100000});
    Journal j;
    std::vector<Placement> out;
    std::vector<Placement> keep = {{1, 1, 0, 0}, {4, 2, 0, 0}};
    for (int i = 0; i < 30; ++i) {
      out.clear();
      CPPUNIT_ASSERT(a.PlaceMirror(1, 1025, keep, &j, &out).ok());
      CPPUNIT_ASSERT(out[0].ssvr_id == 3 || out[0].ssvr_id == 4);
    }
  }

  void ReplacementsGoToTheOtherSideOfTheirSource() {
    Allocator a = MakeCluster(6, 4, {100000});
    std::unordered_map<int64_t, double> load;
    for (int64_t source = 1; source <= 24; ++source) {
      Journal j;
      std::vector<Placement> out;
      const int64_t ssvr = (source - 1) / 4 + 1;
      CPPUNIT_ASSERT(a.PlaceMirror(1, 1025, {{source, ssvr, 0, 0}}, &j, &out, &load, source).ok());
      CPPUNIT_ASSERT(vastsky::RebuildSide(out[0].pdsk_id) != vastsky::RebuildSide(source));
      load[out[0].pdsk_id] += 1;
    }
    // Sides split a run of ids about evenly, or the preference would skew
    // the rebuild's writes onto half the pool.
    int ones = 0;
    for (int64_t id = 1; id <= 24; ++id) ones += vastsky::RebuildSide(id);
    CPPUNIT_ASSERT(ones >= 8 && ones <= 16);
  }

  void BalanceInProportionToSize() {
    // Mixed sizes 1:2:4:8; after filling half, fill fractions match closely.
    Allocator a = MakeCluster(40, 12, {480 * 1024, 960 * 1024, 1920 * 1024, 3840 * 1024});
    Journal j;
    std::mt19937 rng(7);
    int64_t total = 0, size = 0;
    for (int64_t id = 1; id <= 480; ++id) {
      Allocator::DiskUsage u;
      a.Usage(id, &u);
      size += u.size_mib;
    }
    while (total < size / 2) {
      int64_t len = (1 + rng() % 4) * 1024 + 1;
      std::vector<Placement> out;
      CPPUNIT_ASSERT(a.PlaceMirror(2, len, {}, &j, &out).ok());
      total += 2 * len;
    }
    double max = 0, sum = 0;
    for (int64_t id = 1; id <= 480; ++id) {
      Allocator::DiskUsage u;
      a.Usage(id, &u);
      double f = double(u.used_mib) / double(u.size_mib);
      max = std::max(max, f);
      sum += f;
    }
    double mean = sum / 480;
    CPPUNIT_ASSERT_MESSAGE("max/mean " + std::to_string(max / mean), max / mean <= 1.02);
  }

  void WeightScalesShareAndZeroExcludes() {
    Allocator a = MakeCluster(4, 1, {100000});
    a.SetWeight(1, 0.5);
    a.SetWeight(2, 0.0);
    Journal j;
    for (int i = 0; i < 60; ++i) {
      std::vector<Placement> out;
      CPPUNIT_ASSERT(a.PlaceMirror(2, 1001, {}, &j, &out).ok());
    }
    Allocator::DiskUsage d1, d2, d3;
    a.Usage(1, &d1);
    a.Usage(2, &d2);
    a.Usage(3, &d3);
    CPPUNIT_ASSERT_EQUAL(int64_t(0), d2.used_mib);
    CPPUNIT_ASSERT_EQUAL(int64_t(0), a.Available(2));
    // Disk 1 takes about half of what a full-weight disk takes.
    double ratio = double(d1.used_mib) / double(d3.used_mib);
    CPPUNIT_ASSERT_MESSAGE("ratio " + std::to_string(ratio), ratio > 0.4 && ratio < 0.6);
  }

  void EnospcLeavesNothingPlaced() {
    Allocator a = MakeCluster(3, 1, {10000});
    Journal j;
    std::vector<Placement> out;
    CPPUNIT_ASSERT(a.PlaceMirror(2, 6000, {}, &j, &out).ok());
    auto before = Snapshot(a, 3);
    size_t changes = j.changes().size();
    // Leg one fits on disk 3; leg two fits nowhere: both must be undone.
    CPPUNIT_ASSERT_EQUAL(ENOSPC, a.PlaceMirror(2, 6000, {}, &j, &out).code());
    CPPUNIT_ASSERT(Same(before, Snapshot(a, 3)));
    CPPUNIT_ASSERT_EQUAL(changes, j.changes().size());
    CPPUNIT_ASSERT_EQUAL(size_t(2), out.size());
  }

  void UndoRestoresExactly() {
    Allocator a = MakeCluster(4, 2, {50000, 70000});
    Journal setup;
    std::vector<Placement> out;
    for (int i = 0; i < 20; ++i) CPPUNIT_ASSERT(a.PlaceMirror(2, 2049, {}, &setup, &out).ok());
    for (int i = 0; i < 20; i += 3) a.Free(out[i].pdsk_id, out[i].offset, out[i].length, &setup);
    auto before = Snapshot(a, 8);
    Journal j;
    std::vector<Placement> more;
    for (int i = 0; i < 10; ++i) CPPUNIT_ASSERT(a.PlaceMirror(3, 3000, {}, &j, &more).ok());
    for (int i = 1; i < 20; i += 3) a.Free(out[i].pdsk_id, out[i].offset, out[i].length, &j);
    a.Undo(&j);
    CPPUNIT_ASSERT(Same(before, Snapshot(a, 8)));
  }

  void FreeCoalesces() {
    Allocator a = MakeCluster(2, 1, {10000});
    Journal j;
    std::vector<Placement> out;
    for (int i = 0; i < 8; ++i) CPPUNIT_ASSERT(a.PlaceMirror(2, 1000, {}, &j, &out).ok());
    std::shuffle(out.begin(), out.end(), std::mt19937(3));
    for (const Placement& p : out) a.Free(p.pdsk_id, p.offset, p.length, &j);
    for (int64_t id = 1; id <= 2; ++id) {
      const auto* fl = a.FreeList(id);
      CPPUNIT_ASSERT_EQUAL(size_t(1), fl->size());
      CPPUNIT_ASSERT_EQUAL(int64_t(10000), fl->begin()->second);
    }
  }

  void FragmentedSpaceIsUsedBestFit() {
    // Fill two disks with 1000 MiB legs and free every other pair: each disk
    // keeps only 1000 MiB holes, so a 2000 MiB leg is refused and a 600 MiB
    // leg lands in a hole.
    Allocator a = MakeCluster(2, 1, {10000});
    Journal j;
    std::vector<Placement> out;
    for (int i = 0; i < 10; ++i) CPPUNIT_ASSERT(a.PlaceMirror(2, 1000, {}, &j, &out).ok());
    for (size_t i = 0; i < out.size(); i += 4) {
      a.Free(out[i].pdsk_id, out[i].offset, out[i].length, &j);
      a.Free(out[i + 1].pdsk_id, out[i + 1].offset, out[i + 1].length, &j);
    }
    std::vector<Placement> big;
    CPPUNIT_ASSERT_EQUAL(ENOSPC, a.PlaceMirror(2, 2000, {}, &j, &big).code());
    std::vector<Placement> small;
    CPPUNIT_ASSERT(a.PlaceMirror(2, 600, {}, &j, &small).ok());
    // Best fit: the 600 MiB leg goes into a 1000 MiB hole, leaving 400.
    const auto* fl = a.FreeList(small[0].pdsk_id);
    bool found400 = false;
    for (const auto& e : *fl) found400 |= e.second == 400;
    CPPUNIT_ASSERT(found400);
  }

  void JournalChangesReplayToSameFreeList() {
    // Replaying the journal's extent changes, as the Store does in SQL, on a
    // copy of the starting free lists must give the allocator's free lists.
    Allocator a = MakeCluster(3, 2, {20000, 30000});
    std::map<int64_t, std::map<int64_t, int64_t>> rows;
    for (int64_t id = 1; id <= 6; ++id) rows[id] = *a.FreeList(id);
    Journal j;
    std::vector<Placement> out;
    std::mt19937 rng(11);
    for (int i = 0; i < 40; ++i) CPPUNIT_ASSERT(a.PlaceMirror(2, 100 + rng() % 900, {}, &j, &out).ok());
    for (size_t i = 0; i < out.size(); i += 2) a.Free(out[i].pdsk_id, out[i].offset, out[i].length, &j);
    for (const vastsky::ExtentChange& c : j.changes()) {
      auto& r = rows[c.pdsk_id];
      if (c.old_offset >= 0) {
        CPPUNIT_ASSERT(r.count(c.old_offset));
        r.erase(c.old_offset);
      }
      if (c.new_length > 0) {
        CPPUNIT_ASSERT(!r.count(c.new_offset));
        r[c.new_offset] = c.new_length;
      }
    }
    for (int64_t id = 1; id <= 6; ++id) CPPUNIT_ASSERT(rows[id] == *a.FreeList(id));
  }

  void UnallocatableDiskGetsNothing() {
    Allocator a = MakeCluster(3, 1, {10000});
    a.SetAllocatable(2, false);
    Journal j;
    std::vector<Placement> out;
    CPPUNIT_ASSERT(a.PlaceMirror(2, 4000, {}, &j, &out).ok());
    for (const Placement& p : out) CPPUNIT_ASSERT(p.pdsk_id != 2);
    CPPUNIT_ASSERT_EQUAL(ENOSPC, a.PlaceMirror(3, 100, {}, &j, &out).code());
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AllocatorTest);
