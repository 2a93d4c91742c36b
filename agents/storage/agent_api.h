// The methods the manager calls on a storage agent (agents/PROTOCOL.md):
// helloWorld, allowInitiator, revokeInitiator, deleteLegs, listExports. Mutations carry
// an opid; a repeat of a finished one returns its recorded result (0)
// without acting again.
#pragma once

#include "agents/storage/exports.h"
#include "lib/op_journal.h"
#include "lib/rpc_service.h"

namespace vastsky {

// exports and journal must outlive service.
void AddStorageAgentMethods(Exports* exports, OpJournal* journal, RpcService* service);

}  // namespace vastsky
