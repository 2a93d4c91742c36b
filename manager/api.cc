#include "manager/api.h"

#include "lib/rpc_values.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <vector>

#include "lib/api_params.h"
#include "lib/log.h"
#include "manager/access.h"
#include "manager/api_render.h"
#include "manager/changed_blocks.h"
#include "manager/leg_map.h"
#include "manager/volume_family.h"

namespace vastsky {

namespace {

using Handler = RpcService::Handler;

xmlrpc_c::value Zero() { return xmlrpc_c::value_int(0); }
xmlrpc_c::value IdValue(int64_t id) { return xmlrpc_c::value_int(static_cast<int>(id)); }

template <typename T, typename F>
xmlrpc_c::value Array(const std::vector<T>& items, F render) {
  std::vector<xmlrpc_c::value> out;
  out.reserve(items.size());
  for (const T& item : items) out.push_back(render(item));
  return xmlrpc_c::value_array(out);
}

// How a fault names the volume ref refers to, as the Store's ENOENT does.
std::string Names(const VolumeRef& ref) {
  return ref.id != 0 ? FormatId("lvol", ref.id) : "named '" + ref.name + "'";
}

// An optional id filter of the list methods: absent or 0 means all.
Status OptionalId(const Params& p, const char* key, int64_t* id) {
  *id = 0;
  if (!p.Has(key)) return Status::OK();
  VS_RETURN_IF_ERROR(p.Int(key, id));
  if (*id < 0 || *id > 0x7fffffff) return Status::Error(EINVAL, std::string("member '") + key + "' is not a valid id");
  return Status::OK();
}

// The optional `reconnect` member of the register methods (false if absent).
Status Reconnect(const Params& p, bool* reconnect) {
  *reconnect = false;
  return p.Has("reconnect") ? p.Bool("reconnect", reconnect) : Status::OK();
}

constexpr size_t kMaxIps = 64, kMaxBlocks = 100000;

// The optional string members of the register methods; null if absent.
Status OptionalString(const Params& p, const char* key, std::string* value, const std::string** out) {
  *out = nullptr;
  if (!p.Has(key)) return Status::OK();
  VS_RETURN_IF_ERROR(p.String(key, value));
  *out = value;
  return Status::OK();
}

// A storage agent's heartbeat `pools` (agents/PROTOCOL.md).
Status Pools(const Params& p, std::vector<PoolReport>* out) {
  std::vector<Params> items;
  VS_RETURN_IF_ERROR(p.StructArray("pools", 4096, &items));
  for (const Params& i : items) {
    PoolReport r;
    VS_RETURN_IF_ERROR(i.Id("pdskid", &r.pdsk_id));
    VS_RETURN_IF_ERROR(i.Int("data_used_mib", &r.data_used_mib));
    VS_RETURN_IF_ERROR(i.Int("data_mib", &r.data_mib));
    VS_RETURN_IF_ERROR(i.Int("meta_used_kib", &r.meta_used_kib));
    VS_RETURN_IF_ERROR(i.Int("meta_kib", &r.meta_kib));
    VS_RETURN_IF_ERROR(i.String("mode", &r.mode));
    out->push_back(r);
  }
  return Status::OK();
}

// Agents that registered with a credential of their own are called with it.
AgentOptions WithCredentials(AgentOptions options, const CredentialCache* credentials) {
  options.credential_for = [credentials](const std::string& url, std::string* user, std::string* password) {
    return credentials->AgentCredential(url, user, password);
  };
  return options;
}

}  // namespace

Status Api::HealthNow(const RebuildTotals& rebuilds, Health* out) {
  return store_->GetHealth(recovery_.silent_servers(), recovery_.isolated(), rebuilds.stalled,
                           rebuilds.longest_stall_s, out);
}

Status Api::RebuildRows(std::vector<RebuildRow>* out) {
  std::vector<RebuildInfo> queue;
  VS_RETURN_IF_ERROR(store_->ListRebuilds(&queue));
  for (const RebuildInfo& info : queue) out->push_back(MakeRebuildRow(info, recovery_.progress()));
  return Status::OK();
}

Api::Api(Store* store, AgentOptions agents, RecoveryOptions recovery)
    : store_(store),
      agents_(WithCredentials(std::move(agents), &credentials_)),
      attacher_(store, [this](const std::function<Status()>& f) { return service_.Locked(f); }, &agents_, &agents_),
      copier_(store, [this](const std::function<Status()>& f) { return service_.Locked(f); }, &agents_, &agents_),
      recovery_(store, &attacher_, [this](const std::function<Status()>& f) { return service_.Locked(f); }, recovery),
      repairs_(store, [this](const std::function<Status()>& f) { return service_.Locked(f); }, &agents_) {
  service_.SetGate(MayCall);
  const Status loaded = service_.Locked([this] { return RefreshCredentials(); });
  if (!loaded.ok()) VS_LOG_ERROR("cannot load the credentials (servers enrolled cannot call): %s", loaded.ToString().c_str());
  Store& s = *store_;
  Attacher& attacher = attacher_;
  const std::vector<std::pair<const char*, Handler>> methods = {
      {"registerHeadServer",
       [&s, this](const Params& p, xmlrpc_c::value* r) {
         std::vector<std::string> ips;
         VS_RETURN_IF_ERROR(p.StringArray("ip_data", kMaxIps, &ips));
         bool reconnect;
         VS_RETURN_IF_ERROR(Reconnect(p, &reconnect));
         std::string url_value, initiator_value;
         const std::string *url, *initiator;
         VS_RETURN_IF_ERROR(OptionalString(p, "url", &url_value, &url));
         VS_RETURN_IF_ERROR(OptionalString(p, "initiator", &initiator_value, &initiator));
         int64_t id;
         VS_RETURN_IF_ERROR(s.RegisterHeadServer(ips, &id, reconnect, url, initiator, &p.caller()));
         if (p.caller().role == Role::kHead) VS_RETURN_IF_ERROR(RefreshCredentials());  // bound, in use, url
         recovery_.Registered(kTargetHsvr, id);
         *r = IdValue(id);
         return Status::OK();
       }},
      {"registerStorageServer",
       [&s, this](const Params& p, xmlrpc_c::value* r) {
         std::vector<std::string> ips;
         VS_RETURN_IF_ERROR(p.StringArray("ip_data", kMaxIps, &ips));
         std::string domain;
         if (p.Has("domain")) VS_RETURN_IF_ERROR(p.String("domain", &domain));
         bool reconnect;
         VS_RETURN_IF_ERROR(Reconnect(p, &reconnect));
         std::string url_value;
         const std::string* url;
         VS_RETURN_IF_ERROR(OptionalString(p, "url", &url_value, &url));
         int64_t id;
         VS_RETURN_IF_ERROR(
             s.RegisterStorageServer(ips, p.Has("domain") ? &domain : nullptr, &id, reconnect, url, &p.caller()));
         if (p.caller().role == Role::kStorage) VS_RETURN_IF_ERROR(RefreshCredentials());  // bound, in use, url
         recovery_.Registered(kTargetSsvr, id);
         *r = IdValue(id);
         return Status::OK();
       }},
      {"registerPhysicalDisk",
       [&s](const Params& p, xmlrpc_c::value* r) {
         int64_t ssvr, id;
         std::string path, capacity;
         VS_RETURN_IF_ERROR(p.Id("ssvrid", &ssvr));
         VS_RETURN_IF_ERROR(OwnServer(p.caller(), Role::kStorage, ssvr));
         VS_RETURN_IF_ERROR(p.String("local_path", &path));
         VS_RETURN_IF_ERROR(p.String("capacity", &capacity));
         // 3.0 sends sectors as a decimal string to dodge the i4 limit.
         if (capacity.empty() || capacity.size() > 18 || capacity.find_first_not_of("0123456789") != std::string::npos)
           return Status::Error(EINVAL, "capacity must be a decimal count of 512-byte sectors");
         bool reconnect;
         VS_RETURN_IF_ERROR(Reconnect(p, &reconnect));
         // A labelled disk names itself: its path may have changed.
         int64_t label = 0;
         if (p.Has("pdskid")) VS_RETURN_IF_ERROR(p.Id("pdskid", &label));
         VS_RETURN_IF_ERROR(s.RegisterPhysicalDisk(ssvr, path, std::stoll(capacity), &id, reconnect,
                                                   p.Has("pdskid") ? &label : nullptr));
         *r = IdValue(id);
         return Status::OK();
       }},
      {"deletePhysicalDisk",
       [&s](const Params& p, xmlrpc_c::value* r) {
         int64_t id;
         VS_RETURN_IF_ERROR(p.Id("pdskid", &id));
         VS_RETURN_IF_ERROR(s.DeletePhysicalDisk(id));
         *r = Zero();
         return Status::OK();
       }},
      {"deleteHeadServer",
       [&s](const Params& p, xmlrpc_c::value* r) {
         int64_t id;
         VS_RETURN_IF_ERROR(p.Id("hsvrid", &id));
         VS_RETURN_IF_ERROR(s.DeleteHeadServer(id));
         *r = Zero();
         return Status::OK();
       }},
      {"deleteStorageServer",
       [&s](const Params& p, xmlrpc_c::value* r) {
         int64_t id;
         VS_RETURN_IF_ERROR(p.Id("ssvrid", &id));
         VS_RETURN_IF_ERROR(s.DeleteStorageServer(id));
         *r = Zero();
         return Status::OK();
       }},
      {"drainStorageServer",
       [&s](const Params& p, xmlrpc_c::value* r) {
         int64_t id;
         VS_RETURN_IF_ERROR(p.Id("ssvrid", &id));
         VS_RETURN_IF_ERROR(s.Drain(kTargetSsvr, id));
         *r = Zero();
         return Status::OK();
       }},
      {"drainPhysicalDisk",
       [&s](const Params& p, xmlrpc_c::value* r) {
         int64_t id;
         VS_RETURN_IF_ERROR(p.Id("pdskid", &id));
         VS_RETURN_IF_ERROR(s.Drain(kTargetPdsk, id));
         *r = Zero();
         return Status::OK();
       }},
      {"createLogicalVolume",
       [&s](const Params& p, xmlrpc_c::value* r) {
         std::string name, tenant = p.caller().tenant;
         int64_t capacity, redundancy = kDefaultRedundancy, id;
         VS_RETURN_IF_ERROR(p.String("lvolname", &name));
         VS_RETURN_IF_ERROR(p.Int("capacity", &capacity));
         if (p.Has("redundancy")) VS_RETURN_IF_ERROR(p.Int("redundancy", &redundancy));
         if (redundancy < kMinRedundancy || redundancy > kMaxRedundancy)
           return Status::Error(EINVAL, "redundancy must be 2 to 9");
         // An admin may make a tenant's volume; a tenant only its own.
         if (p.Has("tenant")) {
           std::string named;
           VS_RETURN_IF_ERROR(p.String("tenant", &named));
           if (p.caller().role == Role::kTenant && named != tenant)
             return Status::Error(EACCES, p.caller().user + " makes volumes of its own tenant only");
           tenant = named;
         }
         VS_RETURN_IF_ERROR(s.CreateLogicalVolume(name, capacity, static_cast<int>(redundancy), &id, tenant));
         *r = IdValue(id);
         return Status::OK();
       }},
      {"listLogicalVolumes",
       [&s, this](const Params& p, xmlrpc_c::value* r) {
         VolumeRef ref;
         const bool one = p.Has("lvolid") || p.Has("lvolname");
         if (one) VS_RETURN_IF_ERROR(p.Volume("lvol", &ref));
         std::vector<VolumeInfo> vols;
         VS_RETURN_IF_ERROR(s.ListLogicalVolumes(one ? &ref : nullptr, &vols));
         if (one && !vols.empty()) VS_RETURN_IF_ERROR(OwnVolume(p.caller(), vols[0], Names(ref)));
         KeepVisible(p.caller(), &vols);
         *r = Array(vols, RenderVolume);
         return Status::OK();
       }},
      {"showLogicalVolume",
       [&s](const Params& p, xmlrpc_c::value* r) {
         VolumeRef ref;
         VS_RETURN_IF_ERROR(p.Volume("lvol", &ref));
         VolumeLayout layout;
         VS_RETURN_IF_ERROR(s.ShowLogicalVolume(ref, &layout));
         VS_RETURN_IF_ERROR(OwnVolume(p.caller(), layout.volume, Names(ref)));
         *r = RenderLayout(layout);
         return Status::OK();
       }},
      {"listHeadServers",
       [&s](const Params& p, xmlrpc_c::value* r) {
         int64_t id;
         VS_RETURN_IF_ERROR(OptionalId(p, "hsvrid", &id));
         std::vector<HeadServerInfo> out;
         VS_RETURN_IF_ERROR(s.ListHeadServers(id, &out));
         if (p.caller().role == Role::kTenant) {  // the heads it was given
           std::vector<int64_t> heads;
           VS_RETURN_IF_ERROR(s.TenantHeads(p.caller().tenant, &heads));
           out.erase(std::remove_if(out.begin(), out.end(),
                                    [&](const HeadServerInfo& h) { return !MayAttachTo(p.caller(), h.id, heads).ok(); }),
                     out.end());
           if (id != 0 && out.empty()) return Status::Error(ENOENT, "no head server " + FormatId("hsvr", id));
         }
         *r = Array(out, RenderHeadServer);
         return Status::OK();
       }},
      {"listStorageServers",
       [&s](const Params& p, xmlrpc_c::value* r) {
         int64_t id;
         VS_RETURN_IF_ERROR(OptionalId(p, "ssvrid", &id));
         std::vector<StorageServerInfo> out;
         VS_RETURN_IF_ERROR(s.ListStorageServers(id, &out));
         *r = Array(out, RenderStorageServer);
         return Status::OK();
       }},
      {"listPhysicalDisks",
       [&s](const Params& p, xmlrpc_c::value* r) {
         int64_t id;
         VS_RETURN_IF_ERROR(OptionalId(p, "ssvrid", &id));
         std::vector<PhysicalDiskInfo> out;
         VS_RETURN_IF_ERROR(s.ListPhysicalDisks(id, &out));
         *r = Array(out, RenderPhysicalDisk);
         return Status::OK();
       }},
      {"listEvents",
       [&s](const Params& p, xmlrpc_c::value* r) {
         int64_t since = 0, limit = 1000;
         bool newest = false;
         if (p.Has("since")) VS_RETURN_IF_ERROR(p.Int("since", &since));
         if (p.Has("limit")) VS_RETURN_IF_ERROR(p.Int("limit", &limit));
         if (p.Has("newest")) VS_RETURN_IF_ERROR(p.Bool("newest", &newest));
         std::vector<EventInfo> out;
         VS_RETURN_IF_ERROR(s.ListEvents(since, limit, &out, newest));
         *r = Array(out, RenderEvent);
         return Status::OK();
       }},
      {"notifyBadBlocks",
       [&s](const Params& p, xmlrpc_c::value* r) {
         int64_t id;
         std::vector<int64_t> blocks;
         VS_RETURN_IF_ERROR(p.Id("pdskid", &id));
         VS_RETURN_IF_ERROR(p.IntArray("blocks", kMaxBlocks, &blocks));
         VS_RETURN_IF_ERROR(s.NotifyBadBlocks(id, blocks, &p.caller()));
         *r = Zero();
         return Status::OK();
       }},
      {"shutdownAll",
       [&s](const Params&, xmlrpc_c::value* r) {
         VS_RETURN_IF_ERROR(s.ShutdownAll());
         *r = Zero();
         return Status::OK();
       }},
      {"getClusterStatus",
       [&s, this](const Params& p, xmlrpc_c::value* r) {
         ClusterStatus c;
         VS_RETURN_IF_ERROR(s.GetClusterStatus(&c));
         c.isolated = recovery_.isolated();
         c.silent_servers = recovery_.silent_servers();
         std::vector<RebuildRow> rows;
         VS_RETURN_IF_ERROR(RebuildRows(&rows));
         const RebuildTotals t = SumRebuilds(rows, kRebuildStallS);
         c.rebuild_total_mib = t.total_mib;
         c.rebuild_left_mib = t.left_mib;
         c.rebuild_rate_mibs = t.rate_mibs;
         c.rebuild_eta_s = t.eta_s;
         Health health;
         VS_RETURN_IF_ERROR(HealthNow(t, &health));
         // The names a check lists may be other tenants' volumes.
         if (p.caller().role != Role::kAdmin)
           for (HealthCheck& check : health.checks) check.detail.clear();
         *r = RenderClusterStatus(c, health);
         return Status::OK();
       }},
      {"listRebuilds",
       [this](const Params&, xmlrpc_c::value* r) {
         std::vector<RebuildRow> rows;
         VS_RETURN_IF_ERROR(RebuildRows(&rows));
         *r = Array(rows, RenderRebuild);
         return Status::OK();
       }},
      {"setStorageServerDomain",
       [&s](const Params& p, xmlrpc_c::value* r) {
         int64_t id;
         std::string domain;
         VS_RETURN_IF_ERROR(p.Id("ssvrid", &id));
         VS_RETURN_IF_ERROR(p.String("domain", &domain));
         VS_RETURN_IF_ERROR(s.SetStorageServerDomain(id, domain));
         *r = Zero();
         return Status::OK();
       }},
      {"heartbeat",
       [&s, this](const Params& p, xmlrpc_c::value* r) {
         // Exactly one of ssvrid (storage agent) or hsvrid (head agent); a
         // head may add deadlegs, the chunks of the legs it holds dead.
         if (p.Has("ssvrid") == p.Has("hsvrid")) return Status::Error(EINVAL, "give exactly one of 'ssvrid' or 'hsvrid'");
         const bool storage = p.Has("ssvrid");
         int64_t id;
         VS_RETURN_IF_ERROR(p.Id(storage ? "ssvrid" : "hsvrid", &id));
         VS_RETURN_IF_ERROR(OwnServer(p.caller(), storage ? Role::kStorage : Role::kHead, id));
         std::vector<int64_t> dead;
         if (!storage && p.Has("deadlegs")) VS_RETURN_IF_ERROR(p.IntArray("deadlegs", 100000, &dead));
         std::vector<PoolReport> pools;
         if (storage && p.Has("pools")) VS_RETURN_IF_ERROR(Pools(p, &pools));
         // The agent's wall clock (optional: older agents are not judged).
         double agent_time = 0;
         if (p.Has("time")) VS_RETURN_IF_ERROR(p.Double("time", &agent_time));
         VS_RETURN_IF_ERROR(s.Heartbeat(storage ? kTargetSsvr : kTargetHsvr, id));
         if (!pools.empty()) VS_RETURN_IF_ERROR(s.NotePools(id, pools));
         if (p.Has("time")) s.NoteClockSkew(storage ? kTargetSsvr : kTargetHsvr, id, agent_time - WallClockSeconds());
         recovery_.Heard(storage ? kTargetSsvr : kTargetHsvr, id);
         if (!storage) recovery_.NoteDeadLegs(id, dead);
         *r = Zero();
         return Status::OK();
       }},
      {"setClusterSetting",
       [&s](const Params& p, xmlrpc_c::value* r) {
         std::string name, value;
         VS_RETURN_IF_ERROR(p.String("name", &name));
         VS_RETURN_IF_ERROR(p.String("value", &value));
         VS_RETURN_IF_ERROR(s.SetClusterSetting(name, value));
         *r = Zero();
         return Status::OK();
       }},
      {"enrollServer",
       [&s, this](const Params& p, xmlrpc_c::value* r) {
         std::string kind;
         int64_t id = 0;
         VS_RETURN_IF_ERROR(p.String("kind", &kind));
         if (p.Has("id")) VS_RETURN_IF_ERROR(p.Id("id", &id));
         Credential c;
         VS_RETURN_IF_ERROR(s.EnrollServer(kind, id, &c));
         std::string secret;
         VS_RETURN_IF_ERROR(CredentialSecret(s.node_key(), c.user, c.generation, &secret));
         VS_RETURN_IF_ERROR(RefreshCredentials());
         *r = RenderCredential(c, secret);
         return Status::OK();
       }},
      {"listCredentials",
       [&s](const Params&, xmlrpc_c::value* r) {
         std::vector<Credential> rows;
         VS_RETURN_IF_ERROR(s.ListCredentials(&rows));
         *r = Array(rows, [](const Credential& c) { return RenderCredential(c); });
         return Status::OK();
       }},
      {"revokeCredential",
       [&s, this](const Params& p, xmlrpc_c::value* r) {
         std::string user;
         VS_RETURN_IF_ERROR(p.String("user", &user));
         VS_RETURN_IF_ERROR(s.RevokeCredential(user));
         VS_RETURN_IF_ERROR(RefreshCredentials());
         *r = Zero();
         return Status::OK();
       }},
      {"enrollTenant",
       [&s, this](const Params& p, xmlrpc_c::value* r) {
         std::string tenant;
         std::vector<int64_t> heads;
         VS_RETURN_IF_ERROR(p.String("tenant", &tenant));
         if (p.Has("hsvrids")) VS_RETURN_IF_ERROR(p.IntArray("hsvrids", 4096, &heads));
         Credential c;
         VS_RETURN_IF_ERROR(s.EnrollTenant(tenant, p.Has("hsvrids") ? &heads : nullptr, &c));
         std::string secret;
         VS_RETURN_IF_ERROR(CredentialSecret(s.node_key(), c.user, c.generation, &secret));
         VS_RETURN_IF_ERROR(RefreshCredentials());
         *r = RenderCredential(c, secret);
         return Status::OK();
       }},
      {"setTenantHeads",
       [&s](const Params& p, xmlrpc_c::value* r) {
         std::string tenant;
         std::vector<int64_t> heads;
         VS_RETURN_IF_ERROR(p.String("tenant", &tenant));
         VS_RETURN_IF_ERROR(p.IntArray("hsvrids", 4096, &heads));
         VS_RETURN_IF_ERROR(s.SetTenantHeads(tenant, heads));
         *r = Zero();
         return Status::OK();
       }},
      {"setPhysicalDiskWeight",
       [&s](const Params& p, xmlrpc_c::value* r) {
         int64_t id;
         double weight;
         VS_RETURN_IF_ERROR(p.Id("pdskid", &id));
         VS_RETURN_IF_ERROR(p.Double("weight", &weight));
         VS_RETURN_IF_ERROR(s.SetPhysicalDiskWeight(id, weight));
         *r = Zero();
         return Status::OK();
       }},
  };
  for (const auto& m : methods) service_.Add(m.first, m.second);
  // These wait on agents: the Attacher takes the lock for each transaction.
  // A user's attach or delete keeps the recovery loop from attaching the
  // volume for a rebuild meanwhile; either takes a rebuild attachment over.
  auto held = [this](const VolumeRef& ref, const std::function<Status()>& f) {
    std::vector<VolumeInfo> vols;
    if (!service_.Locked([&] { return store_->ListLogicalVolumes(&ref, &vols); }).ok() || vols.empty()) return f();
    recovery_.Hold(vols[0].id);
    Status st = f();
    recovery_.Release(vols[0].id);
    return st;
  };
  service_.AddUnlocked("attachLogicalVolume", [this, &attacher, held](const Params& p, xmlrpc_c::value* r) {
    VolumeRef ref;
    int64_t hsvr;
    VS_RETURN_IF_ERROR(CallerVolume(p, "lvol", &ref));
    VS_RETURN_IF_ERROR(p.Id("hsvrid", &hsvr));
    if (p.caller().role != Role::kAdmin) {
      std::vector<int64_t> heads;
      VS_RETURN_IF_ERROR(service_.Locked([&] { return store_->TenantHeads(p.caller().tenant, &heads); }));
      VS_RETURN_IF_ERROR(MayAttachTo(p.caller(), hsvr, heads));
    }
    VS_RETURN_IF_ERROR(held(ref, [&] { return attacher.Attach(ref, hsvr); }));
    *r = Zero();  // 3.0's answer; the device is in the attach event
    return Status::OK();
  });
  // Rates live in the recovery loop, not the database: they need no lock.
  Recovery& rec = recovery_;
  // A head reported failed is fenced first (its initiator revoked on every
  // disk, which waits on storage agents), then its volumes are released.
  service_.AddUnlocked("notifyFailure", [this](const Params& p, xmlrpc_c::value* r) {
    int64_t target, id;
    VS_RETURN_IF_ERROR(p.Int("target", &target));
    VS_RETURN_IF_ERROR(p.Id("targetid", &id));
    if (target < kTargetHsvr || target > kTargetDext)
      return Status::Error(EINVAL, "target must be 1 (hsvr), 2 (ssvr), 3 (pdsk) or 4 (dext)");
    if (target == kTargetHsvr) VS_RETURN_IF_ERROR(recovery_.FenceHead(id));
    else VS_RETURN_IF_ERROR(service_.Locked([&] { return store_->NotifyFailure(static_cast<int>(target), id); }));
    *r = Zero();
    return Status::OK();
  });
  // A head's question about a leg (to trim another): the storage agent is
  // asked outside the lock, so heartbeats never wait on it.
  service_.AddUnlocked("legMap", [this](const Params& p, xmlrpc_c::value* r) {
    int64_t hsvr, chunk;
    VS_RETURN_IF_ERROR(p.Id("hsvrid", &hsvr));
    VS_RETURN_IF_ERROR(OwnServer(p.caller(), Role::kHead, hsvr));
    VS_RETURN_IF_ERROR(p.Id("chunkid", &chunk));
    LegBlocks map;
    VS_RETURN_IF_ERROR(MapLeg(
        store_, [this](const std::function<Status()>& f) { return service_.Locked(f); }, &agents_, hsvr, chunk,
        &map));
    *r = RenderLegBlocks(map);
    return Status::OK();
  });
  // An admin's repair of a disk's pool waits on its storage agent's
  // thin_check (minutes): outside the lock.
  service_.AddUnlocked("repairPhysicalDisk", [this](const Params& p, xmlrpc_c::value* r) {
    int64_t id;
    VS_RETURN_IF_ERROR(p.Id("pdskid", &id));
    VS_RETURN_IF_ERROR(repairs_.Repair(id));
    *r = Zero();
    return Status::OK();
  });
  service_.AddUnlocked("setRebuildRates", [&rec](const Params& p, xmlrpc_c::value* r) {
    int64_t disk, cluster;
    VS_RETURN_IF_ERROR(p.Int("disk_mibs", &disk));
    VS_RETURN_IF_ERROR(p.Int("cluster_mibs", &cluster));
    VS_RETURN_IF_ERROR(rec.SetRates(disk, cluster));
    *r = Zero();
    return Status::OK();
  });
  service_.AddUnlocked("getRebuildRates", [&rec](const Params&, xmlrpc_c::value* r) {
    int64_t disk, cluster;
    rec.Rates(&disk, &cluster);
    *r = xmlrpc_c::value_struct(std::map<std::string, xmlrpc_c::value>{{"disk_mibs", IntValue(disk)},
                                                                        {"cluster_mibs", IntValue(cluster)}});
    return Status::OK();
  });
  service_.AddUnlocked("deleteLogicalVolume", [this, &attacher, held](const Params& p, xmlrpc_c::value* r) {
    VolumeRef ref;
    VS_RETURN_IF_ERROR(CallerVolume(p, "lvol", &ref));
    VS_RETURN_IF_ERROR(held(ref, [&] {
      VS_RETURN_IF_ERROR(attacher.Detach(ref, /*rebuild_attachment=*/true));
      return service_.Locked([&] { return store_->DeleteLogicalVolume(ref); });
    }));
    *r = Zero();
    return Status::OK();
  });
  // A grow of an attached volume waits on its head's agent, like an attach.
  service_.AddUnlocked("resizeLogicalVolume", [this, &attacher](const Params& p, xmlrpc_c::value* r) {
    VolumeRef ref;
    int64_t capacity;
    VS_RETURN_IF_ERROR(CallerVolume(p, "lvol", &ref));
    VS_RETURN_IF_ERROR(p.Int("capacity", &capacity));
    if (capacity < 1 || capacity > kMaxVolumeGib)
      return Status::Error(EINVAL, "capacity must be 1 to " + std::to_string(kMaxVolumeGib) + " GiB");
    VS_RETURN_IF_ERROR(attacher.Grow(ref, capacity));
    *r = Zero();
    return Status::OK();
  });
  // Snapshots and clones freeze the source on its head and wait on storage agents.
  service_.AddUnlocked("createSnapshot", [this](const Params& p, xmlrpc_c::value* r) {
    VolumeRef origin;
    std::string name;
    int64_t id;
    VS_RETURN_IF_ERROR(CallerVolume(p, "origin_lvol", &origin));
    VS_RETURN_IF_ERROR(p.String("snapshot_lvolname", &name));
    VS_RETURN_IF_ERROR(copier_.Copy(origin, name, /*snapshot=*/true, &id));
    *r = IdValue(id);
    return Status::OK();
  });
  service_.AddUnlocked("cloneLogicalVolume", [this](const Params& p, xmlrpc_c::value* r) {
    VolumeRef source;
    std::string name;
    int64_t id;
    VS_RETURN_IF_ERROR(CallerVolume(p, "lvol", &source));
    VS_RETURN_IF_ERROR(p.String("clone_lvolname", &name));
    VS_RETURN_IF_ERROR(copier_.Copy(source, name, /*snapshot=*/false, &id));
    *r = IdValue(id);
    return Status::OK();
  });
  service_.AddUnlocked("revertLogicalVolume", [this](const Params& p, xmlrpc_c::value* r) {
    VolumeRef vol, snap;
    VS_RETURN_IF_ERROR(CallerVolume(p, "lvol", &vol));
    VS_RETURN_IF_ERROR(CallerVolume(p, "snapshot_lvol", &snap));
    VS_RETURN_IF_ERROR(copier_.Revert(vol, snap));
    *r = Zero();
    return Status::OK();
  });
  service_.AddUnlocked("listChangedBlocks", [this](const Params& p, xmlrpc_c::value* r) {
    VolumeRef lvol, base;
    VS_RETURN_IF_ERROR(CallerVolume(p, "lvol", &lvol));
    VS_RETURN_IF_ERROR(CallerVolume(p, "base_lvol", &base));
    LegBlocks blocks;
    VS_RETURN_IF_ERROR(ListChangedBlocks(
        store_, [this](const std::function<Status()>& f) { return service_.Locked(f); }, &agents_, lvol, base,
        &blocks));
    *r = RenderLegBlocks(blocks);
    return Status::OK();
  });
  // Asks a storage agent per disk of the family, outside the lock.
  service_.AddUnlocked("getVolumeFamily", [this](const Params& p, xmlrpc_c::value* r) {
    VolumeRef lvol;
    VS_RETURN_IF_ERROR(CallerVolume(p, "lvol", &lvol));
    std::vector<FamilyMember> members;
    VS_RETURN_IF_ERROR(GetVolumeFamily(
        store_, [this](const std::function<Status()>& f) { return service_.Locked(f); }, &agents_, lvol, &members));
    // An admin's clone of a tenant's volume is in the family, not the tenant's.
    members.erase(std::remove_if(members.begin(), members.end(),
                                 [&](const FamilyMember& m) { return !Sees(p.caller(), m.tenant); }),
                  members.end());
    *r = RenderFamily(members);
    return Status::OK();
  });
  service_.AddUnlocked("detachLogicalVolume", [this, &attacher](const Params& p, xmlrpc_c::value* r) {
    VolumeRef ref;
    VS_RETURN_IF_ERROR(CallerVolume(p, "lvol", &ref));
    VS_RETURN_IF_ERROR(attacher.Detach(ref));
    *r = Zero();
    return Status::OK();
  });
}

std::string Api::Handle(const Caller& caller, const std::string& body) { return service_.Handle(caller, body); }

void Api::CountInto(Metrics* metrics) {
  service_.ObserveCalls(
      [metrics](const std::string& method, int code, double seconds) { metrics->CountCall(method, code, seconds); });
  store_->CountEventsWith(
      [metrics](const std::string& type, const std::string& level) { metrics->CountEvent(type, level); });
}

Status Api::ReadScrape(ScrapeInput* out) {
  VS_RETURN_IF_ERROR(service_.Locked([&] {
    const auto held_since = std::chrono::steady_clock::now();
    VS_RETURN_IF_ERROR(ReadScrapeLocked(out));
    out->lock_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - held_since).count();
    return Status::OK();
  }));
  out->silence_ms = recovery_.SilenceMs(out->agents);
  return Status::OK();
}

