// What the Attacher's files (attacher.cc: attach and detach;
// attacher_grow.cc: growing an attached volume) share: the disk and
// operation-id records, and how a failed agent call is worded. Not for
// other users: include manager/attacher.h.
#pragma once

#include <cerrno>
#include <map>
#include <string>

#include "lib/ids.h"
#include "lib/rpc_client.h"
#include "lib/secret.h"
#include "manager/attacher.h"

namespace vastsky {

// A disk one of the volume's legs lives on, and the agent that exports it.
struct Attacher::Disk {
  int64_t pdsk_id = 0, ssvr_id = 0;
  std::string url;
};

// One attach, detach or grow: its operation ids ("attach-<lvolid>-<16
// hex>-...") are unique per agent call, so an agent's journal never
// confuses two.
class Attacher::Op {
 public:
  Status Init(const char* kind, int64_t lvol_id) {
    std::string hex;
    VS_RETURN_IF_ERROR(RandomString(16, kHexDigits, &hex));
    prefix_ = std::string(kind) + "-" + std::to_string(lvol_id) + "-" + hex;
    return Status::OK();
  }
  std::string Id(const std::string& step) const { return prefix_ + "-" + step; }
  std::string Disk(const char* step, int64_t pdsk_id) const { return Id(step + std::to_string(pdsk_id)); }

 private:
  std::string prefix_;
};

namespace attacher_internal {

inline std::string Where(const char* kind, int64_t id, const std::string& url) {
  return FormatId(kind, id) + " (" + (url.empty() ? "no agent url" : url) + ")";
}

// What went wrong in a failed agent call: curl's words for a transport
// failure; a fault carries only the errno's name, and the agent's log says why.
inline std::string Detail(const Status& st, const std::string& url) {
  const std::string words = TransportWords(st.message(), url);
  if (words.empty() || words == ErrnoName(st.code()))
    return "the agent answered " + ErrnoName(st.code()) + " (its log says why)";
  return words;
}

// A failed agent call, reworded to name the server and the step; the errno
// stays, since it is what the API's caller gets.
inline Status StepFailed(const char* kind, int64_t id, const std::string& url, const std::string& step,
                         const Status& st) {
  return Status::Error(st.code(), Where(kind, id, url) + ": " + step + ": " + Detail(st, url));
}

// Transport failures: the agent did not answer (as opposed to a fault).
inline bool Unreachable(const Status& st) {
  return st.code() == ECONNREFUSED || st.code() == ETIMEDOUT || st.code() == EIO || st.code() == EACCES;
}

// A call whose answer never came although the request may have reached the
// agent (a timeout, a connection broken mid-call), or whose agent's own
// kernel call timed out (an ETIMEDOUT fault: the call may still complete):
// whether it acted is unknown. lib/rpc_client.h words transport failures
// "<url>: ...", while a fault is the agent's own answer.
inline bool OutcomeUnknown(const Status& st, const std::string& url) {
  if (st.code() == ETIMEDOUT) return true;
  const bool transport = st.message().compare(0, url.size() + 2, url + ": ") == 0;
  return transport && st.code() != ECONNREFUSED && st.code() != EACCES;
}

}  // namespace attacher_internal
}  // namespace vastsky
