// The methods the manager calls on a storage agent (agents/PROTOCOL.md):
// helloWorld, allowInitiator, revokeInitiator, deleteLegs, listExports,
// legMap. Mutations carry an opid; a repeat of a finished one returns its
// recorded result (0) without acting again. legMap runs beside the others
// (it waits on thin_dump).
#pragma once

#include "agents/host/thin_pool.h"
#include "agents/storage/exports.h"
#include "lib/op_journal.h"
#include "lib/rpc_service.h"

namespace vastsky {

// exports, pools and journal must outlive service.
void AddStorageAgentMethods(Exports* exports, ThinPools* pools, OpJournal* journal, RpcService* service);

}  // namespace vastsky
