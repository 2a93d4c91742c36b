#include "tests/bench/scrape_bench.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace vastsky {
namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point a) { return std::chrono::duration<double, std::milli>(Clock::now() - a).count(); }

// One scraper: a curl handle kept between scrapes, so its connection is
// reused as Prometheus reuses its own.
class Scraper {
 public:
  Scraper(const std::string& url, const std::string& password) : curl_(curl_easy_init(), curl_easy_cleanup) {
    if (!curl_) throw std::runtime_error("curl_easy_init failed");
    curl_easy_setopt(curl_.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_.get(), CURLOPT_USERNAME, "prometheus");
    curl_easy_setopt(curl_.get(), CURLOPT_PASSWORD, password.c_str());
    curl_easy_setopt(curl_.get(), CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl_.get(), CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl_.get(), CURLOPT_NOSIGNAL, 1L);  // threads
    curl_easy_setopt(curl_.get(), CURLOPT_WRITEFUNCTION, &Scraper::Append);
    curl_easy_setopt(curl_.get(), CURLOPT_WRITEDATA, &body_);
  }

  // The body of one GET; throws unless it is a 200 with content.
  const std::string& Get() {
    body_.clear();
    CURLcode rc = curl_easy_perform(curl_.get());
    if (rc != CURLE_OK) throw std::runtime_error(std::string("scrape: ") + curl_easy_strerror(rc));
    long code = 0;
    curl_easy_getinfo(curl_.get(), CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 || body_.empty())
      throw std::runtime_error("scrape: HTTP " + std::to_string(code) + ", " + std::to_string(body_.size()) + " bytes");
    return body_;
  }

 private:
  static size_t Append(char* data, size_t size, size_t n, void* to) {
    static_cast<std::string*>(to)->append(data, size * n);
    return size * n;
  }

  std::unique_ptr<CURL, void (*)(CURL*)> curl_;
  std::string body_;
};

// utime + stime of the process, in ms.
double CpuMs(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  // The command name may hold spaces; fields are counted after its ')'.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) throw std::runtime_error("cannot read /proc/" + std::to_string(pid) + "/stat");
  std::istringstream fields(stat.substr(paren + 2));
  std::string skip;
  for (int i = 3; i < 14; ++i) fields >> skip;  // state .. cmajflt: fields 3 to 13
  unsigned long long utime = 0, stime = 0;
  if (!(fields >> utime >> stime)) throw std::runtime_error("no CPU times in /proc/" + std::to_string(pid) + "/stat");
  return 1000.0 * static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Samples, not comments, in the text format.
size_t CountSeries(const std::string& body) {
  size_t n = 0;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] != '#') ++n;
  return n;
}

// The value of an unlabelled gauge in the text; -1 if absent.
double Gauge(const std::string& body, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const size_t at = body.find(key);
  return at == std::string::npos ? -1 : std::strtod(body.c_str() + at + key.size(), nullptr);
}

// At least `calls` probes, and on until `enough` says so.
std::vector<double> TimeProbe(int calls, const std::function<void()>& probe,
                              const std::function<bool()>& enough = [] { return true; }) {
  std::vector<double> ms;
  for (int i = 0; i < calls || !enough(); ++i) {
    const Clock::time_point t0 = Clock::now();
    probe();
    ms.push_back(MsSince(t0));
  }
  return ms;
}

}  // namespace

ScrapeResult MeasureScrapes(const ScrapeOptions& o, const std::function<void()>& probe) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  ScrapeResult r;
  Scraper scraper(o.url, o.password);
  scraper.Get();  // connects; its cost is not a steady scrape's

  const Clock::time_point t0 = Clock::now();
  const double cpu0 = CpuMs(o.manager_pid);
  for (int i = 0; i < o.scrapes; ++i) {
    const Clock::time_point s0 = Clock::now();
    const std::string& body = scraper.Get();
    r.wall_ms.push_back(MsSince(s0));
    r.lock_ms.push_back(1000 * Gauge(body, "vastsky_scrape_lock_seconds"));
    r.body_bytes = body.size();
    r.series = CountSeries(body);
  }
  const double cpu1 = CpuMs(o.manager_pid), wall_ms = MsSince(t0);
  r.cpu_ms_per_scrape = (cpu1 - cpu0) / o.scrapes;
  // The manager's own background work (failure detector, recovery loop),
  // to tell it apart from the scrapes' cost; 2 s at least, as the CPU
  // times tick at 10 ms.
  const double idle_ms = std::max(wall_ms, 2000.0);
  std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(idle_ms));
  r.idle_cpu_ms_per_s = (CpuMs(o.manager_pid) - cpu1) / (idle_ms / 1000);

  r.probe_alone_ms = TimeProbe(o.probe_calls, probe);
  std::atomic<bool> stop{false};
  std::atomic<int> scraped{0};
  std::atomic<bool> broke{false};
  std::string failed;  // read once the thread is joined
  std::thread beside([&] {
    try {
      Scraper busy(o.url, o.password);
      while (!stop) {
        busy.Get();
        ++scraped;
      }
    } catch (const std::exception& e) {
      failed = e.what();
      broke = true;
    }
  });
  try {
    // Enough scrapes that the probes meet every part of one, the lock
    // included; a failed scraper ends the wait too.
    r.probe_beside_ms = TimeProbe(o.probe_calls, probe, [&] { return scraped >= o.scrapes || broke; });
  } catch (...) {
    stop = true;
    beside.join();
    throw;
  }
  stop = true;
  beside.join();
  r.scrapes_beside = scraped;
  if (!failed.empty()) throw std::runtime_error(failed);
  return r;
}

}  // namespace bench
}  // namespace vastsky
