// The head agent's registration with the manager: its data addresses, its
// initiator IQN (the name storage agents' ACLs will carry) and the URL the
// manager calls it on, with reconnect so a restart keeps its id. The id goes
// to id_file too: the XCP driver on this host (sm_plugin/) reads it to know
// which head server it attaches volumes to.
// agents/common/heartbeat.h drives Register() and Beat(), on the heartbeat
// thread only (not thread-safe; the link is that thread's own); id() is
// for any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "lib/manager_link.h"

namespace vastsky {

class HeadRegistration {
 public:
  HeadRegistration(std::vector<std::string> data_ips, std::string initiator, std::string url, std::string id_file,
                   ManagerLink* link)
      : data_ips_(std::move(data_ips)),
        initiator_(std::move(initiator)),
        url_(std::move(url)),
        id_file_(std::move(id_file)),
        link_(link) {}

  Status Register();
  // dead_legs: the chunks whose legs dm raid holds dead here (Assembly::Watch).
  Status Beat(const std::vector<int64_t>& dead_legs);
  // The id the manager gave this head; 0 before the first registration.
  int64_t id() const { return hsvr_id_.load(); }

 private:
  const std::vector<std::string> data_ips_;
  const std::string initiator_, url_, id_file_;
  ManagerLink* link_;
  std::atomic<int64_t> hsvr_id_{0};
};

}  // namespace vastsky
