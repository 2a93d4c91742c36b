// Reading one value out of a /metrics body in the tests.
#pragma once

#include <cstdlib>
#include <string>

namespace vastsky {

// The value of the series `series` (name and labels, as written) in a
// scrape; -1 if absent.
inline double MetricValue(const std::string& text, const std::string& series) {
  const std::string line = "\n" + series + " ";
  const size_t at = ("\n" + text).find(line);
  if (at == std::string::npos) return -1;
  return strtod(text.c_str() + at + line.size() - 1, nullptr);
}

}  // namespace vastsky
