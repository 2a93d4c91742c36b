#include "agents/storage/agent_api.h"

#include <cerrno>
#include <set>

#include "agents/common/op_once.h"
#include "agents/storage/pool_legs.h"
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

// A disk serves up to a few thousand legs; more in one call is a bug.
const size_t kMaxLegsPerCall = 65536;

Status ThinId(const Params& p, int64_t* out) {
  VS_RETURN_IF_ERROR(p.Int("thin_id", out));
  if (*out < 1 || *out > kMaxThinId)
    return Status::Error(EINVAL, "thin_id " + std::to_string(*out) + " is outside 1.." + std::to_string(kMaxThinId));
  return Status::OK();
}

// What each leg of a list carries: deleteLegs' ids, repairPool's ids and
// size, allowInitiator's ids, size and create.
enum class LegFields { kIds, kSized, kGrant };

// `member: [{chunkid, thin_id[, size_mib[, create]]}]`; absent: none.
Status Legs(const Params& p, const char* member, LegFields fields, std::vector<Leg>* out) {
  std::vector<Params> items;
  if (!p.Has(member)) return Status::OK();  // 3.0-era allowInitiator: the ACL only
  VS_RETURN_IF_ERROR(p.StructArray(member, kMaxLegsPerCall, &items));
  std::set<int64_t> seen;
  for (const Params& item : items) {
    Leg leg;
    VS_RETURN_IF_ERROR(item.Id("chunkid", &leg.chunk_id));
    VS_RETURN_IF_ERROR(ThinId(item, &leg.thin_id));
    if (fields != LegFields::kIds) {
      VS_RETURN_IF_ERROR(item.Int("size_mib", &leg.size_mib));
      if (leg.size_mib < 1) return Status::Error(EINVAL, "size_mib must be positive");
    }
    if (fields == LegFields::kGrant) VS_RETURN_IF_ERROR(item.Bool("create", &leg.create));
    if (!seen.insert(leg.chunk_id).second)
      return Status::Error(EINVAL, FormatId("dext", leg.chunk_id) + " is twice in " + member);
    out->push_back(leg);
  }
  return Status::OK();
}

xmlrpc_c::value ExportValue(const ExportInfo& e) {
  std::vector<xmlrpc_c::value> maps, legs;
  for (const auto& m : e.maps) {
    std::vector<xmlrpc_c::value> chunks;
    for (int64_t c : m.second) chunks.push_back(IntValue(c));
    maps.push_back(xmlrpc_c::value_struct(std::map<std::string, xmlrpc_c::value>{
        {"initiator", xmlrpc_c::value_string(m.first)}, {"chunks", xmlrpc_c::value_array(chunks)}}));
  }
  for (const Leg& l : e.legs)
    legs.push_back(xmlrpc_c::value_struct(std::map<std::string, xmlrpc_c::value>{
        {"chunkid", IntValue(l.chunk_id)}, {"thin_id", IntValue(l.thin_id)}, {"size_mib", IntValue(l.size_mib)}}));
  return xmlrpc_c::value_struct(std::map<std::string, xmlrpc_c::value>{
      {"pdskid", IntValue(e.pdsk_id)},
      {"iqn", xmlrpc_c::value_string(e.iqn)},
      {"device", xmlrpc_c::value_string(e.device)},
      {"initiators", StringsValue(e.initiators)},
      {"maps", xmlrpc_c::value_array(maps)},
      {"legs", xmlrpc_c::value_array(legs)}});
}

// legMap's answer: ranges flat, [b0, n0, b1, n1, ...].
xmlrpc_c::value LegMapValue(const ThinMap& map) {
  std::vector<xmlrpc_c::value> flat;
  flat.reserve(map.ranges.size() * 2);
  for (const auto& r : map.ranges) {
    flat.push_back(IntValue(r.first));
    flat.push_back(IntValue(r.second));
  }
  return xmlrpc_c::value_struct(std::map<std::string, xmlrpc_c::value>{
      {"status", xmlrpc_c::value_int(0)},
      {"block_kib", IntValue(static_cast<int64_t>(map.block_sectors / 2))},
      {"ranges", xmlrpc_c::value_array(flat)}});
}

}  // namespace

