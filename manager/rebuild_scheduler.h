// Rebuild scheduling: which queued rebuilds start now, and from which leg.
//
// A rebuild copies one mirror from one in-sync leg (the source; md reads a
// recovery from a single leg) to its replacement legs. The rules:
//  - at most one rebuild touches a disk at a time, source and destinations
//    alike, so each runs at the full per-disk rate and VMs keep the rest;
//  - mirrors with the fewest in-sync legs go first;
//  - among equals, the rebuild whose disks have the most queued work left
//    goes first: a disk with a long queue is the critical path, and
//    starting it late lengthens the whole rebuild;
//  - sources are settled when the rebuilds are queued (ChooseSources), so
//    that the reads spread as evenly as the writes; another in-sync leg
//    stands in only to keep a disk with the most work left busy;
//  - every disk with the most work left is kept busy (alternating paths,
//    as in bipartite matching); with replacements placed across
//    RebuildSide the rebuild then ends when its busiest disk is done.
// Pure and deterministic: the manager feeds it its database's queue, the
// rebuild simulator (make bench) its model, so both run the same policy.
#pragma once

#include <cstdint>
#include <set>
#include <unordered_map>
#include <vector>

namespace vastsky {

// Each disk's side of a fixed two-way split of the pool. Replacements are
// placed on the other side from their source when the pool allows, so the
// copies form a bipartite graph: by Koenig's theorem such a graph can be
// scheduled, one rebuild per disk at a time, in exactly as many rounds as
// its busiest disk has copies, which a graph with odd cycles cannot.
int RebuildSide(int64_t pdsk_id);

struct RebuildTask {
  int64_t id = 0;
  int live_legs = 0;             // in-sync legs of the mirror
  std::vector<int64_t> sources;  // disks of those legs: any may be the source
  int64_t source = 0;            // the one it should read (ChooseSources); 0 = any
  std::vector<int64_t> dests;    // disks of the legs being rebuilt
};

struct RebuildStart {
  int64_t id = 0;
  int64_t source = 0;  // the disk chosen as source
};

// Queued work per disk: 1 for each task writing it or settled to read it,
// 1/n for each unsettled task that may read it among n candidates.
std::unordered_map<int64_t, double> RebuildLoad(const std::vector<RebuildTask>& queue);

// Settles each task's source among its candidates, so that no disk reads much more than the others
// (least loaded first, then reads moved off any disk heavier than one of
// its task's alternatives). `load` holds the work already queued per disk
// and gains the reads chosen. Done when the tasks are queued, before their
// destinations are placed by load (Allocator::PlaceMirror).
void ChooseSources(std::vector<RebuildTask>* tasks, std::unordered_map<int64_t, double>* load);

// Picks up to `slots` tasks of `queue` to start now; `busy` holds the disks
// running rebuilds touch. A task with no source (every in-sync leg busy or
// none left) waits.
std::vector<RebuildStart> PickRebuilds(const std::vector<RebuildTask>& queue, const std::set<int64_t>& busy,
                                       int slots);

}  // namespace vastsky
