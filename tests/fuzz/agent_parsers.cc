// libFuzzer target: what the agents parse from others. The first byte
// picks the parser, the rest is its input:
//   0  an XML-RPC answer of the manager's legMap (ParseLegMap)
//   1  an attach's volume as the manager sends it (ParseVolumeSpec)
//   2  iscsiadm -m session -P 3 (ParseSessionDetails)
//   3  tgtadm's target show, connections and accounts (ParseTgt*)
//   4  thin_ls' report (ParseThinLs)
//   5  thin_dump's XML (ParseThinDump) and 6 thin_delta's (ParseThinDelta)
//   7  a block device's stat line and dm raid's sync ratio
// Each must give a value or an error, never a crash or a hang.
#include <stdlib.h>

#include <xmlrpc-c/base.hpp>
#include <xmlrpc-c/xml.hpp>

#include <cstdint>
#include <fstream>
#include <string>

#include "agents/head/leg_maps.h"
#include "agents/head/volume_spec.h"
#include "agents/host/device_mapper.h"
#include "agents/host/iscsi_initiator.h"
#include "agents/host/iscsi_target.h"
#include "agents/host/thin_pool.h"
#include "lib/api_params.h"
#include "lib/units.h"
#include "tests/fuzz/fuzz_setup.h"

using namespace vastsky;

namespace {

// The answer's value if it is a well-formed XML-RPC success.
bool Answer(const std::string& xml, xmlrpc_c::value* out) {
  try {
    xmlrpc_c::rpcOutcome outcome;
    xmlrpc_c::xml::parseResponse(xml, &outcome);
    if (!outcome.succeeded()) return false;
    *out = outcome.getResult();
    return true;
  } catch (const std::exception&) {
    return false;  // not XML-RPC: the link reports EPROTO before any parser runs
  }
}

void VolumeSpecOf(const std::string& xml) {
  xmlrpc_c::value v;
  if (!Answer(xml, &v)) return;
  xmlrpc_c::paramList list;
  list.add(v);
  Params params, lvol;
  if (!Params::From(list, &params).ok() || !params.Struct("lvol", &lvol).ok()) return;
  VolumeSpec spec;
  (void)ParseVolumeSpec(lvol, &spec);
}

// thin_dump and thin_delta are read from a file, as the agent reads them.
void ThinXml(bool delta, const std::string& xml, const std::string& path) {
  std::ofstream(path, std::ios::trunc | std::ios::binary) << xml;
  ThinMap map;
  if (delta) (void)ParseThinDelta(path, 1, 2, 4096, &map);
  else (void)ParseThinDump(path, 1, 4096, &map);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string thin_xml = FuzzSetup("fuzz-agent-parsers") + "/thin.xml";
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0: {
      xmlrpc_c::value v;
      LegMap map;
      if (Answer(text, &v)) (void)ParseLegMap(v, &map);
      break;
    }
    case 1:
      VolumeSpecOf(text);
      break;
    case 2:
      (void)ParseSessionDetails(text);
      break;
    case 3:
      (void)ParseTgtShow(text);
      (void)ParseTgtConnections(text);
      (void)ParseTgtAccounts(text);
      break;
    case 4: {
      std::vector<ThinUsage> usage;
      (void)ParseThinLs(text, 128, &usage);
      break;
    }
    case 5:
    case 6:
      ThinXml(data[0] % 8 == 6, text, thin_xml);
      break;
    default: {
      BlockIoStats stats;
      (void)ParseBlockStat(text, &stats);
      int64_t done, total;
      (void)ParseSyncRatio(text, &done, &total);
    }
  }
  return 0;
}