void AddStorageAgentMethods(Exports* exports, ThinPools* pools, OpJournal* journal, RpcService* service) {
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
    std::vector<Leg> legs;
    VS_RETURN_IF_ERROR(Legs(p, "legs", LegFields::kGrant, &legs));
    VS_RETURN_IF_ERROR(RunOnce(journal, p, "allowInitiator", [&] {
      VS_RETURN_IF_ERROR(exports->Allow(pdsk, access, legs));
      VS_LOG_INFO("allowed %s on %s with %zu leg(s)", access.initiator.c_str(), FormatId("pdsk", pdsk).c_str(),
                  legs.size());
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
  service->Add("deleteLegs", [exports, journal](const Params& p, xmlrpc_c::value* r) {
    int64_t pdsk;
    std::vector<Leg> legs;
    VS_RETURN_IF_ERROR(p.Id("pdskid", &pdsk));
    if (!p.Has("legs")) return Status::Error(EINVAL, "legs is missing");
    VS_RETURN_IF_ERROR(Legs(p, "legs", LegFields::kIds, &legs));
    VS_RETURN_IF_ERROR(RunOnce(journal, p, "deleteLegs", [&] {
      VS_RETURN_IF_ERROR(exports->DeleteLegs(pdsk, legs));
      VS_LOG_INFO("deleted %zu leg(s) of %s", legs.size(), FormatId("pdsk", pdsk).c_str());
      return Status::OK();
    }));
    *r = xmlrpc_c::value_int(0);
    return Status::OK();
  });
  service->Add("listExports", [exports](const Params&, xmlrpc_c::value* r) {
    std::vector<ExportInfo> list;
    VS_RETURN_IF_ERROR(exports->List(&list));
    std::vector<xmlrpc_c::value> out;
    for (const ExportInfo& e : list) out.push_back(ExportValue(e));
    *r = xmlrpc_c::value_array(out);
    return Status::OK();
  });
  service->AddUnlocked("repairPool", [exports, pools, journal, service](const Params& p, xmlrpc_c::value* r) {
    int64_t pdsk;
    std::vector<Leg> stale;
    VS_RETURN_IF_ERROR(p.Id("pdskid", &pdsk));
    VS_RETURN_IF_ERROR(Legs(p, "stale", LegFields::kSized, &stale));
    auto locked = [service](const std::function<Status()>& f) { return service->Locked(f); };
    Status st =
        RunOnceUnlocked(journal, locked, p, "repairPool", [&] { return RepairPool(pdsk, stale, pools, exports); });
    // A refusal (nothing to repair, not here) is the service's to log; a
    // failed repair leaves LUNs withdrawn: the admin's to act on.
    const bool refused = st.code() == EBUSY || st.code() == ENOENT || st.code() == EINVAL;
    if (!st.ok() && !refused)
      VS_LOG_ERROR("repair of the pool of %s stopped: %s", FormatId("pdsk", pdsk).c_str(), st.ToString().c_str());
    VS_RETURN_IF_ERROR(st);
    *r = xmlrpc_c::value_int(0);
    return Status::OK();
  });
  // Read-only, no opid; unlocked: thin_dump may take seconds, and
  // ThinPools is thread-safe.
  service->AddUnlocked("legMap", [pools](const Params& p, xmlrpc_c::value* r) {
    int64_t pdsk, thin_id;
    VS_RETURN_IF_ERROR(p.Id("pdskid", &pdsk));
    VS_RETURN_IF_ERROR(ThinId(p, &thin_id));
    ThinMap map;
    Status st = pools->Mapped(pdsk, thin_id, &map);
    if (!st.ok()) {
      VS_LOG_WARN("legMap of thin %lld on %s: %s", static_cast<long long>(thin_id), FormatId("pdsk", pdsk).c_str(),
                  st.ToString().c_str());
      return st;
    }
    *r = LegMapValue(map);
    return Status::OK();
  });
}

}  // namespace vastsky
