// The bench's scrape phase: Prometheus' view of the manager at scale. Scrapes
// the manager's /metrics over HTTP with Basic auth as Prometheus does (one
// kept-alive connection), and measures what each scrape costs the manager
// (its CPU time from /proc/<pid>/stat), how big the answer is, how long the
// API lock was held for it (the manager's own vastsky_scrape_lock_seconds),
// and how much a cheap API call is slowed by scrapes running beside it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace vastsky {
namespace bench {

struct ScrapeOptions {
  std::string url;        // http://HOST:PORT/metrics
  std::string password;   // of the HTTP Basic user "prometheus"
  pid_t manager_pid = -1;
  int scrapes = 20;       // timed one after the other, alone
  int probe_calls = 200;  // cheap API calls, alone and beside scrapes
};

struct ScrapeResult {
  size_t body_bytes = 0, series = 0;    // of the last scrape
  std::vector<double> wall_ms;          // per scrape, as the scraper waits
  std::vector<double> lock_ms;          // per scrape, as the manager reports it
  double cpu_ms_per_scrape = 0;         // manager utime+stime over the scrapes / N
  double idle_cpu_ms_per_s = 0;         // manager CPU with no scrape, for scale
  std::vector<double> probe_alone_ms;   // the cheap call's latencies
  std::vector<double> probe_beside_ms;  // the same, scrapes back to back beside it
  int scrapes_beside = 0;
};

// Throws std::runtime_error on a failed scrape (not 200, no body) or an
// unreadable /proc entry. probe: one cheap API call that takes the API lock;
// it throws on failure.
ScrapeResult MeasureScrapes(const ScrapeOptions& o, const std::function<void()>& probe);

}  // namespace bench
}  // namespace vastsky
