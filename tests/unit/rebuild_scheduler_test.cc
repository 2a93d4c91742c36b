// The rebuild scheduler's rules (manager/rebuild_scheduler.h).
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "manager/rebuild_scheduler.h"

using vastsky::PickRebuilds;
using vastsky::RebuildStart;
using vastsky::RebuildTask;

class RebuildSchedulerTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(RebuildSchedulerTest);
  CPPUNIT_TEST(OneRebuildPerDisk);
  CPPUNIT_TEST(LeastRedundantFirst);
  CPPUNIT_TEST(BusyDisksWait);
  CPPUNIT_TEST(SlotsBound);
  CPPUNIT_TEST(SourcesSpread);
  CPPUNIT_TEST(BipartiteCopiesTakeBusiestDiskRounds);
  CPPUNIT_TEST_SUITE_END();

  static RebuildTask Task(int64_t id, int live, std::vector<int64_t> sources, std::vector<int64_t> dests) {
    RebuildTask t;
    t.id = id;
    t.live_legs = live;
    t.sources = sources;
    t.dests = dests;
    return t;
  }

  static void CheckDisjoint(const std::vector<RebuildTask>& q, const std::vector<RebuildStart>& s,
                            std::set<int64_t> used) {
    for (const RebuildStart& r : s) {
      const RebuildTask* t = nullptr;
      for (const RebuildTask& x : q)
        if (x.id == r.id) t = &x;
      CPPUNIT_ASSERT(t);
      CPPUNIT_ASSERT(used.insert(r.source).second);
      for (int64_t d : t->dests) CPPUNIT_ASSERT(used.insert(d).second);
    }
  }

 public:
  void OneRebuildPerDisk() {
    // Three tasks share disk 1 as source or destination; 4 -> 5 is apart.
    std::vector<RebuildTask> q = {Task(1, 1, {1}, {2}), Task(2, 1, {3}, {1}), Task(3, 1, {1}, {6}),
                                  Task(4, 1, {4}, {5})};
    auto s = PickRebuilds(q, {}, 100);
    CheckDisjoint(q, s, {});
    CPPUNIT_ASSERT_EQUAL(size_t(2), s.size());
  }

  void LeastRedundantFirst() {
    // Both need disk 9; the mirror with one in-sync leg left goes first.
    std::vector<RebuildTask> q = {Task(1, 2, {1, 2}, {9}), Task(2, 1, {3}, {9})};
    auto s = PickRebuilds(q, {}, 100);
    CPPUNIT_ASSERT_EQUAL(size_t(1), s.size());
    CPPUNIT_ASSERT_EQUAL(int64_t(2), s[0].id);
  }

  void BusyDisksWait() {
    // Disk 2 is being rebuilt onto: the task writing it waits; the other
    // reads from its second leg because the first is busy.
    std::vector<RebuildTask> q = {Task(1, 1, {1}, {2}), Task(2, 2, {3, 4}, {5})};
    auto s = PickRebuilds(q, {2, 3}, 100);
    CPPUNIT_ASSERT_EQUAL(size_t(1), s.size());
    CPPUNIT_ASSERT_EQUAL(int64_t(2), s[0].id);
    CPPUNIT_ASSERT_EQUAL(int64_t(4), s[0].source);
  }

  void SlotsBound() {
    std::vector<RebuildTask> q;
    for (int i = 0; i < 10; ++i) q.push_back(Task(i + 1, 1, {100 + i}, {200 + i}));
    CPPUNIT_ASSERT_EQUAL(size_t(3), PickRebuilds(q, {}, 3).size());
    CPPUNIT_ASSERT(PickRebuilds(q, {}, 0).empty());
  }

  void SourcesSpread() {
    // Four mirrors may each read disk 1 or another; ChooseSources puts at
    // most one read on any disk.
    std::vector<RebuildTask> q = {Task(1, 2, {1, 2}, {10}), Task(2, 2, {1, 3}, {11}), Task(3, 2, {1, 4}, {12}),
                                  Task(4, 2, {1, 5}, {13})};
    std::unordered_map<int64_t, double> load;
    vastsky::ChooseSources(&q, &load);
    for (const auto& l : load) CPPUNIT_ASSERT(l.second <= 1.0);
    auto s = PickRebuilds(q, {}, 100);
    CPPUNIT_ASSERT_EQUAL(size_t(4), s.size());
    CheckDisjoint(q, s, {});
  }

  // The scheduler's promise on a bipartite graph of copies: every round
  // keeps each disk with the most work left busy, so the rebuild takes
  // exactly as many rounds as its busiest disk has copies.
  void BipartiteCopiesTakeBusiestDiskRounds() {
    std::mt19937_64 rng(7);
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<RebuildTask> queue;
      std::map<int64_t, int> degree;
      for (int64_t id = 1; id <= 150; ++id) {
        const int64_t a = 1 + static_cast<int64_t>(rng() % 30), b = 31 + static_cast<int64_t>(rng() % 30);
        RebuildTask t = Task(id, 1, {a}, {b});
        t.source = a;
        ++degree[a];
        ++degree[b];
        queue.push_back(t);
      }
      int busiest = 0;
      for (const auto& d : degree) busiest = std::max(busiest, d.second);
      int rounds = 0;
      while (!queue.empty()) {
        std::vector<RebuildStart> starts = PickRebuilds(queue, {}, 1 << 20);
        CPPUNIT_ASSERT(!starts.empty());
        CheckDisjoint(queue, starts, {});
        std::set<int64_t> done;
        for (const RebuildStart& r : starts) done.insert(r.id);
        queue.erase(std::remove_if(queue.begin(), queue.end(), [&](const RebuildTask& t) { return done.count(t.id); }),
                    queue.end());
        ++rounds;
      }
      CPPUNIT_ASSERT_EQUAL(busiest, rounds);
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RebuildSchedulerTest);
