// The head agent's XML-RPC methods (agents/PROTOCOL.md, "Head agent"):
// helloWorld, attachLogicalVolume, detachLogicalVolume, listVolumes.
#pragma once

#include "agents/head/assembly.h"
#include "lib/op_journal.h"
#include "lib/rpc_service.h"

namespace vastsky {

void AddHeadAgentMethods(Assembly* assembly, OpJournal* journal, RpcService* service);

}  // namespace vastsky
