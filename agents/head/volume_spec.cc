#include "agents/head/volume_spec.h"

#include <cerrno>
#include <nlohmann/json.hpp>

#include "lib/ids.h"

namespace vastsky {

namespace {

constexpr size_t kMaxMirrors = 65536, kMaxLegs = 9, kMaxPortals = 8;

Status Bad(const std::string& what) { return Status::Error(EINVAL, what); }

Status ParseLeg(const Params& p, int64_t capacity_gib, LegSpec* leg) {
  int64_t status;
  VS_RETURN_IF_ERROR(p.Id("chunkid", &leg->chunk_id));
  VS_RETURN_IF_ERROR(p.Id("pdskid", &leg->pdsk_id));
  // offset_mib, if a manager still sends it, is its own business.
  VS_RETURN_IF_ERROR(p.Int("length_mib", &leg->length_mib));
  VS_RETURN_IF_ERROR(p.Int("status", &status));
  VS_RETURN_IF_ERROR(p.StringArray("portals", kMaxPortals, &leg->portals));
  if (status < 1 || status > 3) return Bad("leg status must be 1, 2 or 3");
  leg->status = static_cast<int>(status);
  if (leg->length_mib < capacity_gib * 1024 || leg->length_mib > (int64_t{1} << 40))
    return Bad("chunk " + std::to_string(leg->chunk_id) + " is smaller than its mirror or out of range");
  for (const std::string& portal : leg->portals)
    if (portal.empty() || portal.size() > 64 || portal.find_first_of(" \t\n/") != std::string::npos)
      return Bad("portal '" + portal + "' is not an address:port");
  return Status::OK();
}

}  // namespace

Status ParseVolumeSpec(const Params& lvol, VolumeSpec* out) {
  std::vector<Params> mirrors;
  VS_RETURN_IF_ERROR(lvol.Id("lvolid", &out->lvol_id));
  VS_RETURN_IF_ERROR(lvol.String("lvolname", &out->name));
  std::string why;
  if (!ValidVolumeName(out->name, &why)) return Bad("lvolname: " + why);
  if (lvol.Has("read_only")) VS_RETURN_IF_ERROR(lvol.Bool("read_only", &out->read_only));
  VS_RETURN_IF_ERROR(lvol.StructArray("mirrors", kMaxMirrors, &mirrors));
  if (mirrors.empty()) return Bad("a volume has at least one mirror");
  int64_t next_gib = 0;
  for (const Params& mp : mirrors) {
    MirrorSpec m;
    std::vector<Params> legs;
    VS_RETURN_IF_ERROR(mp.Id("mirrorid", &m.mirror_id));
    VS_RETURN_IF_ERROR(mp.Int("offset_gib", &m.offset_gib));
    VS_RETURN_IF_ERROR(mp.Int("capacity_gib", &m.capacity_gib));
    if (m.offset_gib != next_gib || m.capacity_gib < 1 || m.capacity_gib > 1024)
      return Bad("mirror " + std::to_string(m.mirror_id) + " does not follow the one before it or has a bad size");
    next_gib += m.capacity_gib;
    VS_RETURN_IF_ERROR(mp.StructArray("legs", kMaxLegs, &legs));
    if (legs.size() < 2) return Bad("mirror " + std::to_string(m.mirror_id) + " has fewer than 2 legs");
    bool live = false;
    for (const Params& lp : legs) {
      LegSpec leg;
      VS_RETURN_IF_ERROR(ParseLeg(lp, m.capacity_gib, &leg));
      live |= !leg.missing();
      m.legs.push_back(leg);
    }
    if (!live) return Bad("mirror " + std::to_string(m.mirror_id) + " has no live leg: its data is lost");
    out->mirrors.push_back(m);
  }
  return Status::OK();
}

bool SameLayout(const VolumeSpec& a, const VolumeSpec& b) {
  if (a.lvol_id != b.lvol_id || a.name != b.name || a.mirrors.size() != b.mirrors.size()) return false;
  for (size_t i = 0; i < a.mirrors.size(); ++i) {
    const MirrorSpec &x = a.mirrors[i], &y = b.mirrors[i];
    if (x.mirror_id != y.mirror_id || x.offset_gib != y.offset_gib || x.capacity_gib != y.capacity_gib ||
        x.legs.size() != y.legs.size())
      return false;
    for (size_t j = 0; j < x.legs.size(); ++j) {
      const LegSpec &l = x.legs[j], &m = y.legs[j];
      if (l.chunk_id != m.chunk_id || l.pdsk_id != m.pdsk_id || l.length_mib != m.length_mib || l.missing() != m.missing())
        return false;
    }
  }
  return true;
}

std::string EncodeVolumeRecord(const VolumeSpec& spec, const std::string& chap_user, const std::string& chap_secret) {
  nlohmann::json mirrors = nlohmann::json::array();
  for (const MirrorSpec& m : spec.mirrors) {
    nlohmann::json legs = nlohmann::json::array();
    for (const LegSpec& l : m.legs)
      legs.push_back({{"chunkid", l.chunk_id}, {"pdskid", l.pdsk_id}, {"portals", l.portals},
                      {"length_mib", l.length_mib}, {"status", l.status}, {"trim", l.trim}, {"poisoned", l.poisoned}});
    mirrors.push_back({{"mirrorid", m.mirror_id}, {"offset_gib", m.offset_gib}, {"capacity_gib", m.capacity_gib},
                       {"legs", legs}});
  }
  nlohmann::json j = {{"lvolid", spec.lvol_id}, {"lvolname", spec.name}, {"read_only", spec.read_only}, {"mirrors", mirrors},
                      {"chap_user", chap_user}, {"chap_secret", chap_secret}};
  return j.dump(1) + "\n";
}

Status DecodeVolumeRecord(const std::string& text, VolumeSpec* spec, std::string* chap_user, std::string* chap_secret) {
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    spec->lvol_id = j.at("lvolid").get<int64_t>();
    spec->name = j.at("lvolname").get<std::string>();
    spec->read_only = j.value("read_only", false);
    *chap_user = j.at("chap_user").get<std::string>();
    *chap_secret = j.at("chap_secret").get<std::string>();
    spec->mirrors.clear();
    for (const auto& jm : j.at("mirrors")) {
      MirrorSpec m;
      m.mirror_id = jm.at("mirrorid").get<int64_t>();
      m.offset_gib = jm.at("offset_gib").get<int64_t>();
      m.capacity_gib = jm.at("capacity_gib").get<int64_t>();
      for (const auto& jl : jm.at("legs")) {
        LegSpec l;
        l.chunk_id = jl.at("chunkid").get<int64_t>();
        l.pdsk_id = jl.at("pdskid").get<int64_t>();
        l.portals = jl.at("portals").get<std::vector<std::string>>();
        l.length_mib = jl.at("length_mib").get<int64_t>();
        l.status = jl.at("status").get<int>();
        l.trim = jl.value("trim", false);
        l.poisoned = jl.value("poisoned", false);
        m.legs.push_back(l);
      }
      spec->mirrors.push_back(m);
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::Error(EINVAL, std::string("volume record: ") + e.what());
  }
  return Status::OK();
}

}  // namespace vastsky
