// Store records as the XML-RPC structs the 3.0 API returns (member names and
// types exactly as 3.0 clients read them), plus the new members VastSky adds.
#pragma once

#include <xmlrpc-c/base.hpp>

#include <vector>

#include "manager/credentials.h"
#include "manager/health.h"
#include "manager/rebuild_report.h"
#include "manager/types.h"

namespace vastsky {

xmlrpc_c::value RenderHeadServer(const HeadServerInfo& h);
xmlrpc_c::value RenderStorageServer(const StorageServerInfo& s);
xmlrpc_c::value RenderPhysicalDisk(const PhysicalDiskInfo& d);
xmlrpc_c::value RenderVolume(const VolumeInfo& v);
// The recursive lvolstruct of showLogicalVolume.
xmlrpc_c::value RenderLayout(const VolumeLayout& layout);
xmlrpc_c::value RenderEvent(const EventInfo& e);
// With the health verdict: `health` and `checks` (manager/API.md, "Health").
xmlrpc_c::value RenderClusterStatus(const ClusterStatus& c, const Health& health);
// One row of listRebuilds.
xmlrpc_c::value RenderRebuild(const RebuildRow& r);
// legMap's answer: {status 0, block_kib, ranges}.
xmlrpc_c::value RenderLegBlocks(const LegBlocks& m);
// One row of listCredentials (never a secret); with secret non-empty,
// enrollServer's answer.
xmlrpc_c::value RenderCredential(const Credential& c, const std::string& secret = "");
// getVolumeFamily's answer: {lvols: [...]}, in the members' order.
xmlrpc_c::value RenderFamily(const std::vector<FamilyMember>& members);

}  // namespace vastsky
