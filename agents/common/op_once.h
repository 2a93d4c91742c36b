// Runs an agent operation at most once per operation id (the call's `opid`
// member, agents/PROTOCOL.md): a repeat of a finished opid answers without
// acting again, so the manager may resend after a timeout or a restart.
#pragma once

#include <functional>

#include "lib/api_params.h"
#include "lib/op_journal.h"
#include "lib/status.h"

namespace vastsky {

Status RunOnce(OpJournal* journal, const Params& p, const char* method, const std::function<Status()>& act);
// The same for a handler added with RpcService::AddUnlocked: the journal
// (not thread-safe) is read and written inside `locked`, act runs outside.
using JournalLock = std::function<Status(const std::function<Status()>&)>;
Status RunOnceUnlocked(OpJournal* journal, const JournalLock& locked, const Params& p, const char* method,
                       const std::function<Status()>& act);

}  // namespace vastsky
