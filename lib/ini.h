// Read-only INI file ("[section]" then "key = value"), parsed by inih.
// Used for /etc/vastsky/*.conf (flags override what it says) and for the
// thin pool label on a storage server's disk.
#pragma once

#include <map>
#include <string>

#include "lib/status.h"

namespace vastsky {

class IniFile {
 public:
  // ENOENT if the file is missing, EINVAL (with the line number) if malformed.
  Status Load(const std::string& path);
  // The same from text (a label read off a disk); what names it in errors.
  Status Parse(const std::string& text, const std::string& what);
  bool Has(const std::string& section, const std::string& key) const;
  std::string Get(const std::string& section, const std::string& key,
                  const std::string& fallback = "") const;

 private:
  std::map<std::string, std::string> values_;  // "section.key" -> value
};

}  // namespace vastsky
