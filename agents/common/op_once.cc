#include "agents/common/op_once.h"

#include "lib/log.h"

namespace vastsky {

Status RunOnce(OpJournal* journal, const Params& p, const char* method, const std::function<Status()>& act) {
  return RunOnceUnlocked(journal, [](const std::function<Status()>& f) { return f(); }, p, method, act);
}

Status RunOnceUnlocked(OpJournal* journal, const JournalLock& locked, const Params& p, const char* method,
                       const std::function<Status()>& act) {
  std::string opid;
  VS_RETURN_IF_ERROR(p.String("opid", &opid));
  VS_RETURN_IF_ERROR(CheckOpId(opid));
  Status conflict;
  bool done = false;
  VS_RETURN_IF_ERROR(locked([&] {
    done = journal->Finished(opid, method, &conflict);
    return Status::OK();
  }));
  if (done) {
    VS_RETURN_IF_ERROR(conflict);
    VS_LOG_DEBUG("%s: opid %s already done", method, opid.c_str());
    return Status::OK();
  }
  VS_RETURN_IF_ERROR(act());
  Status st = locked([&] { return journal->Record(opid, method); });
  // The operation itself succeeded and is idempotent; a repeat re-acts.
  if (!st.ok()) VS_LOG_WARN("cannot record opid %s: %s", opid.c_str(), st.ToString().c_str());
  return Status::OK();
}

}  // namespace vastsky
