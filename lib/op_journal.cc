#include "lib/op_journal.h"

#include <cerrno>
#include <sstream>

#include "lib/state_file.h"

namespace vastsky {

Status CheckOpId(const std::string& opid) {
  if (opid.empty() || opid.size() > 128) return Status::Error(EINVAL, "opid must have 1 to 128 characters");
  for (char c : opid)
    if (c <= ' ' || c == 0x7f) return Status::Error(EINVAL, "opid must be printable, without spaces");
  return Status::OK();
}

Status OpJournal::Open(const std::string& path, size_t capacity) {
  path_ = path;
  capacity_ = capacity;
  entries_.clear();
  std::string text;
  Status st = ReadStateFile(path, &text);
  if (st.code() == ENOENT) return Status::OK();
  VS_RETURN_IF_ERROR(st);
  std::istringstream in(text);
  std::string opid, method;
  while (in >> opid >> method) entries_.emplace_back(opid, method);
  while (entries_.size() > capacity_) entries_.pop_front();
  return Status::OK();
}

bool OpJournal::Finished(const std::string& opid, const std::string& method, Status* conflict) const {
  *conflict = Status::OK();
  for (const auto& e : entries_) {
    if (e.first != opid) continue;
    if (e.second != method)
      *conflict = Status::Error(EINVAL, "opid " + opid + " was already used for " + e.second);
    return true;
  }
  return false;
}

Status OpJournal::Record(const std::string& opid, const std::string& method) {
  entries_.emplace_back(opid, method);
  while (entries_.size() > capacity_) entries_.pop_front();
  std::string text;
  for (const auto& e : entries_) text += e.first + " " + e.second + "\n";
  return WriteStateFile(path_, text, 0600);
}

}  // namespace vastsky
