#include "agents/head/agent_api.h"

#include <cerrno>

#include "agents/common/op_once.h"
#include "lib/ids.h"
#include "lib/iscsi_names.h"
#include "lib/rpc_values.h"

namespace vastsky {

void AddHeadAgentMethods(Assembly* assembly, Freezer* freezer, OpJournal* journal, RpcService* service) {
  service->Add("helloWorld", [](const Params&, xmlrpc_c::value* r) {
    *r = xmlrpc_c::value_int(0);
    return Status::OK();
  });
  service->Add("attachLogicalVolume", [assembly, journal](const Params& p, xmlrpc_c::value* r) {
    Params lvol;
    VolumeSpec spec;
    std::string user, secret, device;
    VS_RETURN_IF_ERROR(p.Struct("lvol", &lvol));
    VS_RETURN_IF_ERROR(ParseVolumeSpec(lvol, &spec));
    VS_RETURN_IF_ERROR(p.String("chap_user", &user));
    VS_RETURN_IF_ERROR(p.String("chap_secret", &secret));
    VS_RETURN_IF_ERROR(CheckChap(user, secret));
    VS_RETURN_IF_ERROR(RunOnce(journal, p, "attachLogicalVolume",
                               [&] { return assembly->Attach(spec, user, secret, &device); }));
    // A repeated opid did not act; the device is where the first call put it.
    if (device.empty()) VS_RETURN_IF_ERROR(assembly->Attach(spec, user, secret, &device));
    *r = xmlrpc_c::value_string(device);
    return Status::OK();
  });
  service->Add("detachLogicalVolume", [assembly, journal](const Params& p, xmlrpc_c::value* r) {
    int64_t lvol;
    VS_RETURN_IF_ERROR(p.Id("lvolid", &lvol));
    VS_RETURN_IF_ERROR(RunOnce(journal, p, "detachLogicalVolume", [&] { return assembly->Detach(lvol); }));
    *r = xmlrpc_c::value_int(0);
    return Status::OK();
  });
  service->Add("rebuildMirror", [assembly, journal](const Params& p, xmlrpc_c::value* r) {
    Params lvol;
    VolumeSpec spec;
    int64_t mirror, rate;
    VS_RETURN_IF_ERROR(p.Struct("lvol", &lvol));
    VS_RETURN_IF_ERROR(ParseVolumeSpec(lvol, &spec));
    VS_RETURN_IF_ERROR(p.Id("mirrorid", &mirror));
    VS_RETURN_IF_ERROR(p.Int("rate_kib", &rate));
    if (rate < 0 || rate > (int64_t{1} << 30)) return Status::Error(EINVAL, "rate_kib must be 0 to 2^30");
    VS_RETURN_IF_ERROR(RunOnce(journal, p, "rebuildMirror",
                               [&] { return assembly->Rebuild(spec, mirror, static_cast<int>(rate)); }));
    *r = xmlrpc_c::value_int(0);
    return Status::OK();
  });
  service->Add("growLogicalVolume", [assembly, journal](const Params& p, xmlrpc_c::value* r) {
    Params lvol;
    VolumeSpec spec;
    VS_RETURN_IF_ERROR(p.Struct("lvol", &lvol));
    VS_RETURN_IF_ERROR(ParseVolumeSpec(lvol, &spec));
    VS_RETURN_IF_ERROR(RunOnce(journal, p, "growLogicalVolume", [&] { return assembly->Grow(spec); }));
    *r = xmlrpc_c::value_int(0);
    return Status::OK();
  });
  service->Add("setRebuildRate", [assembly](const Params& p, xmlrpc_c::value* r) {
    int64_t rate;
    VS_RETURN_IF_ERROR(p.Int("rate_kib", &rate));
    if (rate < 1 || rate > (int64_t{1} << 30)) return Status::Error(EINVAL, "rate_kib must be 1 to 2^30");
    VS_RETURN_IF_ERROR(assembly->SetRebuildRate(static_cast<int>(rate)));
    *r = xmlrpc_c::value_int(0);
    return Status::OK();
  });
  service->Add("freezeVolume", [assembly, journal](const Params& p, xmlrpc_c::value* r) {
    int64_t lvol, timeout;
    VS_RETURN_IF_ERROR(p.Id("lvolid", &lvol));
    VS_RETURN_IF_ERROR(p.Int("timeout_ms", &timeout));
    if (timeout < kFreezeMinMs || timeout > kFreezeMaxMs)
      return Status::Error(EINVAL, "timeout_ms must be " + std::to_string(kFreezeMinMs) + " to " +
                                       std::to_string(kFreezeMaxMs));
    VS_RETURN_IF_ERROR(RunOnce(journal, p, "freezeVolume",
                               [&] { return assembly->Freeze(lvol, static_cast<int>(timeout)); }));
    *r = xmlrpc_c::value_int(0);
    return Status::OK();
  });
  service->AddUnlocked("thawVolume", [freezer, journal, service](const Params& p, xmlrpc_c::value* r) {
    int64_t lvol, paused_ms = -1;
    VS_RETURN_IF_ERROR(p.Id("lvolid", &lvol));
    auto locked = [service](const std::function<Status()>& f) { return service->Locked(f); };
    VS_RETURN_IF_ERROR(RunOnceUnlocked(journal, locked, p, "thawVolume", [&] { return freezer->Thaw(lvol, &paused_ms); }));
    // A repeated opid did not act: the answer is the first call's.
    if (paused_ms < 0 && !freezer->LastPause(lvol, &paused_ms))
      return Status::Error(ENOENT, FormatId("lvol", lvol) + " was frozen again or forgotten since that thaw");
    *r = xmlrpc_c::value_struct(std::map<std::string, xmlrpc_c::value>{{"status", IntValue(0)},
                                                                       {"paused_ms", IntValue(paused_ms)}});
    return Status::OK();
  });
  service->Add("listVolumes", [assembly](const Params&, xmlrpc_c::value* r) {
    std::vector<VolumeState> vols;
    VS_RETURN_IF_ERROR(assembly->List(&vols));
    std::vector<xmlrpc_c::value> out;
    for (const VolumeState& v : vols) {
      std::vector<xmlrpc_c::value> mirrors;
      for (const MirrorState& m : v.mirrors)
        mirrors.push_back(xmlrpc_c::value_struct(std::map<std::string, xmlrpc_c::value>{
            {"mirrorid", IntValue(m.mirror_id)},
            {"health", xmlrpc_c::value_string(m.health)},
            {"sync", xmlrpc_c::value_string(m.sync)},
            {"action", xmlrpc_c::value_string(m.action)}}));
      out.push_back(xmlrpc_c::value_struct(std::map<std::string, xmlrpc_c::value>{
          {"lvolid", IntValue(v.lvol_id)},
          {"lvolname", xmlrpc_c::value_string(v.name)},
          {"device", xmlrpc_c::value_string(v.device)},
          {"assembled", xmlrpc_c::value_boolean(v.assembled)},
          {"open", xmlrpc_c::value_boolean(v.open)},
          {"read_only", xmlrpc_c::value_boolean(v.read_only)},
          {"capacity_gib", IntValue(v.capacity_gib)},
          {"mirrors", xmlrpc_c::value_array(mirrors)}}));
    }
    *r = xmlrpc_c::value_array(out);
    return Status::OK();
  });
}

}  // namespace vastsky
