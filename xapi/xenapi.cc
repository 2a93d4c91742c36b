#include "xapi/xenapi.h"

#include <curl/curl.h>
#include <xmlrpc-c/xml.hpp>

#include <cerrno>
#include <memory>

namespace vastsky {

namespace {

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// One HTTP POST over the unix socket; the body of a 200 answer.
Status Post(const std::string& socket, const std::string& subtask, const std::string& body, std::string* answer) {
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return Status::Error(ENOMEM, "cannot start an HTTP client");
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: text/xml");
  if (!subtask.empty()) headers = curl_slist_append(headers, ("Subtask-of: " + subtask).c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> free_headers(headers, curl_slist_free_all);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
  curl_easy_setopt(c, CURLOPT_URL, "http://localhost/");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, answer);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  // xapi serves database calls in milliseconds; a minute means it is stuck,
  // and the driver must still answer xapi rather than hang the operation.
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK)
    return Status::Error(rc == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT : ECONNREFUSED,
                         "xapi at " + socket + ": " + curl_easy_strerror(rc));
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) return Status::Error(EPROTO, "xapi at " + socket + " answered HTTP " + std::to_string(code));
  return Status::OK();
}

}  // namespace

XenApi::XenApi(std::string socket_path, std::string session_ref, std::string subtask_of)
    : socket_(std::move(socket_path)), session_(std::move(session_ref)), subtask_(std::move(subtask_of)) {}

Status XenApi::Call(const std::string& method, const std::vector<xmlrpc_c::value>& params, xmlrpc_c::value* result,
                    std::vector<std::string>* failure) {
  xmlrpc_c::paramList list;
  list.add(xmlrpc_c::value_string(session_));
  for (const xmlrpc_c::value& p : params) list.add(p);
  std::string body, answer;
  try {
    xmlrpc_c::xml::generateCall(method, list, &body);
  } catch (const std::exception& e) {
    return Status::Internal("cannot encode " + method + ": " + e.what());
  }
  VS_RETURN_IF_ERROR(Post(socket_, subtask_, body, &answer));
  xmlrpc_c::rpcOutcome outcome;
  try {
    xmlrpc_c::xml::parseResponse(answer, &outcome);
  } catch (const std::exception& e) {
    return Status::Error(EPROTO, method + ": xapi's answer is not XML-RPC: " + e.what());
  }
  if (!outcome.succeeded())
    return Status::Error(EPROTO, method + ": xapi answered a fault: " + outcome.getFault().getDescription());
  const xmlrpc_c::value v = outcome.getResult();
  if (v.type() != xmlrpc_c::value::TYPE_STRUCT) return Status::Error(EPROTO, method + ": xapi's answer is not a struct");
  const std::map<std::string, xmlrpc_c::value> m = xmlrpc_c::value_struct(v);
  auto status = m.find("Status");
  if (status == m.end() || status->second.type() != xmlrpc_c::value::TYPE_STRING)
    return Status::Error(EPROTO, method + ": xapi's answer has no Status");
  if (xmlrpc_c::value_string(status->second).cvalue() == "Success") {
    auto value = m.find("Value");
    if (value == m.end()) return Status::Error(EPROTO, method + ": xapi's answer has no Value");
    if (result) *result = value->second;
    return Status::OK();
  }
  std::vector<std::string> description;
  auto desc = m.find("ErrorDescription");
  if (desc != m.end() && desc->second.type() == xmlrpc_c::value::TYPE_ARRAY)
    for (const xmlrpc_c::value& d : xmlrpc_c::value_array(desc->second).cvalue())
      if (d.type() == xmlrpc_c::value::TYPE_STRING) description.push_back(xmlrpc_c::value_string(d).cvalue());
  std::string words;
  for (const std::string& d : description) words += (words.empty() ? "" : " ") + d;
  if (failure) *failure = description;
  return Status::Error(EREMOTEIO, method + " failed: " + (words.empty() ? "(no description)" : words));
}

std::string XenApiCode(const std::vector<std::string>& failure) { return failure.empty() ? "" : failure[0]; }

}  // namespace vastsky
