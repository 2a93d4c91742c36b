// What the admin reads. Manager answers are converted to JSON once: --json
// prints that, and the table printers read it through the Json* accessors,
// which never throw (a missing or mistyped member reads as 0 or ""), so an
// answer the CLI did not expect still prints instead of aborting.
#pragma once

#include <xmlrpc-c/base.hpp>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace vastsky {
namespace cli {

using Json = nlohmann::json;

// struct -> object, array -> array, int/i8/bool/double/string as themselves,
// dateTime as its ISO-8601 text, base64 as its bytes in a string, nil -> null.
Json ToJson(const xmlrpc_c::value& v);
// Indented, on stdout; invalid UTF-8 from the manager is replaced, not fatal.
void PrintJson(const Json& j);

int64_t JsonInt(const Json& obj, const char* key);
double JsonDouble(const Json& obj, const char* key);
bool JsonBool(const Json& obj, const char* key);
// Any scalar as text; an array of scalars joined by ","; null or missing "".
std::string JsonText(const Json& obj, const char* key);
// The member if it is an array, else an empty array.
const Json& JsonArray(const Json& obj, const char* key);
// v if it is an array (a list answer), else an empty array.
const Json& AsArray(const Json& v);
// The member if it is an object, else an empty object.
const Json& JsonObject(const Json& obj, const char* key);

// A GiB count as the API carries it, shown like "1.50 TiB".
std::string FormatGiB(int64_t gib);
// Progress as people read it: "64.0 MiB/s" (0 or less: "-"), "1h02m" /
// "3m05s" / "42s" (negative: "unknown"), and "[#####-----]" `width` wide.
std::string FormatRate(double mib_per_s);
std::string FormatEta(int64_t seconds);
std::string ProgressBar(double percent, int width);

// Left-aligned columns two spaces apart, with a header row.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  void AddRow(std::vector<std::string> cells);
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] is the header
};

// "key   value" lines with the values aligned, for single-object views.
class KeyValues {
 public:
  void Add(const std::string& key, const std::string& value);
  void Print(std::ostream& out) const;

 private:
  std::vector<std::pair<std::string, std::string>> lines_;
};

}  // namespace cli
}  // namespace vastsky
