#include "agents/host/thin_pool.h"

#include <fcntl.h>
#include <libxml/xmlreader.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>

#include "agents/host/direct_io.h"
#include "agents/host/disk_size.h"
#include "lib/ids.h"
#include "lib/ini.h"
#include "lib/log.h"
#include "lib/state_file.h"
#include "lib/subprocess.h"

namespace vastsky {

namespace {

constexpr uint64_t kMib = 1 << 20;
constexpr uint64_t kSectorsPerMib = kMib / 512;
constexpr size_t kLabelBytes = 4096;
constexpr uint32_t kDmRaidMagic = 0x64526D44;  // "DmRd": dm-raid's superblock, the slice layout's sector 0
constexpr uint64_t kMetaBytesPerBlock = 48;
constexpr uint64_t kMinMetaMib = 16;
constexpr uint64_t kMaxMetaMib = 16320;  // dm-thin uses no more (DM_THIN_METADATA_MAX_SECTORS)
constexpr uint64_t kMetaBlockKib = 4;    // dm-thin's metadata block
constexpr const char* kSection = "vastsky-pool";

std::string Hex8(int64_t id) {
  char buf[16];
  snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(id));
  return buf;
}

bool AllZero(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

bool PowerOfTwo(uint64_t v) { return v && !(v & (v - 1)); }

Status LabelNumber(const IniFile& ini, const char* key, const std::string& device, uint64_t* out) {
  const std::string v = ini.Get(kSection, key);
  char* end = nullptr;
  errno = 0;
  *out = strtoull(v.c_str(), &end, 10);
  if (v.empty() || *end || errno || v[0] == '-')
    return Status::Error(EPROTO, "label of " + device + ": '" + key + "' is not a number ('" + v + "')");
  return Status::OK();
}

Status ParseLabel(const std::string& text, const std::string& device, uint64_t disk_sectors, PoolLabel* out) {
  IniFile ini;
  Status st = ini.Parse(text, "label of " + device);
  if (!st.ok()) return Status::Error(EPROTO, st.message());
  const std::string format = ini.Get(kSection, "format");
  if (format != std::to_string(kPoolLabelFormat))
    return Status::Error(EPROTO, "label of " + device + " has format '" + format + "', this VastSky knows " +
                                     std::to_string(kPoolLabelFormat) + ": run the release that wrote it");
  PoolLabel l;
  uint64_t pdsk = 0;
  VS_RETURN_IF_ERROR(LabelNumber(ini, "pdsk", device, &pdsk));
  VS_RETURN_IF_ERROR(LabelNumber(ini, "block_sectors", device, &l.block_sectors));
  VS_RETURN_IF_ERROR(LabelNumber(ini, "meta_offset_mib", device, &l.meta_offset_mib));
  VS_RETURN_IF_ERROR(LabelNumber(ini, "meta_mib", device, &l.meta_mib));
  VS_RETURN_IF_ERROR(LabelNumber(ini, "data_offset_mib", device, &l.data_offset_mib));
  VS_RETURN_IF_ERROR(LabelNumber(ini, "data_mib", device, &l.data_mib));
  l.pdsk_id = static_cast<int64_t>(pdsk);
  l.cluster = ini.Get(kSection, "cluster");
  const uint64_t disk_mib = disk_sectors / kSectorsPerMib;
  if (l.cluster.empty() || pdsk == 0 || pdsk > 0x7fffffff || !PowerOfTwo(l.block_sectors) || l.block_sectors < 128 ||
      l.meta_offset_mib < 1 || l.meta_mib == 0 || l.data_mib == 0 ||
      l.data_offset_mib < l.meta_offset_mib + l.meta_mib || l.data_offset_mib + l.data_mib > disk_mib ||
      (l.data_mib * kSectorsPerMib) % l.block_sectors != 0)
    return Status::Error(EPROTO, "label of " + device + " does not describe a pool on this disk (" +
                                     std::to_string(disk_mib) + " MiB): wrong disk or damaged label");
  *out = l;
  return Status::OK();
}

DmTarget Linear(const std::string& device, uint64_t offset_mib, uint64_t mib) {
  return {0, mib * kSectorsPerMib, "linear", device + " " + std::to_string(offset_mib * kSectorsPerMib)};
}

// A tool's output for a log line: one line, bounded.
std::string OneLine(const std::string& output) {
  std::string out = output.substr(0, 400);
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

using Ranges = std::vector<std::pair<int64_t, int64_t>>;

// A list of block ranges as thin_dump gives them: in order, mostly.
struct RangeList {
  Ranges r;
  bool sorted = true;

  void Add(int64_t begin, int64_t count) {
    if (!r.empty() && begin < r.back().first + r.back().second) sorted = false;
    if (!r.empty() && begin == r.back().first + r.back().second)
      r.back().second += count;
    else
      r.push_back({begin, count});
  }
  // Ascending, overlapping or adjacent ranges merged.
  void Normalize() {
    if (sorted) return;
    std::sort(r.begin(), r.end());
    Ranges merged;
    for (const auto& x : r) {
      if (!merged.empty() && x.first <= merged.back().first + merged.back().second)
        merged.back().second = std::max(merged.back().second, x.first + x.second - merged.back().first);
      else
        merged.push_back(x);
    }
    r.swap(merged);
    sorted = true;
  }
};

// A tool's XML report streamed with libxml2's reader: <superblock> (its
// data_block_size kept), Outer's elements in it, Inner's in those;
// comments and blanks pass; anything else is EPROTO.
class XmlReport {
 public:
  explicit XmlReport(const char* tool) : tool_(tool) {}
  virtual ~XmlReport() = default;

 protected:
  Status ParseFile(const std::string& path) {
    static std::once_flag init;
    std::call_once(init, [] { xmlInitParser(); });
    xmlTextReaderPtr reader = xmlReaderForFile(path.c_str(), nullptr, XML_PARSE_NONET);
    if (!reader) return Status::Error(EPROTO, std::string("cannot read ") + tool_ + "'s output " + path);
    reader_ = reader;
    xmlTextReaderSetErrorHandler(reader, &XmlReport::OnError, this);
    Status st;
    int rc = 0;
    while (st.ok() && (rc = xmlTextReaderRead(reader)) == 1) st = Node();
    xmlFreeTextReader(reader);
    reader_ = nullptr;
    VS_RETURN_IF_ERROR(st);
    if (rc != 0 || !error_.empty()) return Bad("not XML: " + error_);
    return Status::OK();
  }

  virtual Status Outer(const std::string& name) = 0;
  virtual Status Inner(const std::string& name) = 0;

  Status Bad(const std::string& what) const {
    return Status::Error(EPROTO, std::string(tool_) + "'s output: " + what);
  }

  std::string Attr(const char* name) {
    xmlChar* v = xmlTextReaderGetAttribute(reader_, BAD_CAST name);
    std::string s = v ? reinterpret_cast<const char*>(v) : "";
    xmlFree(v);
    return s;
  }

  // A decimal below 10^18, so that begin + count cannot wrap.
  Status Number(const char* name, int64_t* out) {
    const std::string v = Attr(name);
    if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos)
      return Bad(std::string(name) + "=\"" + v + "\" is not a block number");
    *out = std::stoll(v);
    return Status::OK();
  }

  uint64_t block_sectors_ = 0;  // the superblock's data_block_size; 0 before

 private:
  Status Superblock(const std::string& name) {
    if (name != "superblock") return Bad("<" + name + "> instead of <superblock>");
    int64_t block = 0;
    VS_RETURN_IF_ERROR(Number("data_block_size", &block));
    if (block == 0) return Bad("data_block_size 0");
    block_sectors_ = static_cast<uint64_t>(block);
    return Status::OK();
  }

  Status Element(const std::string& name, int depth) {
    switch (depth) {
      case 0: return Superblock(name);
      case 1: return Outer(name);
      case 2: return Inner(name);
      default: return Bad("<" + name + "> nested too deep");
    }
  }

  static void OnError(void* arg, const char* msg, xmlParserSeverities severity, xmlTextReaderLocatorPtr) {
    auto* self = static_cast<XmlReport*>(arg);
    if ((severity == XML_PARSER_SEVERITY_ERROR || severity == XML_PARSER_SEVERITY_VALIDITY_ERROR) &&
        self->error_.empty())
      self->error_ = OneLine(msg ? msg : "error");
  }

  Status Node() {
    const int type = xmlTextReaderNodeType(reader_);
    if (type == XML_READER_TYPE_END_ELEMENT || type == XML_READER_TYPE_WHITESPACE ||
        type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE || type == XML_READER_TYPE_COMMENT)
      return Status::OK();
    if (type != XML_READER_TYPE_ELEMENT) return Bad("unexpected node of type " + std::to_string(type));
    const xmlChar* raw = xmlTextReaderConstLocalName(reader_);
    return Element(raw ? reinterpret_cast<const char*>(raw) : "", xmlTextReaderDepth(reader_));
  }

  const char* const tool_;
  xmlTextReaderPtr reader_ = nullptr;
  std::string error_;
};

// Adds [begin, count) to list; E2BIG once it holds more than max ranges
// ("<what> in more than <max> ranges").
Status AddBounded(RangeList* list, int64_t begin, int64_t count, size_t max, const std::string& what) {
  list->Add(begin, count);
  if (list->r.size() <= max) return Status::OK();
  list->Normalize();
  if (list->r.size() <= max) return Status::OK();
  return Status::Error(E2BIG, what + " in more than " + std::to_string(max) + " ranges");
}

// Streams thin_dump's XML (superblock > def* device*; def and device >
// range_mapping | single_mapping | ref), keeping only what thin_id's device
// maps and the shared subtrees it may ref.
class DumpParser : public XmlReport {
 public:
  DumpParser(int64_t thin_id, size_t max_ranges) : XmlReport("thin_dump"), thin_id_(thin_id), max_ranges_(max_ranges) {}

  Status Parse(const std::string& path, ThinMap* out) {
    VS_RETURN_IF_ERROR(ParseFile(path));
    return Finish(out);
  }

 private:
  // <def name> or <device dev_id mapped_blocks>: where the mappings below go.
  Status Outer(const std::string& name) override {
    if (name == "def") {
      const std::string def = Attr("name");
      if (def.empty() || defs_.count(def)) return Bad("<def> without a name, or twice: '" + def + "'");
      into_ = &defs_[def];
      return Status::OK();
    }
    if (name != "device") return Bad("<" + name + "> in <superblock>");
    int64_t id = 0;
    VS_RETURN_IF_ERROR(Number("dev_id", &id));
    into_ = nullptr;
    if (id != thin_id_) return Status::OK();
    if (found_) return Bad("device " + std::to_string(id) + " twice");
    found_ = true;
    into_ = &mapped_;
    return Number("mapped_blocks", &mapped_blocks_);
  }

  Status Inner(const std::string& name) override {
    int64_t begin = 0, count = 1;
    if (name == "range_mapping") {
      VS_RETURN_IF_ERROR(Number("origin_begin", &begin));
      VS_RETURN_IF_ERROR(Number("length", &count));
      if (count == 0) return Bad("a range_mapping of length 0");
    } else if (name == "single_mapping") {
      VS_RETURN_IF_ERROR(Number("origin_block", &begin));
    } else if (name == "ref") {
      return Ref(Attr("name"));
    } else {
      return Bad("<" + name + "> in a device");
    }
    return Add(begin, count);
  }

  // A shared subtree, written out before the devices that use it.
  Status Ref(const std::string& def) {
    auto it = defs_.find(def);
    if (it == defs_.end() || &it->second == into_) return Bad("<ref> to an unknown def '" + def + "'");
    it->second.Normalize();
    for (const auto& x : it->second.r) VS_RETURN_IF_ERROR(Add(x.first, x.second));
    return Status::OK();
  }

  Status Add(int64_t begin, int64_t count) {
    if (!into_) return Status::OK();  // another thin's
    return AddBounded(into_, begin, count, max_ranges_, "thin " + std::to_string(thin_id_) + " is mapped");
  }

  Status Finish(ThinMap* out) {
    if (block_sectors_ == 0) return Bad("no <superblock>");
    if (!found_) return Status::Error(ENOENT, "the pool's metadata has no thin " + std::to_string(thin_id_));
    mapped_.Normalize();
    int64_t sum = 0;
    for (const auto& x : mapped_.r) sum += x.second;
    if (sum != mapped_blocks_)
      return Bad("thin " + std::to_string(thin_id_) + " maps " + std::to_string(sum) + " blocks, its mapped_blocks says " +
                 std::to_string(mapped_blocks_));
    out->block_sectors = block_sectors_;
    out->ranges.swap(mapped_.r);
    return Status::OK();
  }

  const int64_t thin_id_;
  const size_t max_ranges_;
  std::map<std::string, RangeList> defs_;
  RangeList mapped_;
  RangeList* into_ = nullptr;  // the current def or thin_id's device; null in another device
  bool found_ = false;
  int64_t mapped_blocks_ = 0;
};

// Streams thin_delta's XML (superblock > diff > same | different |
// left_only | right_only), keeping the ranges that are not the same.
class DeltaParser : public XmlReport {
 public:
  DeltaParser(int64_t base_thin_id, int64_t thin_id, size_t max_ranges)
      : XmlReport("thin_delta"), base_(base_thin_id), thin_(thin_id), max_ranges_(max_ranges) {}

  Status Parse(const std::string& path, ThinMap* out) {
    VS_RETURN_IF_ERROR(ParseFile(path));
    if (block_sectors_ == 0) return Bad("no <superblock>");
    if (!diff_) return Bad("no <diff>");
    changed_.Normalize();
    out->block_sectors = block_sectors_;
    out->ranges.swap(changed_.r);
    return Status::OK();
  }

 private:
  Status Outer(const std::string& name) override {
    if (name != "diff" || diff_) return Bad("<" + name + "> in <superblock>, or a second <diff>");
    int64_t left = 0, right = 0;
    VS_RETURN_IF_ERROR(Number("left", &left));
    VS_RETURN_IF_ERROR(Number("right", &right));
    if (left != base_ || right != thin_)
      return Bad("a diff of thins " + std::to_string(left) + " and " + std::to_string(right) + ", not " +
                 std::to_string(base_) + " and " + std::to_string(thin_));
    diff_ = true;
    return Status::OK();
  }

  // (--verbose nests a <range> in each.)
  Status Inner(const std::string& name) override {
    if (name != "same" && name != "different" && name != "left_only" && name != "right_only")
      return Bad("<" + name + "> in <diff>");
    int64_t begin = 0, length = 0;
    VS_RETURN_IF_ERROR(Number("begin", &begin));
    VS_RETURN_IF_ERROR(Number("length", &length));
    if (length == 0) return Bad("a <" + name + "> of length 0");
    if (name == "same") return Status::OK();
    return AddBounded(&changed_, begin, length, max_ranges_,
                      "thins " + std::to_string(base_) + " and " + std::to_string(thin_) + " differ");
  }

  const int64_t base_, thin_;
  const size_t max_ranges_;
  bool diff_ = false;
  RangeList changed_;
};

// A metadata tool's run: ETIMEDOUT or EIO naming it (what), its words.
Status ToolResult(const Status& run, const SubprocessResult& r, const std::string& what, int timeout_ms) {
  if (run.code() == ETIMEDOUT)
    return Status::Error(ETIMEDOUT, what + " took over " + std::to_string(timeout_ms) +
                                        " ms (thin_dump_timeout): its metadata is large or its disk slow");
  VS_RETURN_IF_ERROR(run);
  if (r.exit_code == 0) return Status::OK();
  return Status::Error(EIO, what + " failed (exit " + std::to_string(r.exit_code) + "): " + OneLine(r.output));
}

class ThinReportPrograms : public ThinReports {
 public:
  ThinReportPrograms(std::string delta, std::string ls, int timeout_ms)
      : delta_(std::move(delta)), ls_(std::move(ls)), timeout_ms_(timeout_ms) {}

  Status Delta(const std::string& meta_device, int64_t base_thin_id, int64_t thin_id,
               const std::string& xml_path) override {
    SubprocessResult r;
    Status st = RunProgramToFile({delta_, "--metadata-snap", "--snap1", std::to_string(base_thin_id), "--snap2",
                                  std::to_string(thin_id), meta_device},
                                 timeout_ms_, xml_path, &r);
    st = ToolResult(st, r, delta_ + " of thins " + std::to_string(base_thin_id) + " and " + std::to_string(thin_id) +
                               " on " + meta_device, timeout_ms_);
    // Its words for a thin the metadata lacks: "Unable to find mapping
    // tree for snap2 (9)".
    if (st.code() == EIO && r.output.find("Unable to find mapping tree") != std::string::npos)
      return Status::Error(ENOENT, OneLine(r.output.substr(0, r.output.find('\n'))));
    return st;
  }

  Status List(const std::string& meta_device, const std::string& text_path) override {
    SubprocessResult r;
    Status st = RunProgramToFile(
        {ls_, "--metadata-snap", "--no-headers", "-o", "DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS", meta_device}, timeout_ms_,
        text_path, &r);
    return ToolResult(st, r, ls_ + " on " + meta_device, timeout_ms_);
  }

 private:
  const std::string delta_, ls_;
  const int timeout_ms_;
};

class ThinDumpProgram : public ThinDumper {
 public:
  ThinDumpProgram(std::string program, int timeout_ms) : program_(std::move(program)), timeout_ms_(timeout_ms) {}

  Status Dump(const std::string& meta_device, int64_t thin_id, const std::string& xml_path) override {
    SubprocessResult r;
    Status st = RunProgram(
        {program_, "--metadata-snap", "--dev-id", std::to_string(thin_id), "-o", xml_path, meta_device}, timeout_ms_, &r);
    return ToolResult(st, r, program_ + " of thin " + std::to_string(thin_id) + " on " + meta_device, timeout_ms_);
  }

 private:
  const std::string program_;
  const int timeout_ms_;
};

}  // namespace

Status ParseThinDump(const std::string& xml_path, int64_t thin_id, size_t max_ranges, ThinMap* out) {
  *out = ThinMap();
  return DumpParser(thin_id, max_ranges).Parse(xml_path, out);
}

std::unique_ptr<ThinDumper> NewThinDumpProgram(const std::string& program, int timeout_ms) {
  return std::unique_ptr<ThinDumper>(new ThinDumpProgram(program, timeout_ms));
}

Status ParseThinDelta(const std::string& xml_path, int64_t base_thin_id, int64_t thin_id, size_t max_ranges,
                      ThinMap* out) {
  *out = ThinMap();
  return DeltaParser(base_thin_id, thin_id, max_ranges).Parse(xml_path, out);
}

namespace {
// A decimal below 10^15 (no pool has 2^50 blocks), or false.
bool Decimal(const std::string& word, uint64_t* out) {
  if (word.empty() || word.size() > 15 || word.find_first_not_of("0123456789") != std::string::npos) return false;
  *out = std::stoull(word);
  return true;
}

// Pool blocks of block_sectors (a power of two) in MiB, rounded up.
uint64_t BlocksToMib(uint64_t blocks, uint64_t block_sectors) {
  if (block_sectors >= kSectorsPerMib) return blocks * (block_sectors / kSectorsPerMib);
  const uint64_t per_mib = kSectorsPerMib / block_sectors;
  return (blocks + per_mib - 1) / per_mib;
}
}  // namespace

Status ParseThinLs(const std::string& text, uint64_t block_sectors, std::vector<ThinUsage>* out) {
  out->clear();
  auto bad = [](const std::string& line, const char* why) {
    return Status::Error(EPROTO, "thin_ls's output: '" + OneLine(line.substr(0, 80)) + "': " + why);
  };
  std::set<int64_t> seen;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string x; words >> x;) w.push_back(x);
    if (w.empty()) continue;
    uint64_t id = 0, mapped = 0, exclusive = 0;
    if (w.size() != 3 || !Decimal(w[0], &id) || !Decimal(w[1], &mapped) || !Decimal(w[2], &exclusive))
      return bad(line, "not DEV MAPPED_BLOCKS EXCLUSIVE_BLOCKS");
    if (id < 1 || id > static_cast<uint64_t>(kMaxThinId) || !seen.insert(static_cast<int64_t>(id)).second)
      return bad(line, "a thin id out of range, or twice");
    if (exclusive > mapped) return bad(line, "more exclusive blocks than mapped");
    out->push_back({static_cast<int64_t>(id), BlocksToMib(mapped, block_sectors), BlocksToMib(exclusive, block_sectors)});
  }
  return Status::OK();
}

