// The head agent's XML-RPC methods (agents/PROTOCOL.md, "Head agent"):
// helloWorld, attachLogicalVolume, detachLogicalVolume, listVolumes,
// rebuildMirror, growLogicalVolume, setRebuildRate, freezeVolume,
// thawVolume. thawVolume runs outside the service's lock: a frozen VM
// never waits behind another call (an attach may take a minute).
#pragma once

#include "agents/head/assembly.h"
#include "agents/head/freezer.h"
#include "lib/op_journal.h"
#include "lib/rpc_service.h"

namespace vastsky {

// freezer: the one assembly's options hold.
void AddHeadAgentMethods(Assembly* assembly, Freezer* freezer, OpJournal* journal, RpcService* service);

}  // namespace vastsky
