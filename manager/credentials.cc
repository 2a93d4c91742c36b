#include "manager/credentials.h"

#include <gnutls/crypto.h>

#include <cerrno>

#include "lib/secret.h"

namespace vastsky {

Status CredentialSecret(const std::string& node_key, const std::string& user, int64_t generation,
                        std::string* secret) {
  const std::string text = user + ":" + std::to_string(generation);
  unsigned char mac[32];
  if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, node_key.data(), node_key.size(), text.data(), text.size(), mac) != 0)
    return Status::Error(EIO, "cannot compute the secret of " + user + " (GnuTLS HMAC-SHA256 failed)");
  secret->clear();
  for (int i = 0; i < 16; ++i) {  // 128 bits are plenty for a secret no one types
    secret->push_back(kHexDigits[mac[i] >> 4]);
    secret->push_back(kHexDigits[mac[i] & 15]);
  }
  return Status::OK();
}

Status CheckTenantName(const std::string& name) {
  if (name.empty() || name.size() > 48 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos)
    return Status::Error(EINVAL, "a tenant's name is 1 to 48 letters, digits, '.', '_' or '-'");
  return Status::OK();
}

void CredentialCache::Replace(const std::string& node_key, const std::vector<Credential>& rows) {
  std::map<std::string, Credential> by_user;
  std::map<std::string, std::string> user_by_url;
  for (const Credential& c : rows) {
    by_user[c.user] = c;
    if (c.in_use && !c.agent_url.empty()) user_by_url[c.agent_url] = c.user;
  }
  std::lock_guard<std::mutex> lock(mu_);
  node_key_ = node_key;
  by_user_.swap(by_user);
  user_by_url_.swap(user_by_url);
}

bool CredentialCache::Current(const std::string& user, Credential* c, std::string* secret) const {
  std::string key;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_user_.find(user);
    if (it == by_user_.end()) return false;
    *c = it->second;
    key = node_key_;
  }
  return CredentialSecret(key, c->user, c->generation, secret).ok();
}

bool CredentialCache::AgentCredential(const std::string& url, std::string* user, std::string* password) const {
  std::string in_use;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = user_by_url_.find(url);
    if (it == user_by_url_.end()) return false;
    in_use = it->second;
  }
  Credential c;
  if (!Current(in_use, &c, password)) return false;
  *user = "manager";
  return true;
}

bool CredentialCache::Authenticate(const std::string& user, const std::string& password, Caller* who) const {
  Credential c;
  std::string secret;
  if (!Current(user, &c, &secret) || !SameSecret(password, secret)) return false;
  *who = Caller{c.role, c.server_id, c.tenant, c.user};
  return true;
}

}  // namespace vastsky
