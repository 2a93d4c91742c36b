#include "agents/storage/agent_api.h"

#include <cerrno>

#include "agents/common/op_once.h"
#include "lib/ids.h"
#include "lib/log.h"
#include "lib/rpc_values.h"

namespace vastsky {

namespace {

Status Initiator(const Params& p, std::string* out) {
  VS_RETURN_IF_ERROR(p.String("initiator", out));
  std::string why;
  if (!ValidIscsiName(*out, &why)) return Status::Error(EINVAL, "initiator: " + why);
  return Status::OK();
}


}  // namespace

void AddStorageAgentMethods(Exports* exports, OpJournal* journal, RpcService* service) {
  service->Add("helloWorld", [](const Params&, xmlrpc_c::value* r) {
    *r = xmlrpc_c::value_int(0);
    return Status::OK();
  });
  service->Add("allowInitiator", [exports, journal](const Params& p, xmlrpc_c::value* r) {
    int64_t pdsk;
    InitiatorAccess access;
    VS_RETURN_IF_ERROR(p.Id("pdskid", &pdsk));
    VS_RETURN_IF_ERROR(Initiator(p, &access.initiator));
    VS_RETURN_IF_ERROR(p.String("chap_user", &access.chap_user));
    VS_RETURN_IF_ERROR(p.String("chap_secret", &access.chap_secret));
    VS_RETURN_IF_ERROR(CheckChap(access.chap_user, access.chap_secret));
    VS_RETURN_IF_ERROR(RunOnce(journal, p, "allowInitiator", [&] {
      VS_RETURN_IF_ERROR(exports->Allow(pdsk, access));
      VS_LOG_INFO("allowed %s on %s", access.initiator.c_str(), FormatId("pdsk", pdsk).c_str());
      return Status::OK();
    }));
    *r = xmlrpc_c::value_int(0);
    return Status::OK();
  });
  service->Add("revokeInitiator", [exports, journal](const Params& p, xmlrpc_c::value* r) {
    int64_t pdsk;
    std::string initiator;
    VS_RETURN_IF_ERROR(p.Id("pdskid", &pdsk));
    VS_RETURN_IF_ERROR(Initiator(p, &initiator));
    VS_RETURN_IF_ERROR(RunOnce(journal, p, "revokeInitiator", [&] {
      VS_RETURN_IF_ERROR(exports->Revoke(pdsk, initiator));
      VS_LOG_INFO("revoked %s on %s", initiator.c_str(), FormatId("pdsk", pdsk).c_str());
      return Status::OK();
    }));
    *r = xmlrpc_c::value_int(0);
    return Status::OK();
  });
  service->Add("listExports", [exports](const Params&, xmlrpc_c::value* r) {
    std::vector<ExportInfo> list;
    VS_RETURN_IF_ERROR(exports->List(&list));
    std::vector<xmlrpc_c::value> out;
    for (const ExportInfo& e : list)
      out.push_back(xmlrpc_c::value_struct(std::map<std::string, xmlrpc_c::value>{
          {"pdskid", xmlrpc_c::value_int(static_cast<int>(e.pdsk_id))},
          {"iqn", xmlrpc_c::value_string(e.iqn)},
          {"device", xmlrpc_c::value_string(e.device)},
          {"initiators", StringsValue(e.initiators)}}));
    *r = xmlrpc_c::value_array(out);
    return Status::OK();
  });
}

}  // namespace vastsky