std::unique_ptr<ThinReports> NewThinReportPrograms(const std::string& thin_delta, const std::string& thin_ls,
                                                   int timeout_ms) {
  return std::unique_ptr<ThinReports>(new ThinReportPrograms(thin_delta, thin_ls, timeout_ms));
}

ThinMap LegDataPart(const ThinMap& thin) {
  ThinMap out;
  const uint64_t block = thin.block_sectors;
  out.block_sectors = block != 0 && kLegMetaSectors % block == 0 ? block : kLegMetaSectors;
  const uint64_t unit = out.block_sectors;
  for (const auto& r : thin.ranges) {
    // Thin sectors [b, e) are data sectors [b - meta, e - meta), clipped at 0.
    const uint64_t b = static_cast<uint64_t>(r.first) * block, e = static_cast<uint64_t>(r.first + r.second) * block;
    if (e <= kLegMetaSectors) continue;
    const int64_t first = static_cast<int64_t>((std::max(b, kLegMetaSectors) - kLegMetaSectors) / unit);
    const int64_t end = static_cast<int64_t>((e - kLegMetaSectors + unit - 1) / unit);
    if (!out.ranges.empty() && out.ranges.back().first + out.ranges.back().second >= first)
      out.ranges.back().second = std::max(out.ranges.back().second, end - out.ranges.back().first);
    else
      out.ranges.push_back({first, end - first});
  }
  return out;
}

