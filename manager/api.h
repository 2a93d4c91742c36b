// The manager's XML-RPC API: every 3.0 method plus the new ones (see
// manager/API.md), registered on an xmlrpc-c registry and served from the
// Store. Calls are serialised: each is one Store transaction. Those that
// wait on agents are the exception (attach, detach, grow: manager/
// attacher.h; snapshots and clones: manager/copier.h; changed blocks:
// manager/changed_blocks.h): they take the lock only around their
// transactions.
#pragma once

#include <string>

#include "lib/rpc_service.h"
#include "manager/attacher.h"
#include "manager/copier.h"
#include "manager/metrics.h"
#include "manager/pool_repair.h"
#include "manager/rebuild_report.h"
#include "manager/recovery.h"
#include "manager/store.h"

namespace vastsky {

class Api {
 public:
  // agents: how to call the agents (credentials, CA, timeout); recovery:
  // the failure and rebuild loop's settings (started by StartRecovery).
  Api(Store* store, AgentOptions agents, RecoveryOptions recovery);
  void StartRecovery() { recovery_.Start(); }
  void StopRecovery() { recovery_.Stop(); }
  // One HTTP body in, one XML-RPC response out; never throws. A body that is
  // not XML-RPC gets a fault response.
  std::string Handle(const Caller& caller, const std::string& body);
  // Whether user and password are a server's credential (manager/API.md,
  // "Enrollment"); *who: the caller it makes. For HttpOptions::authenticate:
  // thread-safe, never takes the API lock.
  bool Authenticate(const std::string& user, const std::string& password, Caller* who) const {
    return credentials_.Authenticate(user, password, who);
  }
  // The names of every method served.
  const std::vector<std::string>& Methods() const { return service_.Methods(); }
  // Counts every call and every committed event into metrics, which must
  // outlive the Api. Call before serving.
  void CountInto(Metrics* metrics);
  // What a /metrics scrape shows of the state: one read of the Store under
  // the API lock, and the agents' silence. Thread-safe.
  Status ReadScrape(ScrapeInput* out);

 private:
  // ReadScrape's part under the lock: the Store's gauges, the rebuilds and
  // the health verdict.
  Status ReadScrapeLocked(ScrapeInput* out);
  // The rebuild queue with each running rebuild's progress (under the
  // store's lock, as every method's body).
  Status RebuildRows(std::vector<RebuildRow>* out);
  // The health verdict of getClusterStatus and /metrics (under the lock).
  Status HealthNow(const RebuildTotals& rebuilds, Health* out);
  // Loads the credentials into credentials_ (under the lock, after every
  // change to them).
  Status RefreshCredentials();
  // The volume p names under prefix ("lvol": lvolid or lvolname), as the
  // caller may touch it. A tenant's is checked to be its own (ENOENT
  // otherwise) and pinned to its id, so that a volume made meanwhile under
  // the same name is never the one acted on. Takes the lock for a tenant:
  // for the methods that run without it (AddUnlocked) only.
  Status CallerVolume(const Params& p, const std::string& prefix, VolumeRef* ref);
  // The tenant methods' answers, what the caller sees of them.
  void KeepVisible(const Caller& caller, std::vector<VolumeInfo>* vols);

  Store* store_;
  RpcService service_;
  RpcAgentClients agents_;
  Attacher attacher_;
  Copier copier_;
  Recovery recovery_;
  PoolRepairs repairs_;
  CredentialCache credentials_;
};

}  // namespace vastsky
