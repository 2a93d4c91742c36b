// The server half of VastSky's XML-RPC: named methods on an xmlrpc-c
// registry, each taking the 3.0 envelope (one struct carrying `ver`, read
// through Params) and answering a Status as an errno fault (faultCode the
// errno, faultString its symbolic name). The manager and the agents serve
// their methods through it. Calls are serialised on one mutex, except
// those of handlers added with AddUnlocked, which take it themselves around
// the sections that need it (Locked).
// Every call carries its Caller (who the HTTP layer says is calling): the
// gate decides, before the call's parameters are read, whether that caller
// may call that method at all (EACCES otherwise); handlers see the caller
// in Params::caller() for the checks that depend on what is touched.
#pragma once

#include <xmlrpc-c/registry.hpp>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "lib/api_params.h"
#include "lib/caller.h"
#include "lib/status.h"

namespace vastsky {

class RpcService {
 public:
  using Handler = std::function<Status(const Params&, xmlrpc_c::value*)>;

  // Told of every call to a registered method once it ends: its name, the
  // errno of its fault (0: none) and how long it took, waiting for the lock
  // included. Called on the calling thread, so it must be thread-safe. Set
  // it before the first Handle().
  using CallObserver = std::function<void(const std::string& method, int code, double seconds)>;
  void ObserveCalls(CallObserver observer) { observer_ = std::move(observer); }
  // Whether caller may call method; without a gate only kAdmin and kManager
  // callers may call anything. Set it before the first Handle().
  using Gate = std::function<Status(const std::string& method, const Caller& caller)>;
  void SetGate(Gate gate) { gate_ = std::move(gate); }
  // Register every method before the first Handle().
  void Add(const std::string& name, Handler fn);
  // Like Add, but fn runs without the lock, alongside other calls: for a
  // handler that waits on other machines (the manager calling agents) and
  // must not stall every other call meanwhile. It wraps whatever touches
  // state the serialised handlers share in Locked().
  void AddUnlocked(const std::string& name, Handler fn);
  // Runs f() holding the lock the serialised handlers run under; returns
  // what f returns. Never call it from a serialised handler (self-deadlock).
  template <typename F>
  auto Locked(F f) -> decltype(f()) {
    std::lock_guard<std::mutex> lock(mu_);
    return f();
  }
  // One HTTP body in, one XML-RPC response out; never throws. A body that is
  // not XML-RPC (or carries a DTD) gets a fault response.
  std::string Handle(const Caller& caller, const std::string& body);
  // Every registered method's name, in the order added.
  const std::vector<std::string>& Methods() const { return names_; }

 private:
  std::vector<std::string> names_;
  std::mutex mu_;
  CallObserver observer_;
  Gate gate_;
  xmlrpc_c::registry registry_;
};

}  // namespace vastsky