std::string PoolName(int64_t pdsk_id) { return "vastsky-pool-" + Hex8(pdsk_id); }
std::string ThinName(int64_t pdsk_id, int64_t thin_id) {
  return "vastsky-thin-" + Hex8(pdsk_id) + "-" + std::to_string(thin_id);
}

Status PlanPool(uint64_t disk_sectors, uint64_t block_sectors, PoolLabel* out) {
  if (!PowerOfTwo(block_sectors) || block_sectors < 128 || block_sectors > 2097152)
    return Status::Error(EINVAL, "pool block of " + std::to_string(block_sectors) +
                                     " sectors: dm-thin takes a power of two from 128 (64 KiB) to 2097152 (1 GiB)");
  PoolLabel l;
  const uint64_t disk_mib = disk_sectors / kSectorsPerMib;
  const uint64_t meta_bytes = kMetaBytesPerBlock * (disk_sectors / block_sectors);
  l.block_sectors = block_sectors;
  l.meta_offset_mib = 1;
  l.meta_mib = std::min(kMaxMetaMib, std::max(kMinMetaMib, (meta_bytes + kMib - 1) / kMib));
  l.data_offset_mib = l.meta_offset_mib + l.meta_mib;
  const uint64_t rest = disk_mib > l.data_offset_mib ? (disk_mib - l.data_offset_mib) * kSectorsPerMib : 0;
  l.data_mib = rest / std::max(block_sectors, kSectorsPerMib) * std::max(block_sectors, kSectorsPerMib) / kSectorsPerMib;
  if (l.data_mib == 0)
    return Status::Error(EINVAL, "a disk of " + std::to_string(disk_mib) + " MiB has no room for a pool's data after " +
                                     std::to_string(l.data_offset_mib) + " MiB of label and metadata");
  *out = l;
  return Status::OK();
}

