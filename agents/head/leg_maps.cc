#include "agents/head/leg_maps.h"

#include <cerrno>

#include "lib/api_params.h"
#include "lib/ids.h"
#include "lib/rpc_values.h"

namespace vastsky {

namespace {

Status Malformed(const std::string& why) { return Status::Error(EPROTO, "the manager's legMap answer: " + why); }

class ManagerLegMaps : public LegMaps {
 public:
  ManagerLegMaps(ManagerLink* link, std::function<int64_t()> hsvr_id) : link_(link), hsvr_id_(std::move(hsvr_id)) {}

  Status Get(int64_t chunk_id, LegMap* out) override {
    const int64_t hsvr = hsvr_id_();
    if (hsvr == 0) return Status::Error(EAGAIN, "this head is not registered yet: no leg maps");
    xmlrpc_c::value r;
    Status st = link_->Call("legMap", {{"hsvrid", IntValue(hsvr)}, {"chunkid", IntValue(chunk_id)}}, &r);
    if (!st.ok()) return Status::Error(st.code(), "legMap of " + FormatId("dext", chunk_id) + ": " + st.message());
    return ParseLegMap(r, out);
  }

 private:
  ManagerLink* link_;
  const std::function<int64_t()> hsvr_id_;
};

}  // namespace

Status ParseLegMap(const xmlrpc_c::value& answer, LegMap* out) {
  if (answer.type() != xmlrpc_c::value::TYPE_STRUCT) return Malformed("not a struct");
  if (IntMember(answer, "status") != 0) return Malformed("status is not 0");
  out->block_kib = IntMember(answer, "block_kib");
  if (out->block_kib <= 0 || out->block_kib > (int64_t{1} << 20)) return Malformed("no valid block_kib");
  const auto ranges = FindMember(answer, "ranges");
  if (!ranges || ranges->type() != xmlrpc_c::value::TYPE_ARRAY) return Malformed("no ranges array");
  const std::vector<xmlrpc_c::value> flat = xmlrpc_c::value_array(*ranges).vectorValueValue();
  if (flat.size() % 2 != 0 || flat.size() / 2 > static_cast<size_t>(kMaxLegMapRanges))
    return Malformed("ranges is not [begin, count] pairs, or more than " + std::to_string(kMaxLegMapRanges));
  out->ranges.clear();
  int64_t end = 0;
  for (size_t i = 0; i < flat.size(); i += 2) {
    int64_t begin = 0, count = 0;
    if (!IntOfValue(flat[i], &begin) || !IntOfValue(flat[i + 1], &count) || begin < end || count <= 0 ||
        count > (int64_t{1} << 40))
      return Malformed("range " + std::to_string(i / 2) + " is not an ascending [begin, count]");
    out->ranges.emplace_back(begin, count);
    end = begin + count;
  }
  return Status::OK();
}

std::unique_ptr<LegMaps> NewManagerLegMaps(ManagerLink* link, std::function<int64_t()> hsvr_id) {
  return std::unique_ptr<LegMaps>(new ManagerLegMaps(link, std::move(hsvr_id)));
}

}  // namespace vastsky
