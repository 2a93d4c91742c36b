#include "lib/rpc_service.h"

#include <xmlrpc-c/xml.hpp>

#include <chrono>

#include "lib/log.h"

namespace vastsky {

namespace {

// How the caller reaches the method through xmlrpc-c's processCall.
struct CallerInfo : public xmlrpc_c::callInfo {
  explicit CallerInfo(const Caller& c) : caller(c) {}
  const Caller& caller;
};

Status DefaultGate(const std::string& method, const Caller& caller) {
  if (caller.role == Role::kAdmin || caller.role == Role::kManager) return Status::OK();
  return Status::Error(EACCES, std::string(RoleName(caller.role)) + " callers may not call " + method);
}

// Adapts a Handler to xmlrpc-c: the gate, the 3.0 envelope, the lock
// (unless mu is null), Status -> fault (faultCode errno, faultString its
// symbolic name), and the observer told of the outcome.
class Method : public xmlrpc_c::method2 {
 public:
  Method(std::string name, std::mutex* mu, const RpcService::CallObserver* observer, const RpcService::Gate* gate,
         RpcService::Handler fn)
      : name_(std::move(name)), mu_(mu), observer_(observer), gate_(gate), fn_(std::move(fn)) {}

  void execute(const xmlrpc_c::paramList& list, const xmlrpc_c::callInfo* info, xmlrpc_c::value* result) override {
    const auto start = std::chrono::steady_clock::now();
    const CallerInfo* who = dynamic_cast<const CallerInfo*>(info);
    // No caller means a path that bypassed Handle: nobody.
    const Status st = who ? Run(list, who->caller, result) : Status::Error(EACCES, "no caller");
    if (*observer_)
      (*observer_)(name_, st.code(), std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (st.ok()) return;
    if (st.code() == Status::kInternal) VS_LOG_ERROR("%s failed: %s", name_.c_str(), st.message().c_str());
    else if (st.code() == EACCES && who)
      VS_LOG_WARN("%s refused to %s (%s): %s", name_.c_str(), who->caller.user.c_str(), RoleName(who->caller.role),
                  st.message().c_str());
    else VS_LOG_INFO("%s refused: %s", name_.c_str(), st.ToString().c_str());
    throw xmlrpc_c::fault(ErrnoName(st.code()), static_cast<xmlrpc_c::fault::code_t>(st.code()));
  }

 private:
  Status Run(const xmlrpc_c::paramList& list, const Caller& caller, xmlrpc_c::value* result) {
    Status st = *gate_ ? (*gate_)(name_, caller) : DefaultGate(name_, caller);
    Params params;
    if (st.ok()) st = Params::From(list, caller, &params);
    if (st.ok() && mu_) {
      std::lock_guard<std::mutex> lock(*mu_);
      st = fn_(params, result);
    } else if (st.ok()) {
      st = fn_(params, result);
    }
    return st;
  }

  std::string name_;
  std::mutex* mu_;
  const RpcService::CallObserver* observer_;
  const RpcService::Gate* gate_;
  RpcService::Handler fn_;
};

std::string FaultResponse(const std::string& text, int code) {
  std::string response;
  xmlrpc_c::rpcOutcome outcome(xmlrpc_c::fault(text, static_cast<xmlrpc_c::fault::code_t>(code)));
  xmlrpc_c::xml::generateResponse(outcome, &response);
  return response;
}

}  // namespace

void RpcService::Add(const std::string& name, Handler fn) {
  names_.push_back(name);
  registry_.addMethod(name, xmlrpc_c::methodPtr(new Method(name, &mu_, &observer_, &gate_, std::move(fn))));
}

void RpcService::AddUnlocked(const std::string& name, Handler fn) {
  names_.push_back(name);
  registry_.addMethod(name, xmlrpc_c::methodPtr(new Method(name, nullptr, &observer_, &gate_, std::move(fn))));
}

std::string RpcService::Handle(const Caller& caller, const std::string& body) {
  // XML-RPC has no use for a DTD, and xmlrpc-c's parser expands entities
  // without bound ("billion laughs"): refuse any before parsing.
  if (body.find("<!DOCTYPE") != std::string::npos || body.find("<!ENTITY") != std::string::npos) {
    VS_LOG_WARN("refused a request carrying a DTD or entity declarations");
    return FaultResponse("DTDs are not accepted", xmlrpc_c::fault::CODE_PARSE);
  }
  std::string response;
  try {
    const CallerInfo info(caller);
    registry_.processCall(body, &info, &response);
  } catch (const std::exception& e) {
    // processCall reports bad XML as a fault response; anything thrown is
    // unexpected, but must not take the daemon down.
    VS_LOG_ERROR("XML-RPC processing failed: %s", e.what());
    return FaultResponse("Internal Server Error", Status::kInternal);
  }
  return response;
}

}  // namespace vastsky