Status CheckPoolCluster(const PoolLabel& label, const std::string& cluster, const std::string& device) {
  if (label.cluster == cluster) return Status::OK();
  return Status::Error(EXDEV, device + " holds " + FormatId("pdsk", label.pdsk_id) + " of cluster " + label.cluster +
                                  ", not of this cluster (" + cluster + "): give it back to its cluster, or wipe it");
}

std::string FormatPoolLabel(const PoolLabel& l) {
  std::ostringstream o;
  o << "[" << kSection << "]\n"
    << "format = " << l.format << "\ncluster = " << l.cluster << "\npdsk = " << l.pdsk_id
    << "\nblock_sectors = " << l.block_sectors << "\nmeta_offset_mib = " << l.meta_offset_mib
    << "\nmeta_mib = " << l.meta_mib << "\ndata_offset_mib = " << l.data_offset_mib << "\ndata_mib = " << l.data_mib
    << "\n";
  return o.str();
}

namespace {

class ThinCheckProgram : public ThinChecker {
 public:
  ThinCheckProgram(std::string program, int timeout_ms) : program_(std::move(program)), timeout_ms_(timeout_ms) {}
  Status Check(const std::string& meta_device) override {
    SubprocessResult r;
    VS_RETURN_IF_ERROR(RunProgram({program_, "-q", "--clear-needs-check-flag", meta_device}, timeout_ms_, &r));
    return r.exit_code == 0 ? Status::OK() : Status::Error(EUCLEAN, OneLine(r.output));
  }

 private:
  const std::string program_;
  const int timeout_ms_;
};

}  // namespace

std::unique_ptr<ThinChecker> NewThinCheckProgram(const std::string& program, int timeout_ms) {
  return std::unique_ptr<ThinChecker>(new ThinCheckProgram(program, timeout_ms));
}

