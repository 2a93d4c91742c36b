#include "manager/rebuild_scheduler.h"

#include <algorithm>
#include <functional>
#include <map>

namespace vastsky {

int RebuildSide(int64_t pdsk_id) {
  // The top bit of a multiplicative hash: balanced over any run of ids.
  return static_cast<int>((static_cast<uint64_t>(pdsk_id) * 0x9E3779B97F4A7C15ull) >> 63);
}

std::unordered_map<int64_t, double> RebuildLoad(const std::vector<RebuildTask>& queue) {
  std::unordered_map<int64_t, double> load;
  for (const RebuildTask& t : queue) {
    for (int64_t d : t.dests) load[d] += 1;
    if (t.source) {
      load[t.source] += 1;
    } else {
      for (int64_t s : t.sources) load[s] += 1.0 / t.sources.size();
    }
  }
  return load;
}

void ChooseSources(std::vector<RebuildTask>* tasks, std::unordered_map<int64_t, double>* load) {
  std::vector<int64_t> chosen(tasks->size(), 0);
  for (size_t i = 0; i < tasks->size(); ++i) {
    const RebuildTask& t = (*tasks)[i];
    for (int64_t s : t.sources)
      if (chosen[i] == 0 || (*load)[s] < (*load)[chosen[i]]) chosen[i] = s;
    if (chosen[i]) (*load)[chosen[i]] += 1;
  }
  // A few passes of moving single reads to a lighter candidate; each move
  // lowers the sum of squared loads, so this ends.
  for (int pass = 0; pass < 8; ++pass) {
    bool moved = false;
    for (size_t i = 0; i < tasks->size(); ++i) {
      for (int64_t s : (*tasks)[i].sources) {
        if (chosen[i] == 0 || s == chosen[i] || (*load)[s] + 1 >= (*load)[chosen[i]]) continue;
        (*load)[chosen[i]] -= 1;
        (*load)[s] += 1;
        chosen[i] = s;
        moved = true;
      }
    }
    if (!moved) break;
  }
  for (size_t i = 0; i < tasks->size(); ++i) (*tasks)[i].source = chosen[i];
}

std::vector<RebuildStart> PickRebuilds(const std::vector<RebuildTask>& queue, const std::set<int64_t>& busy,
                                       int slots) {
  std::vector<RebuildStart> out;
  if (slots <= 0 || queue.empty()) return out;
  const std::unordered_map<int64_t, double> load = RebuildLoad(queue);
  auto load_of = [&](int64_t d) {
    auto it = load.find(d);
    return it == load.end() ? 0.0 : it->second;
  };
  // Urgency: the queued work of its busiest disk, then of all its disks.
  struct Candidate {
    const RebuildTask* task;
    double peak, sum;
  };
  std::vector<Candidate> order;
  order.reserve(queue.size());
  for (const RebuildTask& t : queue) {
    Candidate c{&t, 0, 0};
    for (int64_t d : t.dests) {
      c.peak = std::max(c.peak, load_of(d));
      c.sum += load_of(d);
    }
    if (t.source) {
      c.peak = std::max(c.peak, load_of(t.source));
      c.sum += load_of(t.source);
    } else {
      for (int64_t s : t.sources) {
        c.peak = std::max(c.peak, load_of(s));
        c.sum += load_of(s) / t.sources.size();
      }
    }
    order.push_back(c);
  }
  std::sort(order.begin(), order.end(), [](const Candidate& a, const Candidate& b) {
    if (a.task->live_legs != b.task->live_legs) return a.task->live_legs < b.task->live_legs;
    if (a.peak != b.peak) return a.peak > b.peak;
    if (a.sum != b.sum) return a.sum > b.sum;
    return a.task->id < b.task->id;
  });
  // Greedy by urgency, each task with its least loaded free source.
  std::map<int64_t, size_t> owner;  // disk -> index in `out` of the start using it
  auto disks_of = [](const RebuildTask& t, int64_t source) {
    std::vector<int64_t> d = t.dests;
    d.push_back(source);
    return d;
  };
  auto usable = [&](int64_t s) { return !busy.count(s) && !owner.count(s); };
  // The settled source if free; an unsettled task reads its least loaded
  // free candidate.
  auto free_source = [&](const RebuildTask& t) -> int64_t {
    if (t.source) return usable(t.source) ? t.source : 0;
    int64_t source = 0;
    for (int64_t s : t.sources)
      if (usable(s) && (source == 0 || load_of(s) < load_of(source))) source = s;
    return source;
  };
  double peak = 0;
  for (const auto& l : load) peak = std::max(peak, l.second);
  std::vector<const RebuildTask*> started;
  for (const Candidate& c : order) {
    if (static_cast<int>(out.size()) == slots) break;
    const RebuildTask& t = *c.task;
    bool free = !t.dests.empty();
    for (int64_t d : t.dests) free = free && !busy.count(d) && !owner.count(d);
    const int64_t source = free ? free_source(t) : 0;
    if (source == 0) continue;
    for (int64_t d : disks_of(t, source)) owner[d] = out.size();
    out.push_back({t.id, source});
    started.push_back(&t);
  }
  // Then every disk with the most work left should be busy: the whole
  // rebuild cannot end before its queue does. An idle one takes a task that
  // conflicts with at most one start, which gives way if the disks it then
  // leaves idle can be covered the same way: an alternating path, searched
  // as in Kuhn's matching algorithm (each disk tried once per search). On a
  // bipartite graph of copies (RebuildSide) such a path always exists, so
  // every round lowers the most work left on any disk by one.
  std::map<int64_t, std::vector<const RebuildTask*>> at;
  for (const RebuildTask& t : queue) {
    for (int64_t d : t.dests) at[d].push_back(&t);
    for (int64_t d : t.sources) at[d].push_back(&t);
  }
  std::set<const RebuildTask*> running;
  for (const RebuildTask* t : started) running.insert(t);
  std::set<int64_t> tried;
  // A source for `t` that keeps `disk` busy and whose disks are free but
  // for at most one start (the blocker, -1 if none), preferring no blocker,
  // then the settled source. Another in-sync leg stands in only with work
  // to spare, so that it does not become the new critical path.
  auto placeable = [&](const RebuildTask& t, int64_t disk, int64_t* source, int64_t* blocker) {
    if (std::find(t.dests.begin(), t.dests.end(), disk) == t.dests.end()) {
      if (t.source && t.source != disk) return false;
    }
    std::vector<int64_t> candidates;
    if (t.source) candidates.push_back(t.source);
    for (int64_t s : t.sources)
      if (s != t.source && (!t.source || load_of(s) <= peak - 2)) candidates.push_back(s);
    std::stable_sort(candidates.begin() + (t.source ? 1 : 0), candidates.end(),
                     [&](int64_t a, int64_t b) { return load_of(a) < load_of(b); });
    for (bool allow_blocker : {false, true}) {
      for (int64_t s : candidates) {
        if (s != disk && std::find(t.dests.begin(), t.dests.end(), disk) == t.dests.end()) continue;
        int64_t b = -1;
        bool ok = true;
        for (int64_t d : disks_of(t, s)) {
          if (busy.count(d)) ok = false;
          auto o = owner.find(d);
          if (!ok || o == owner.end()) continue;
          if (!allow_blocker || (b >= 0 && b != static_cast<int64_t>(o->second))) ok = false;
          b = o->second;
        }
        if (!ok) continue;
        *source = s;
        *blocker = b;
        return true;
      }
    }
    return false;
  };
  std::function<bool(int64_t, double)> cover = [&](int64_t disk, double floor) -> bool {
    tried.insert(disk);
    for (const RebuildTask* t : at[disk]) {
      if (running.count(t)) continue;
      int64_t source = 0, blocker = -1;
      if (!placeable(*t, disk, &source, &blocker)) continue;
      if (blocker < 0) {
        if (static_cast<int>(out.size()) == slots) return false;
        for (int64_t d : disks_of(*t, source)) owner[d] = out.size();
        out.push_back({t->id, source});
        started.push_back(t);
        running.insert(t);
        return true;
      }
      // Swap, then cover what the blocker leaves idle; undo if that fails.
      const RebuildStart old = out[blocker];
      const RebuildTask* old_task = started[blocker];
      const std::vector<int64_t> old_disks = disks_of(*old_task, old.source), new_disks = disks_of(*t, source);
      bool hopeless = false;
      for (int64_t d : old_disks)
        if (load_of(d) >= floor && tried.count(d) &&
            std::find(new_disks.begin(), new_disks.end(), d) == new_disks.end())
          hopeless = true;
      if (hopeless) continue;
      for (int64_t d : old_disks) owner.erase(d);
      for (int64_t d : new_disks) owner[d] = blocker;
      out[blocker] = {t->id, source};
      started[blocker] = t;
      running.erase(old_task);
      running.insert(t);
      bool ok = true;
      for (int64_t d : old_disks)
        if (ok && !owner.count(d) && load_of(d) >= floor) ok = cover(d, floor);
      if (ok) return true;
      // The deeper steps undid themselves; put this one back.
      for (int64_t d : new_disks) owner.erase(d);
      for (int64_t d : old_disks) owner[d] = blocker;
      out[blocker] = old;
      started[blocker] = old_task;
      running.erase(t);
      running.insert(old_task);
    }
    return false;
  };
  for (double floor : {peak, peak - 1}) {
    for (const auto& l : load) {
      if (l.second < floor || owner.count(l.first) || busy.count(l.first)) continue;
      tried.clear();
      cover(l.first, floor);
    }
  }
  return out;
}

}  // namespace vastsky
