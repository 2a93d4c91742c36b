#include "cli/output.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "lib/units.h"

namespace vastsky {
namespace cli {

namespace {
// xmlrpc-c's parser may land a unit in the last place off the decimal
// sent (0.95 read as 0.9500000000000001): 15 significant digits, all a
// double holds exactly, give back the number the manager meant.
double Decimal(double d) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.15g", d);
  return strtod(buf, nullptr);
}
}  // namespace

Json ToJson(const xmlrpc_c::value& v) {
  switch (v.type()) {
    case xmlrpc_c::value::TYPE_INT: return static_cast<int>(xmlrpc_c::value_int(v));
    case xmlrpc_c::value::TYPE_I8: return static_cast<int64_t>(xmlrpc_c::value_i8(v));
    case xmlrpc_c::value::TYPE_BOOLEAN: return static_cast<bool>(xmlrpc_c::value_boolean(v));
    case xmlrpc_c::value::TYPE_DOUBLE: return Decimal(xmlrpc_c::value_double(v));
    case xmlrpc_c::value::TYPE_STRING: return static_cast<std::string>(xmlrpc_c::value_string(v));
    case xmlrpc_c::value::TYPE_DATETIME: return xmlrpc_c::value_datetime(v).iso8601Value();
    case xmlrpc_c::value::TYPE_BYTESTRING: {
      xmlrpc_c::cbytestring b = xmlrpc_c::value_bytestring(v).vectorUcharValue();
      return std::string(b.begin(), b.end());
    }
    case xmlrpc_c::value::TYPE_ARRAY: {
      Json out = Json::array();
      for (const xmlrpc_c::value& e : xmlrpc_c::value_array(v).vectorValueValue())
        out.push_back(ToJson(e));
      return out;
    }
    case xmlrpc_c::value::TYPE_STRUCT: {
      Json out = Json::object();
      for (const auto& m : static_cast<xmlrpc_c::cstruct>(xmlrpc_c::value_struct(v)))
        out[m.first] = ToJson(m.second);
      return out;
    }
    default: return nullptr;
  }
}

void PrintJson(const Json& j) {
  std::cout << j.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
}

namespace {
const Json* Member(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string ScalarText(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}
}  // namespace

int64_t JsonInt(const Json& obj, const char* key) {
  const Json* m = Member(obj, key);
  if (m == nullptr || !m->is_number()) return 0;
  return m->is_number_float() ? static_cast<int64_t>(m->get<double>()) : m->get<int64_t>();
}

double JsonDouble(const Json& obj, const char* key) {
  const Json* m = Member(obj, key);
  return m != nullptr && m->is_number() ? m->get<double>() : 0.0;
}

bool JsonBool(const Json& obj, const char* key) {
  const Json* m = Member(obj, key);
  if (m == nullptr) return false;
  if (m->is_boolean()) return m->get<bool>();
  return m->is_number() && m->get<double>() != 0;
}

std::string JsonText(const Json& obj, const char* key) {
  const Json* m = Member(obj, key);
  if (m == nullptr) return "";
  if (!m->is_array()) return ScalarText(*m);
  std::string out;
  for (const Json& e : *m) out += (out.empty() ? "" : ",") + ScalarText(e);
  return out;
}

const Json& AsArray(const Json& v) {
  static const Json kEmpty = Json::array();
  return v.is_array() ? v : kEmpty;
}

const Json& JsonArray(const Json& obj, const char* key) {
  static const Json kNull;
  const Json* m = Member(obj, key);
  return AsArray(m != nullptr ? *m : kNull);
}

const Json& JsonObject(const Json& obj, const char* key) {
  static const Json kEmpty = Json::object();
  const Json* m = Member(obj, key);
  return m != nullptr && m->is_object() ? *m : kEmpty;
}

std::string FormatGiB(int64_t gib) {
  if (gib < 0) return std::to_string(gib) + " GiB";
  return FormatBytes(static_cast<uint64_t>(gib) << 30);
}

std::string FormatRate(double mib_per_s) {
  if (!(mib_per_s > 0)) return "-";
  return FormatBytes(static_cast<uint64_t>(mib_per_s * (1 << 20))) + "/s";
}

std::string FormatEta(int64_t s) {
  if (s < 0) return "unknown";
  char out[32];
  if (s >= 3600) snprintf(out, sizeof out, "%lldh%02lldm", static_cast<long long>(s / 3600), static_cast<long long>(s / 60 % 60));
  else if (s >= 60) snprintf(out, sizeof out, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else snprintf(out, sizeof out, "%llds", static_cast<long long>(s));
  return out;
}

std::string ProgressBar(double percent, int width) {
  const double p = percent < 0 ? 0 : percent > 100 ? 100 : percent;
  const int full = static_cast<int>(p * width / 100 + 0.5);
  return "[" + std::string(full, '#') + std::string(width - full, '-') + "]";
}

Table::Table(std::vector<std::string> headers) { rows_.push_back(std::move(headers)); }

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(rows_[0].size());
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> width(rows_[0].size(), 0);
  for (const auto& row : rows_)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  for (const auto& row : rows_) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

void KeyValues::Add(const std::string& key, const std::string& value) {
  lines_.emplace_back(key, value);
}

void KeyValues::Print(std::ostream& out) const {
  size_t width = 0;
  for (const auto& l : lines_) width = std::max(width, l.first.size());
  for (const auto& l : lines_)
    out << l.first << std::string(width - l.first.size() + 2, ' ') << l.second << "\n";
}

}  // namespace cli
}  // namespace vastsky