ThinPools::ThinPools(std::shared_ptr<DeviceMapper> dm, ThinPoolOptions options, std::shared_ptr<ThinDumper> dumper,
                     std::shared_ptr<ThinChecker> checker, std::shared_ptr<ThinReports> reports)
    : dm_(std::move(dm)),
      options_(std::move(options)),
      dumper_(std::move(dumper)),
      checker_(std::move(checker)),
      reports_(std::move(reports)) {
  if (!dumper_) dumper_ = NewThinDumpProgram(options_.thin_dump, options_.thin_dump_timeout_ms);
  if (!checker_) checker_ = NewThinCheckProgram(options_.thin_check, options_.thin_check_timeout_ms);
  if (!reports_) reports_ = NewThinReportPrograms(options_.thin_delta, options_.thin_ls, options_.thin_dump_timeout_ms);
}

Status ThinPools::ReadLabel(const std::string& device, PoolLabel* out) {
  int64_t sectors = 0;
  VS_RETURN_IF_ERROR(DiskSectors(device, &sectors));
  std::string head;
  VS_RETURN_IF_ERROR(ReadAt(device, 0, kMib, &head));
  const std::string section = std::string("[") + kSection + "]";
  if (head.compare(0, section.size(), section) == 0)
    return ParseLabel(head.substr(0, std::min(head.find('\0'), kLabelBytes)), device, static_cast<uint64_t>(sectors),
                      out);
  uint32_t magic = 0;
  for (int i = 3; i >= 0; --i) magic = magic << 8 | static_cast<unsigned char>(head[i]);
  if (magic == kDmRaidMagic)
    return Status::Error(EMEDIUMTYPE, device + " holds VastSky's old slice layout (a dm-raid superblock at sector 0), "
                                               "which this release does not read: if its data is not needed, wipe "
                                               "its first MiB (dd if=/dev/zero of=" + device +
                                          " bs=1M count=1) and restart the agent");
  if (!AllZero(head))
    return Status::Error(EMEDIUMTYPE, device + " holds data that is not VastSky's (its first MiB is not blank): "
                                               "check the disks setting; if the data is not needed, wipe its first "
                                               "MiB and restart the agent");
  return Status::Error(ENOENT, device + " is blank (no VastSky label)");
}

Status ThinPools::Plan(const std::string& device, PoolLabel* out) {
  int64_t sectors = 0;
  VS_RETURN_IF_ERROR(DiskSectors(device, &sectors));
  return PlanPool(static_cast<uint64_t>(sectors), options_.block_sectors, out);
}

Status ThinPools::Format(const std::string& device, const std::string& cluster, int64_t pdsk_id, PoolLabel* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (pdsk_id <= 0) return Status::Error(EINVAL, "no pdsk id to format " + device + " with");
  if (cluster.empty() || cluster.find_first_not_of("0123456789abcdefABCDEF-") != std::string::npos)
    return Status::Error(EINVAL, "cluster id '" + cluster + "' is not a uuid");
  PoolLabel old;
  Status st = ReadLabel(device, &old);
  if (st.ok())
    return Status::Error(EEXIST, device + " is already " + FormatId("pdsk", old.pdsk_id) + " of cluster " + old.cluster);
  if (st.code() != ENOENT) return st;
  PoolLabel l;
  VS_RETURN_IF_ERROR(Plan(device, &l));
  l.cluster = cluster;
  l.pdsk_id = pdsk_id;
  // Zero metadata is what makes dm-thin write a new, empty pool.
  VS_RETURN_IF_ERROR(WriteAt(device, l.meta_offset_mib * kMib, std::string(kLabelBytes, '\0')));
  std::string text = FormatPoolLabel(l);
  text.resize(kLabelBytes, '\0');
  VS_RETURN_IF_ERROR(WriteAt(device, 0, text));
  VS_LOG_INFO("formatted %s as %s: %llu MiB of data in %llu-sector blocks, %llu MiB of metadata", device.c_str(),
              FormatId("pdsk", pdsk_id).c_str(), static_cast<unsigned long long>(l.data_mib),
              static_cast<unsigned long long>(l.block_sectors), static_cast<unsigned long long>(l.meta_mib));
  *out = l;
  return Status::OK();
}

// An active device is adopted if its table is the one wanted.
Status ThinPools::EnsureDevice(const std::string& name, const DmTarget& want) {
  DmInfo info;
  VS_RETURN_IF_ERROR(dm_->GetInfo(name, &info));
  if (!info.exists) return dm_->Create(name, {want});
  std::vector<DmTarget> table;
  VS_RETURN_IF_ERROR(dm_->GetTable(name, &table));
  if (table.size() == 1 && table[0].length == want.length && table[0].type == want.type) return Status::OK();
  return Status::Error(EBUSY, name + " is active with another table than " + want.type + " of " +
                                  std::to_string(want.length) + " sectors: remove it (dmsetup remove " + name +
                                  ") if nothing uses it");
}

Status ThinPools::CheckMetadata(const std::string& device, const PoolLabel& label) {
  std::string super;
  VS_RETURN_IF_ERROR(ReadAt(device, label.meta_offset_mib * kMib, kLabelBytes, &super));
  if (AllZero(super)) return Status::OK();  // new: dm-thin writes it at activation
  const std::string meta = dm_->DevicePath(PoolName(label.pdsk_id) + "-meta");
  Status st = checker_->Check(meta);
  const std::string what = "thin_check of " + FormatId("pdsk", label.pdsk_id) + "'s pool metadata on " + device;
  if (st.code() == ETIMEDOUT)
    return Status::Error(ETIMEDOUT, what + " took over " + std::to_string(options_.thin_check_timeout_ms / 1000) +
                                        " s: run it by hand (thin_check " + meta + ") and restart the agent");
  if (st.code() != EUCLEAN) return st;
  return Status::Error(EUCLEAN, what + " failed (" + st.message() + "); the disk is not exported. Repair: thin_repair -i " +
                                    meta + " -o <a spare device of " + std::to_string(label.meta_mib) +
                                    " MiB>, check it, copy it back over " + meta + ", restart the agent");
}

Status ThinPools::Open(const std::string& device, const PoolLabel& label) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string pool = PoolName(label.pdsk_id);
  if (repairing_.count(label.pdsk_id))
    return Status::Error(EBUSY, "the pool of " + FormatId("pdsk", label.pdsk_id) + " is being repaired");
  DmInfo info;
  VS_RETURN_IF_ERROR(dm_->GetInfo(pool, &info));
  if (!info.exists) {
    // thin_check must never read metadata a live pool is changing: only
    // before activation.
    VS_RETURN_IF_ERROR(EnsureDevice(pool + "-meta", Linear(device, label.meta_offset_mib, label.meta_mib)));
    VS_RETURN_IF_ERROR(CheckMetadata(device, label));
  }
  return ActivatePool(device, label);
}

