// The methods the manager calls on a storage agent (agents/PROTOCOL.md):
// helloWorld, allowInitiator, revokeInitiator, deleteLegs, snapshotLegs,
// listExports, legMap, legDelta, legUsage, repairPool. Mutations carry an
// opid; a repeat of a finished one returns its recorded result (0) without
// acting again. legMap, legDelta, legUsage and repairPool run beside the
// others (they wait on thin_dump, thin_delta, thin_ls, thin_check), so a
// repair never holds up a revoke (a fence).
#pragma once

#include "agents/host/thin_pool.h"
#include "agents/storage/exports.h"
#include "lib/op_journal.h"
#include "lib/rpc_service.h"

namespace vastsky {

// exports, pools and journal must outlive service.
void AddStorageAgentMethods(Exports* exports, ThinPools* pools, OpJournal* journal, RpcService* service);

}  // namespace vastsky
