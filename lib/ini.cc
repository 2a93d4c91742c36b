#include "lib/ini.h"

#include <ini.h>
#include <sys/stat.h>

#include <cerrno>

namespace vastsky {

namespace {
int OnValue(void* user, const char* section, const char* name, const char* value) {
  auto* values = static_cast<std::map<std::string, std::string>*>(user);
  (*values)[std::string(section) + "." + name] = value;
  return 1;
}
}  // namespace

Status IniFile::Load(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Status::Error(ENOENT, "config file " + path + " not found");
  int rc = ini_parse(path.c_str(), OnValue, &values_);
  if (rc < 0) return Status::Error(EIO, "cannot read config file " + path);
  if (rc > 0) return Status::Error(EINVAL, path + ":" + std::to_string(rc) + ": not INI syntax");
  return Status::OK();
}

Status IniFile::Parse(const std::string& text, const std::string& what) {
  int rc = ini_parse_string(text.c_str(), OnValue, &values_);
  if (rc < 0) return Status::Error(ENOMEM, "cannot parse " + what);
  if (rc > 0) return Status::Error(EINVAL, what + ":" + std::to_string(rc) + ": not INI syntax");
  return Status::OK();
}

bool IniFile::Has(const std::string& section, const std::string& key) const {
  return values_.count(section + "." + key) > 0;
}

std::string IniFile::Get(const std::string& section, const std::string& key,
                         const std::string& fallback) const {
  auto it = values_.find(section + "." + key);
  return it == values_.end() ? fallback : it->second;
}

}  // namespace vastsky
