// What the manager tells a head agent to assemble: a volume's mirrors and
// the legs of each, where every leg lives (disk, portals). Parsed
// and checked from the attach call's `lvol` struct (agents/PROTOCOL.md),
// and kept as JSON in the agent's state so it can re-assemble after a
// restart or reboot without the manager.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/api_params.h"
#include "lib/status.h"

namespace vastsky {

struct LegSpec {
  int64_t chunk_id = 0, pdsk_id = 0;
  std::vector<std::string> portals;  // "ip:3260"
  // The leg is its own LUN (serial LegSerial(chunk_id)) on its disk's
  // target: dm-raid metadata in its first MiB, then length_mib of data.
  int64_t length_mib = 0;
  int status = 0;                    // 1 ALLOCATED (never used), 2 INSYNC, 3 SPARE (to rebuild)
  // The head's own, kept in its record only: dm raid copied every block
  // into this leg, so it is to be trimmed (Assembly::Watch).
  bool trim = false;
  // A discard of its trim overran its deadline: out of the raid for good,
  // reported dead until the manager replaces it.
  bool poisoned = false;
  bool fresh() const { return status == 1; }
  bool insync() const { return status == 2; }
  // No portals: its disk is failed or offline; the raid runs without it.
  bool missing() const { return portals.empty(); }
  // Not a member of the raid: missing, or poisoned.
  bool absent() const { return missing() || poisoned; }
  bool rebuilding() const { return status == 3 && !missing(); }
};

struct MirrorSpec {
  int64_t mirror_id = 0, offset_gib = 0, capacity_gib = 0;
  std::vector<LegSpec> legs;
};

struct VolumeSpec {
  int64_t lvol_id = 0;
  std::string name;
  // The top device is loaded read-only (a snapshot); the raids and legs
  // under it are not (dm raid writes its superblocks). The attach's, kept
  // in the record; absent from the call or an older record: false.
  bool read_only = false;
  std::vector<MirrorSpec> mirrors;  // in offset order, tiling the volume
};

// EINVAL naming the member for anything malformed or inconsistent.
Status ParseVolumeSpec(const Params& lvol, VolumeSpec* out);
// Same volume, same legs in the same places (leg status and flags aside).
bool SameLayout(const VolumeSpec& a, const VolumeSpec& b);

// The record keeps read_only and the legs' trim and poisoned flags; one
// without them (written before they existed) reads them as false.
std::string EncodeVolumeRecord(const VolumeSpec& spec, const std::string& chap_user, const std::string& chap_secret);
Status DecodeVolumeRecord(const std::string& text, VolumeSpec* spec, std::string* chap_user, std::string* chap_secret);

}  // namespace vastsky