Status ThinPools::ActivatePool(const std::string& device, const PoolLabel& label) {
  const std::string pool = PoolName(label.pdsk_id);
  const DmTarget want{0, label.data_mib * kSectorsPerMib, "thin-pool",
                      dm_->DevicePath(pool + "-meta") + " " + dm_->DevicePath(pool + "-data") + " " +
                          std::to_string(label.block_sectors) + " 0 1 error_if_no_space"};
  VS_RETURN_IF_ERROR(EnsureDevice(pool + "-data", Linear(device, label.data_offset_mib, label.data_mib)));
  VS_RETURN_IF_ERROR(EnsureDevice(pool, want));
  open_[label.pdsk_id] = label;
  disk_of_[label.pdsk_id] = device;
  down_.erase(label.pdsk_id);
  return Status::OK();
}

Status ThinPools::PoolPath(int64_t pdsk_id, std::string* path) {
  const std::string pool = "the pool of " + FormatId("pdsk", pdsk_id);
  if (!open_.count(pdsk_id)) return Status::Error(ENOENT, pool + " is not open here");
  if (repairing_.count(pdsk_id)) return Status::Error(EBUSY, pool + " is being repaired");
  if (down_.count(pdsk_id))
    return Status::Error(ENXIO, pool + " is down: its repair did not finish (the agent's log says why)");
  *path = dm_->DevicePath(PoolName(pdsk_id));
  return Status::OK();
}

namespace {
// dm-thin keeps a pool that saw I/O errors ro or fail, with needs_check,
// until thin_check clears the flag; out_of_data_space is no damage.
bool NeedsRepair(const PoolUsage& u) { return u.mode == "ro" || u.mode == "fail" || u.needs_check; }
}  // namespace

Status ThinPools::StartRepair(int64_t pdsk_id, PoolLabel* label, std::string* device) {
  const std::string pool = "the pool of " + FormatId("pdsk", pdsk_id);
  if (!open_.count(pdsk_id)) return Status::Error(ENOENT, pool + " is not open here");
  if (repairing_.count(pdsk_id)) return Status::Error(EBUSY, "a repair of " + pool + " is running");
  PoolUsage u;
  VS_RETURN_IF_ERROR(UsageLocked(pdsk_id, &u));
  if (!NeedsRepair(u))
    return Status::Error(EBUSY, pool + " is " + u.mode + " and needs no check: nothing to repair");
  repairing_.insert(pdsk_id);
  *label = open_[pdsk_id];
  *device = disk_of_[pdsk_id];
  return Status::OK();
}

Status ThinPools::Deactivate(int64_t pdsk_id) {
  const std::string pool = PoolName(pdsk_id);
  down_.insert(pdsk_id);  // from here on, until activated again
  std::vector<std::string> names;
  VS_RETURN_IF_ERROR(dm_->List(&names));
  const std::string thins = "vastsky-thin-" + Hex8(pdsk_id) + "-";
  for (const std::string& name : names) {
    if (name.compare(0, thins.size(), thins) != 0) continue;
    Status st = dm_->Remove(name);
    if (st.code() == EBUSY)
      return Status::Error(EBUSY, name + " is still open (not by a LUN: those were removed; a process? fuser -vm " +
                                      dm_->DevicePath(name) + "): close it and repair again");
    if (!st.ok() && st.code() != ENOENT) return st;
  }
  DmInfo info;
  VS_RETURN_IF_ERROR(dm_->GetInfo(pool, &info));
  return info.exists ? dm_->Remove(pool) : Status::OK();
}

Status ThinPools::Repair(int64_t pdsk_id, const std::function<Status()>& withdraw) {
  PoolLabel label;
  std::string device;
  {
    std::lock_guard<std::mutex> lock(mu_);
    VS_RETURN_IF_ERROR(StartRepair(pdsk_id, &label, &device));
  }
  const std::string pool = PoolName(pdsk_id);
  auto locked = [this](const std::function<Status()>& f) {
    std::lock_guard<std::mutex> lock(mu_);
    return f();
  };
  Status st = withdraw();
  if (st.ok())
    st = locked([&] {
      VS_RETURN_IF_ERROR(Deactivate(pdsk_id));
      return EnsureDevice(pool + "-meta", Linear(device, label.meta_offset_mib, label.meta_mib));
    });
  // Unlocked: a check may take minutes, heartbeats must not wait on it.
  if (st.ok()) st = CheckMetadata(device, label);
  if (st.ok()) st = locked([&] { return ActivatePool(device, label); });
  std::lock_guard<std::mutex> lock(mu_);
  repairing_.erase(pdsk_id);
  return st;
}

Status ThinPools::Activate(int64_t pdsk_id, int64_t thin_id, int64_t size_mib, std::string* device) {
  if (thin_id < 1 || thin_id > kMaxThinId || size_mib <= 0)
    return Status::Error(EINVAL, "thin " + std::to_string(thin_id) + " of " + std::to_string(size_mib) +
                                     " MiB: ids are 1.." + std::to_string(kMaxThinId) + ", sizes positive");
  std::string pool;
  VS_RETURN_IF_ERROR(PoolPath(pdsk_id, &pool));
  const std::string name = ThinName(pdsk_id, thin_id);
  const DmTarget want{0, static_cast<uint64_t>(size_mib) * kSectorsPerMib, "thin", pool + " " + std::to_string(thin_id)};
  DmInfo info;
  VS_RETURN_IF_ERROR(dm_->GetInfo(name, &info));
  Status st = info.exists ? Status::OK() : dm_->Create(name, {want});
  if (st.code() == ENODATA)
    return Status::Error(ENOENT, PoolName(pdsk_id) + " has no thin " + std::to_string(thin_id));
  VS_RETURN_IF_ERROR(st);
  std::vector<DmTarget> table;
  VS_RETURN_IF_ERROR(dm_->GetTable(name, &table));
  // A leg that grew: the thin device grows with it (never shrinks: data).
  if (table.size() == 1 && table[0].length < want.length) VS_RETURN_IF_ERROR(dm_->Replace(name, {want}));
  *device = dm_->DevicePath(name);
  return Status::OK();
}

