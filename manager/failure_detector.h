// FailureDetector: which agents have been silent too long, judged so that
// the manager's own absence, its clock, or its own isolation cannot make
// healthy servers look dead.
//  - Silence is measured on the monotonic clock from the later of the
//    detector's creation (the manager's start) and the last time the server
//    was heard (a heartbeat or a registration). A manager stopped for an
//    hour starts by giving every server a whole grace period.
//  - Storm guard: if the servers that fell silent within one grace period of
//    each other are more than `storm_share` of the monitored servers, or lie
//    in more than one failure domain, the likelier story is that the manager
//    is the one cut off. Nothing is declared failed; the detector reports
//    isolation until enough of them are heard again or an operator declares
//    them failed (notifyFailure). Ceph's mon_osd_min_in_ratio and subtree
//    limit, and LINSTOR's auto-evict cap, follow the same reasoning.
// Thread-safe: Heard() comes from the API threads, Judge() from the
// recovery loop.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "lib/clock.h"

namespace vastsky {

// A live server with an agent, as the database lists it.
struct MonitoredServer {
  int kind = 0;        // kTargetSsvr or kTargetHsvr
  int64_t id = 0;
  std::string domain;  // failure domain of a storage server; "" for none
};

struct SilenceVerdict {
  std::vector<MonitoredServer> failed;  // to declare failed now
  std::vector<MonitoredServer> silent;  // silent beyond the grace period
  bool isolated = false;                // storm: nothing is declared
  std::string why;                      // for the log and the event, when isolated
};

class FailureDetector {
 public:
  struct Options {
    int grace_s = 60;
    double storm_share = 1.0 / 3;  // more than this share silent at once: isolation
  };
  FailureDetector(const Clock* clock, Options options);

  void Heard(int kind, int64_t id);
  // Judges the servers the database lists as live (others are forgotten).
  SilenceVerdict Judge(const std::vector<MonitoredServer>& live);
  // Milliseconds of silence of the servers listed, measured as Judge
  // measures it (from the manager's start at the earliest): one lock for all.
  std::vector<int64_t> SilenceMs(const std::vector<MonitoredServer>& servers) const;
  // The last verdict's isolation, and how many servers it found silent.
  bool isolated() const;
  int silent_count() const;

 private:
  // The largest group of silent servers whose silence began within one
  // grace period, from `silent` sorted by that start.
  std::vector<MonitoredServer> LargestStorm(const std::vector<std::pair<int64_t, MonitoredServer>>& silent) const;

  const Clock* clock_;
  const Options options_;
  const int64_t start_ms_;
  mutable std::mutex mu_;
  std::map<std::pair<int, int64_t>, int64_t> heard_ms_;
  bool isolated_ = false;
  int silent_count_ = 0;
};

}  // namespace vastsky
