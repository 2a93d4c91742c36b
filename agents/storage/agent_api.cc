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

Status ThinId(const Params& p, int64_t* out, const char* name = "thin_id") {
  VS_RETURN_IF_ERROR(p.Int(name, out));
  if (*out < 1 || *out > kMaxThinId)
    return Status::Error(EINVAL, std::string(name) + " " + std::to_string(*out) + " is outside 1.." +
                                     std::to_string(kMaxThinId));
  return Status::OK();
}

// snapshotLegs' `legs: [{chunkid, thin_id, origin_thin_id, size_mib}]`:
// each leg with its origin's thin id.
Status SnapshotLegs(const Params& p, std::vector<std::pair<Leg, int64_t>>* out) {
  std::vector<Params> items;
  VS_RETURN_IF_ERROR(p.StructArray("legs", kMaxLegsPerCall, &items));
  std::set<int64_t> chunks, thins;
  for (const Params& item : items) {
    Leg leg;
    int64_t origin = 0;
    VS_RETURN_IF_ERROR(item.Id("chunkid", &leg.chunk_id));
    VS_RETURN_IF_ERROR(ThinId(item, &leg.thin_id));
    VS_RETURN_IF_ERROR(ThinId(item, &origin, "origin_thin_id"));
    VS_RETURN_IF_ERROR(item.Int("size_mib", &leg.size_mib));
    if (leg.size_mib < 1) return Status::Error(EINVAL, "size_mib must be positive");
    if (!chunks.insert(leg.chunk_id).second || !thins.insert(leg.thin_id).second)
      return Status::Error(EINVAL, FormatId("dext", leg.chunk_id) + " or thin " + std::to_string(leg.thin_id) +
                                       " is twice in legs");
    out->push_back({leg, origin});
  }
  return Status::OK();
}

// Each leg's thin made a snapshot of its origin, then the ones made
// recorded (also when a later one failed: they exist).
Status Snapshot(Exports* exports, ThinPools* pools, int64_t pdsk, const std::vector<std::pair<Leg, int64_t>>& legs) {
  std::vector<Leg> made;
  Status st;
  for (const auto& l : legs) {
    st = pools->Snapshot(pdsk, l.second, l.first.thin_id);
    if (!st.ok()) {
      st = Status::Error(st.code(), FormatId("dext", l.first.chunk_id) + " (thin " + std::to_string(l.first.thin_id) +
                                        " of " + FormatId("pdsk", pdsk) + "): " + st.message());
      break;
    }
    made.push_back(l.first);
  }
  Status recorded = exports->RecordLegs(pdsk, made);
  VS_RETURN_IF_ERROR(st);
  VS_RETURN_IF_ERROR(recorded);
  VS_LOG_INFO("snapshotted %zu leg(s) on %s", made.size(), FormatId("pdsk", pdsk).c_str());
  return Status::OK();
}

xmlrpc_c::value UsageValue(const std::vector<ThinUsage>& thins) {
  std::vector<xmlrpc_c::value> out;
  for (const ThinUsage& t : thins)
    out.push_back(xmlrpc_c::value_struct(std::map<std::string, xmlrpc_c::value>{
        {"thin_id", IntValue(t.thin_id)},
        {"mapped_mib", IntValue(static_cast<int64_t>(t.mapped_mib))},
        {"exclusive_mib", IntValue(static_cast<int64_t>(t.exclusive_mib))}}));
  return xmlrpc_c::value_array(out);
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

// legMap's and legDelta's answer: ranges flat, [b0, n0, b1, n1, ...].
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
  service->Add("snapshotLegs", [exports, pools, journal](const Params& p, xmlrpc_c::value* r) {
    int64_t pdsk;
    std::vector<std::pair<Leg, int64_t>> legs;
    VS_RETURN_IF_ERROR(p.Id("pdskid", &pdsk));
    VS_RETURN_IF_ERROR(SnapshotLegs(p, &legs));
    VS_RETURN_IF_ERROR(RunOnce(journal, p, "snapshotLegs", [&] { return Snapshot(exports, pools, pdsk, legs); }));
    *r = xmlrpc_c::value_int(0);
    return Status::OK();
  });
  // Read-only, no opid; unlocked: thin_dump, thin_delta and thin_ls may
  // take seconds, and ThinPools is thread-safe.
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
  service->AddUnlocked("legDelta", [pools](const Params& p, xmlrpc_c::value* r) {
    int64_t pdsk, thin_id, base;
    VS_RETURN_IF_ERROR(p.Id("pdskid", &pdsk));
    VS_RETURN_IF_ERROR(ThinId(p, &thin_id));
    VS_RETURN_IF_ERROR(ThinId(p, &base, "base_thin_id"));
    ThinMap delta;
    Status st = pools->Delta(pdsk, base, thin_id, &delta);
    if (!st.ok()) {
      VS_LOG_WARN("legDelta of thin %lld against %lld on %s: %s", static_cast<long long>(thin_id),
                  static_cast<long long>(base), FormatId("pdsk", pdsk).c_str(), st.ToString().c_str());
      return st;
    }
    *r = LegMapValue(delta);
    return Status::OK();
  });
  service->AddUnlocked("legUsage", [pools](const Params& p, xmlrpc_c::value* r) {
    int64_t pdsk;
    VS_RETURN_IF_ERROR(p.Id("pdskid", &pdsk));
    std::vector<ThinUsage> thins;
    Status st = pools->Thins(pdsk, &thins);
    if (!st.ok()) {
      VS_LOG_WARN("legUsage of %s: %s", FormatId("pdsk", pdsk).c_str(), st.ToString().c_str());
      return st;
    }
    *r = UsageValue(thins);
    return Status::OK();
  });
}

}  // namespace vastsky