Status Api::ReadScrapeLocked(ScrapeInput* out) {
  VS_RETURN_IF_ERROR(store_->ReadGauges(&out->store));
  VS_RETURN_IF_ERROR(RebuildRows(&out->rebuilds));
  out->rebuild_totals = SumRebuilds(out->rebuilds, kRebuildStallS);
  VS_RETURN_IF_ERROR(HealthNow(out->rebuild_totals, &out->health));
  return store_->MonitoredServers(&out->agents);
}

Status Api::CallerVolume(const Params& p, const std::string& prefix, VolumeRef* ref) {
  VS_RETURN_IF_ERROR(p.Volume(prefix, ref));
  if (p.caller().role == Role::kAdmin) return Status::OK();
  std::vector<VolumeInfo> vols;
  VS_RETURN_IF_ERROR(service_.Locked([&] { return store_->ListLogicalVolumes(ref, &vols); }));
  if (vols.size() != 1) return Status::Internal("one volume expected for " + Names(*ref));
  VS_RETURN_IF_ERROR(OwnVolume(p.caller(), vols[0], Names(*ref)));
  ref->id = vols[0].id;
  return Status::OK();
}

void Api::KeepVisible(const Caller& caller, std::vector<VolumeInfo>* vols) {
  vols->erase(std::remove_if(vols->begin(), vols->end(), [&](const VolumeInfo& v) { return !Sees(caller, v.tenant); }),
              vols->end());
}

Status Api::RefreshCredentials() {
  std::vector<Credential> rows;
  VS_RETURN_IF_ERROR(store_->ListCredentials(&rows));
  credentials_.Replace(store_->node_key(), rows);
  return Status::OK();
}

}  // namespace vastsky
