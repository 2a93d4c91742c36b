// Store: per-server and tenant credentials (manager/credentials.h). Every change is
// one transaction with its event; no event or log line carries a secret.
#include <cerrno>
#include <map>

#include "lib/ids.h"
#include "lib/secret.h"
#include "manager/access.h"
#include "manager/store.h"

namespace vastsky {

namespace {

const char* RoleOf(const std::string& kind) { return kind == "ssvr" ? "storage" : "head"; }

Status FindServerCredential(Db& db, const std::string& kind, int64_t server_id, std::string* user) {
  Stmt q(db, "SELECT user FROM credential WHERE role = ?1 AND server_id = ?2");
  q.Bind(1, std::string(RoleOf(kind))).Bind(2, server_id);
  user->clear();
  if (q.Step()) *user = q.Text(0);
  return q.status();
}

Status ServerExists(Db& db, const std::string& kind, int64_t id) {
  Stmt q(db, (kind == "ssvr" ? "SELECT 1 FROM ssvr WHERE id = ?1" : "SELECT 1 FROM hsvr WHERE id = ?1"));
  q.Bind(1, id);
  if (q.Step()) return Status::OK();
  VS_RETURN_IF_ERROR(q.status());
  return Status::Error(ENOENT, "no server " + FormatId(kind.c_str(), id));
}

// A credential row with its server's agent url; a WHERE or ORDER BY follows.
const char kSelectCredentials[] =
    "SELECT c.user, c.role, c.server_id, c.generation, c.ctime, c.in_use, COALESCE(s.url, h.url, ''), c.tenant "
    "FROM credential c LEFT JOIN ssvr s ON c.role = 'storage' AND s.id = c.server_id "
    "LEFT JOIN hsvr h ON c.role = 'head' AND h.id = c.server_id ";

Credential CredentialRow(const Stmt& q) {
  Credential c;
  c.user = q.Text(0);
  const std::string role = q.Text(1);
  c.role = role == "storage" ? Role::kStorage : role == "head" ? Role::kHead : Role::kTenant;
  c.server_id = q.Int(2);
  c.generation = q.Int(3);
  c.ctime = q.Text(4);
  c.in_use = q.Int(5) != 0;
  c.agent_url = q.Text(6);
  c.tenant = q.Text(7);
  return c;
}

// Fills the heads of the tenants among rows.
Status LoadTenantHeads(Db& db, std::vector<Credential>* rows) {
  std::map<std::string, Credential*> tenants;
  for (Credential& c : *rows)
    if (c.role == Role::kTenant) tenants[c.tenant] = &c;
  if (tenants.empty()) return Status::OK();
  Stmt q(db, "SELECT tenant, hsvr_id FROM tenant_head ORDER BY tenant, hsvr_id");
  while (q.Step()) {
    auto it = tenants.find(q.Text(0));
    if (it != tenants.end()) it->second->heads.push_back(q.Int(1));
  }
  return q.status();
}

const char* TargetOf(Role role) { return role == Role::kStorage ? "ssvr" : role == Role::kHead ? "hsvr" : "tenant"; }

Status LoadCredential(Db& db, const std::string& user, Credential* out) {
  Stmt q(db, (std::string(kSelectCredentials) + "WHERE c.user = ?1").c_str());
  q.Bind(1, user);
  if (!q.Step()) return q.status().ok() ? Status::Error(ENOENT, "no credential " + user) : q.status();
  std::vector<Credential> rows{CredentialRow(q)};
  VS_RETURN_IF_ERROR(LoadTenantHeads(db, &rows));
  *out = rows[0];
  return Status::OK();
}

// Replaces a tenant's heads; ENOENT naming a head that does not exist.
Status SetHeads(Db& db, const std::string& tenant, const std::vector<int64_t>& heads) {
  Stmt del(db, "DELETE FROM tenant_head WHERE tenant = ?1");
  VS_RETURN_IF_ERROR(del.Bind(1, tenant).Run());
  Stmt exists(db, "SELECT 1 FROM hsvr WHERE id = ?1");
  Stmt ins(db, "INSERT OR IGNORE INTO tenant_head(tenant, hsvr_id) VALUES (?1, ?2)");
  for (int64_t h : heads) {
    exists.Bind(1, h);
    const bool found = exists.Step();
    VS_RETURN_IF_ERROR(exists.status());
    exists.Reset();
    if (!found) return Status::Error(ENOENT, "no head server " + FormatId("hsvr", h));
    VS_RETURN_IF_ERROR(ins.Bind(1, tenant).Bind(2, h).Run());
  }
  return Status::OK();
}

std::string HeadList(const std::vector<int64_t>& heads) {
  std::string out;
  for (int64_t h : heads) out += (out.empty() ? "" : ", ") + FormatId("hsvr", h);
  return out.empty() ? "no head" : out;
}

}  // namespace

Status Store::EnrollTenant(const std::string& tenant, const std::vector<int64_t>* heads, Credential* out) {
  VS_RETURN_IF_ERROR(CheckTenantName(tenant));
  const std::string user = "tenant-" + tenant;
  return Mutate([&](Change*) {
    Stmt up(db_, "UPDATE credential SET generation = generation + 1 WHERE user = ?1");
    VS_RETURN_IF_ERROR(up.Bind(1, user).Run());
    const bool again = db_.changes() > 0;
    if (!again) {
      Stmt ins(db_, "INSERT INTO credential(user, role, tenant, ctime) VALUES (?1, 'tenant', ?2, ?3)");
      VS_RETURN_IF_ERROR(ins.Bind(1, user).Bind(2, tenant).Bind(3, NowIso8601()).Run());
    }
    if (heads) VS_RETURN_IF_ERROR(SetHeads(db_, tenant, *heads));
    VS_RETURN_IF_ERROR(LoadCredential(db_, user, out));
    return AddEvent("info", "credential", "tenant", 0,
                    "credential " + user + (again ? " issued again (generation " + std::to_string(out->generation) +
                                                        "): the old secret is void"
                                                  : " issued") +
                        "; it may attach to " + HeadList(out->heads));
  });
}

Status Store::SetTenantHeads(const std::string& tenant, const std::vector<int64_t>& heads) {
  VS_RETURN_IF_ERROR(CheckTenantName(tenant));
  return Mutate([&](Change*) {
    Credential c;
    VS_RETURN_IF_ERROR(LoadCredential(db_, "tenant-" + tenant, &c));
    VS_RETURN_IF_ERROR(SetHeads(db_, tenant, heads));
    return AddEvent("info", "credential", "tenant", 0, "tenant " + tenant + " may attach to " + HeadList(heads));
  });
}

Status Store::TenantHeads(const std::string& tenant, std::vector<int64_t>* heads) {
  Credential c;
  VS_RETURN_IF_ERROR(LoadCredential(db_, "tenant-" + tenant, &c));
  *heads = c.heads;
  return Status::OK();
}

Status Store::EnrollServer(const std::string& kind, int64_t server_id, Credential* out) {
  if (kind != "ssvr" && kind != "hsvr") return Status::Error(EINVAL, "kind must be ssvr or hsvr");
  return Mutate([&](Change*) {
    std::string user;
    if (server_id != 0) {
      VS_RETURN_IF_ERROR(ServerExists(db_, kind, server_id));
      VS_RETURN_IF_ERROR(FindServerCredential(db_, kind, server_id, &user));
    }
    if (!user.empty()) {
      Stmt up(db_, "UPDATE credential SET generation = generation + 1, in_use = 0 WHERE user = ?1");
      VS_RETURN_IF_ERROR(up.Bind(1, user).Run());
    } else {
      std::string tag;
      if (server_id == 0) VS_RETURN_IF_ERROR(RandomString(8, kHexDigits, &tag));
      user = server_id != 0 ? FormatId(kind.c_str(), server_id) : kind + "-new-" + tag;
      Stmt ins(db_, "INSERT INTO credential(user, role, server_id, ctime) VALUES (?1, ?2, ?3, ?4)");
      VS_RETURN_IF_ERROR(ins.Bind(1, user).Bind(2, std::string(RoleOf(kind))).Bind(3, server_id).Bind(4, NowIso8601()).Run());
    }
    VS_RETURN_IF_ERROR(LoadCredential(db_, user, out));
    return AddEvent("info", "credential", kind, server_id,
                    "credential " + user + " issued (generation " + std::to_string(out->generation) + ")" +
                        (server_id == 0 ? ": bound to the server it first registers" : ""));
  });
}

Status Store::RevokeCredential(const std::string& user) {
  return Mutate([&](Change*) {
    Credential c;
    VS_RETURN_IF_ERROR(LoadCredential(db_, user, &c));
    Stmt up(db_, "UPDATE credential SET generation = generation + 1, in_use = 0 WHERE user = ?1");
    VS_RETURN_IF_ERROR(up.Bind(1, user).Run());
    return AddEvent("warning", "credential", TargetOf(c.role), c.server_id,
                    "credential " + user + " revoked: " +
                        (c.role == Role::kTenant ? "enroll the tenant again for a new secret"
                                                 : "its server must be enrolled again"));
  });
}

Status Store::ListCredentials(std::vector<Credential>* out) {
  out->clear();
  Stmt q(db_, (std::string(kSelectCredentials) + "ORDER BY c.user").c_str());
  while (q.Step()) out->push_back(CredentialRow(q));
  VS_RETURN_IF_ERROR(q.status());
  return LoadTenantHeads(db_, out);
}

Status Store::BindCredential(const char* kind, const Caller* caller, int64_t id, bool created) {
  if (!caller || caller->role == Role::kAdmin) return Status::OK();
  const Role want = std::string(kind) == "ssvr" ? Role::kStorage : Role::kHead;
  if (caller->role != want || caller->id != 0) {
    VS_RETURN_IF_ERROR(OwnServer(*caller, want, id));
    Stmt used(db_, "UPDATE credential SET in_use = 1 WHERE user = ?1");
    return used.Bind(1, caller->user).Run();
  }
  if (!created)
    return Status::Error(EACCES, caller->user + " is not bound to a server yet and may only register a new one; "
                                 "these addresses are " + FormatId(kind, id) + "'s: enroll that server instead");
  Stmt up(db_, "UPDATE credential SET server_id = ?2, in_use = 1 WHERE user = ?1 AND server_id = 0");
  VS_RETURN_IF_ERROR(up.Bind(1, caller->user).Bind(2, id).Run());
  return AddEvent("info", "credential", kind, id, "credential " + caller->user + " bound to " + FormatId(kind, id));
}

}  // namespace vastsky