Status ThinPools::CreateThin(int64_t pdsk_id, int64_t thin_id, int64_t size_mib, std::string* device) {
  std::lock_guard<std::mutex> lock(mu_);
  DmInfo info;
  VS_RETURN_IF_ERROR(dm_->GetInfo(ThinName(pdsk_id, thin_id), &info));
  if (!info.exists && open_.count(pdsk_id) && thin_id >= 1 && thin_id <= kMaxThinId) {
    std::vector<DmTarget> status;
    VS_RETURN_IF_ERROR(dm_->GetStatus(PoolName(pdsk_id), &status));
    if (!status.empty() && status[0].params.find(" out_of_data_space ") != std::string::npos)
      return Status::Error(ENOSPC, PoolName(pdsk_id) + " is out of data space: no new thin " + std::to_string(thin_id));
    Status st = dm_->Message(PoolName(pdsk_id), "create_thin " + std::to_string(thin_id));
    if (!st.ok() && st.code() != EEXIST) return st;
  }
  return Activate(pdsk_id, thin_id, size_mib, device);
}

Status ThinPools::ActivateThin(int64_t pdsk_id, int64_t thin_id, int64_t size_mib, std::string* device) {
  std::lock_guard<std::mutex> lock(mu_);
  return Activate(pdsk_id, thin_id, size_mib, device);
}

Status ThinPools::DeleteThin(int64_t pdsk_id, int64_t thin_id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string pool;
  VS_RETURN_IF_ERROR(PoolPath(pdsk_id, &pool));
  const std::string name = ThinName(pdsk_id, thin_id);
  DmInfo info;
  VS_RETURN_IF_ERROR(dm_->GetInfo(name, &info));
  if (info.exists) VS_RETURN_IF_ERROR(dm_->Remove(name));
  Status st = dm_->Message(PoolName(pdsk_id), "delete " + std::to_string(thin_id));
  return st.code() == ENODATA ? Status::OK() : st;
}

namespace {
// A pool that failed, is down or is being checked: its sizes as its label
// gives them, nothing known used.
PoolUsage FailedUsage(const PoolLabel& label) {
  PoolUsage u;
  u.data_mib = label.data_mib;
  u.meta_kib = label.meta_mib * 1024;
  u.mode = "fail";
  u.needs_check = true;
  return u;
}
}  // namespace

Status ThinPools::Usage(int64_t pdsk_id, PoolUsage* out) {
  std::lock_guard<std::mutex> lock(mu_);
  return UsageLocked(pdsk_id, out);
}

Status ThinPools::UsageLocked(int64_t pdsk_id, PoolUsage* out) {
  if (open_.count(pdsk_id) && (down_.count(pdsk_id) || repairing_.count(pdsk_id))) {
    *out = FailedUsage(open_[pdsk_id]);
    return Status::OK();
  }
  std::string pool;
  VS_RETURN_IF_ERROR(PoolPath(pdsk_id, &pool));
  std::vector<DmTarget> status;
  VS_RETURN_IF_ERROR(dm_->GetStatus(PoolName(pdsk_id), &status));
  if (status.empty()) return Status::Internal(PoolName(pdsk_id) + " has no status");
  // "<transaction> <used meta>/<meta> <used data>/<data> <held root> <mode> <discard> <no-space
  // policy> <needs_check or -> ..."; "Fail" or "Error" alone when the pool failed.
  std::istringstream in(status[0].params);
  std::string transaction, root, mode;
  unsigned long long used_meta = 0, meta = 0, used_data = 0, data = 0;
  char slash1 = 0, slash2 = 0;
  if (!(in >> transaction >> used_meta >> slash1 >> meta >> used_data >> slash2 >> data >> root >> mode) ||
      slash1 != '/' || slash2 != '/') {
    *out = FailedUsage(open_[pdsk_id]);
    return Status::OK();
  }
  std::string discard, policy, needs_check;
  in >> discard >> policy >> needs_check;
  out->needs_check = needs_check == "needs_check";
  const uint64_t block = open_[pdsk_id].block_sectors;
  out->data_used_mib = used_data * block / kSectorsPerMib;
  out->data_mib = data * block / kSectorsPerMib;
  out->meta_used_kib = used_meta * kMetaBlockKib;
  out->meta_kib = meta * kMetaBlockKib;
  out->mode = mode;
  return Status::OK();
}

// dm-thin keeps one metadata snapshot per pool; one still held here was
// left by an agent that stopped between reserve and release (snapshot_mu_
// serialises ours), or by someone's thin_dump by hand.
Status ThinPools::ReserveSnapshot(const std::string& pool) {
  Status st = dm_->Message(pool, "reserve_metadata_snap");
  if (st.code() != EBUSY && st.code() != EINVAL) return st;
  VS_LOG_WARN("%s already holds a metadata snapshot (left by a crash, or taken by hand): releasing it", pool.c_str());
  VS_RETURN_IF_ERROR(dm_->Message(pool, "release_metadata_snap"));
  return dm_->Message(pool, "reserve_metadata_snap");
}

namespace {
constexpr char kDumpPrefix[] = "vastsky-thin-dump-";
}  // namespace

void ThinPools::RemoveLeftoverDumps() {
  for (const std::string& f : DirEntries(options_.dump_dir)) {
    if (f.compare(0, sizeof(kDumpPrefix) - 1, kDumpPrefix) != 0) continue;
    const std::string path = options_.dump_dir + "/" + f;
    if (unlink(path.c_str()) == 0) VS_LOG_INFO("removed %s, a thin_dump output left by an earlier run", path.c_str());
    else VS_LOG_WARN("cannot remove %s, left by an earlier run: %s", path.c_str(), strerror(errno));
  }
}

Status ThinPools::WithDumpFile(const std::function<Status(const std::string&)>& use) {
  std::string path = options_.dump_dir + "/" + kDumpPrefix + "XXXXXX";
  const int fd = mkstemp(&path[0]);
  if (fd < 0) return Status::Error(errno, "cannot make a file for a thin tool's output in " + options_.dump_dir);
  close(fd);
  Status st = use(path);
  unlink(path.c_str());
  return st;
}

Status ThinPools::DumpMap(int64_t pdsk_id, int64_t thin_id, ThinMap* out) {
  return WithDumpFile([&](const std::string& path) {
    VS_RETURN_IF_ERROR(dumper_->Dump(dm_->DevicePath(PoolName(pdsk_id) + "-meta"), thin_id, path));
    Status st = ParseThinDump(path, thin_id, static_cast<size_t>(kMaxLegMapRanges), out);
    if (st.code() == ENOENT) return Status::Error(ENOENT, PoolName(pdsk_id) + " has no thin " + std::to_string(thin_id));
    return st;
  });
}

Status ThinPools::OnMetadataSnap(int64_t pdsk_id, uint64_t* block_sectors,
                                 const std::function<Status(const std::string&)>& read) {
  std::lock_guard<std::mutex> snapshot_lock(snapshot_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::string path;
    VS_RETURN_IF_ERROR(PoolPath(pdsk_id, &path));
    *block_sectors = open_[pdsk_id].block_sectors;
  }
  const std::string pool = PoolName(pdsk_id);
  Status st = ReserveSnapshot(pool);
  const bool reserved = st.ok();
  if (!reserved && st.code() != ETIMEDOUT) return st;
  if (reserved) st = read(dm_->DevicePath(pool + "-meta"));
  // Also after a reserve of unknown outcome: a held snapshot pins metadata.
  Status released = dm_->Message(pool, "release_metadata_snap");
  if (!released.ok() && reserved)
    VS_LOG_ERROR("cannot release %s's metadata snapshot (%s): it keeps metadata blocks in use until released "
                 "(dmsetup message %s 0 release_metadata_snap)",
                 pool.c_str(), released.ToString().c_str(), pool.c_str());
  return st;
}

Status ThinPools::CheckBlock(int64_t pdsk_id, uint64_t want, uint64_t seen) {
  if (seen == want) return Status::OK();
  return Status::Error(EPROTO, PoolName(pdsk_id) + "'s metadata has blocks of " + std::to_string(seen) +
                                   " sectors, its label " + std::to_string(want));
}

namespace {
Status CheckThinId(int64_t thin_id) {
  if (thin_id >= 1 && thin_id <= kMaxThinId) return Status::OK();
  return Status::Error(EINVAL, "thin " + std::to_string(thin_id) + ": ids are 1.." + std::to_string(kMaxThinId));
}
}  // namespace

Status ThinPools::Mapped(int64_t pdsk_id, int64_t thin_id, ThinMap* out) {
  VS_RETURN_IF_ERROR(CheckThinId(thin_id));
  uint64_t block_sectors = 0;
  VS_RETURN_IF_ERROR(
      OnMetadataSnap(pdsk_id, &block_sectors, [&](const std::string&) { return DumpMap(pdsk_id, thin_id, out); }));
  return CheckBlock(pdsk_id, block_sectors, out->block_sectors);
}

Status ThinPools::Delta(int64_t pdsk_id, int64_t base_thin_id, int64_t thin_id, ThinMap* out) {
  VS_RETURN_IF_ERROR(CheckThinId(base_thin_id));
  VS_RETURN_IF_ERROR(CheckThinId(thin_id));
  uint64_t block_sectors = 0;
  ThinMap thin;
  VS_RETURN_IF_ERROR(OnMetadataSnap(pdsk_id, &block_sectors, [&](const std::string& meta) {
    return WithDumpFile([&](const std::string& path) {
      VS_RETURN_IF_ERROR(reports_->Delta(meta, base_thin_id, thin_id, path));
      return ParseThinDelta(path, base_thin_id, thin_id, static_cast<size_t>(kMaxLegMapRanges), &thin);
    });
  }));
  VS_RETURN_IF_ERROR(CheckBlock(pdsk_id, block_sectors, thin.block_sectors));
  *out = LegDataPart(thin);
  return Status::OK();
}

Status ThinPools::Thins(int64_t pdsk_id, std::vector<ThinUsage>* out) {
  uint64_t block_sectors = 0;
  return OnMetadataSnap(pdsk_id, &block_sectors, [&](const std::string& meta) {
    return WithDumpFile([&](const std::string& path) {
      VS_RETURN_IF_ERROR(reports_->List(meta, path));
      std::string text;
      VS_RETURN_IF_ERROR(ReadStateFile(path, &text));
      return ParseThinLs(text, block_sectors, out);
    });
  });
}

// create_snap's answer: dm-thin checks the new id before the origin, so a
// repeat whose origin is gone since is still a repeat.
Status ThinPools::SnapMessage(int64_t pdsk_id, int64_t origin_thin_id, int64_t thin_id) {
  const std::string pool = PoolName(pdsk_id);
  Status st = dm_->Message(pool, "create_snap " + std::to_string(thin_id) + " " + std::to_string(origin_thin_id));
  if (st.code() == EEXIST) return Status::OK();
  if (st.code() == ENODATA) return Status::Error(ENOENT, pool + " has no thin " + std::to_string(origin_thin_id));
  // EOPNOTSUPP: dm-thin takes no messages in read-only or fail mode.
  if (st.code() == ENOSPC || st.code() == EOPNOTSUPP)
    return Status::Error(ENOSPC, "no snapshot " + std::to_string(thin_id) + " in " + pool + ": " + st.message());
  return st;
}

Status ThinPools::Snapshot(int64_t pdsk_id, int64_t origin_thin_id, int64_t thin_id) {
  VS_RETURN_IF_ERROR(CheckThinId(origin_thin_id));
  VS_RETURN_IF_ERROR(CheckThinId(thin_id));
  if (origin_thin_id == thin_id) return Status::Error(EINVAL, "thin " + std::to_string(thin_id) + " is its own origin");
  std::lock_guard<std::mutex> lock(mu_);
  PoolUsage usage;
  VS_RETURN_IF_ERROR(UsageLocked(pdsk_id, &usage));
  std::string path;
  VS_RETURN_IF_ERROR(PoolPath(pdsk_id, &path));
  if (usage.mode != "rw")
    return Status::Error(ENOSPC, PoolName(pdsk_id) + " is " + usage.mode + ": no snapshot " + std::to_string(thin_id));
  const std::string origin = ThinName(pdsk_id, origin_thin_id);
  DmInfo info;
  VS_RETURN_IF_ERROR(dm_->GetInfo(origin, &info));
  Status st = info.exists ? dm_->Suspend(origin) : Status::OK();
  if (st.ok()) st = SnapMessage(pdsk_id, origin_thin_id, thin_id);
  if (!info.exists) return st;
  // Also after a suspend of unknown outcome: its LUN's I/O waits meanwhile.
  Status resumed = dm_->Resume(origin);
  if (resumed.ok()) return st;
  VS_LOG_ERROR("%s stays suspended after snapshot %lld was taken of it (%s): its leg's I/O waits until it is "
               "resumed (dmsetup resume %s)",
               origin.c_str(), static_cast<long long>(thin_id), resumed.ToString().c_str(), origin.c_str());
  return Status::Error(resumed.code(), origin + " could not be resumed: " + resumed.message());
}

std::vector<int64_t> ThinPools::Opened() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> ids;
  for (const auto& p : open_) ids.push_back(p.first);
  return ids;
}

}  // namespace vastsky
