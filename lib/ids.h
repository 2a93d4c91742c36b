// How VastSky shows and reads object ids: "lvol-0000002a", as 3.0 did.
// Ids are positive ints (<= 0x7fffffff) in one space per kind.
#pragma once

#include <cstdint>
#include <string>

namespace vastsky {

// prefix is "lvol", "mirr", "dext", "pdsk", "ssvr" or "hsvr".
std::string FormatId(const char* prefix, int64_t id);

// A leg's thin device id in its disk's pool: dm-thin's ids are 24 bits; the
// manager assigns them per disk from 1, never reusing one.
constexpr int64_t kMaxThinId = (int64_t{1} << 24) - 1;
// The most [begin, count] block ranges a legMap answer carries (storage
// agent and manager alike, under 20 MiB of XML-RPC): a thin mapped in more
// pieces is E2BIG, never cut short, and its mirror's new leg not trimmed.
constexpr int64_t kMaxLegMapRanges = 262144;
// listChangedBlocks' unit: xapi's changed-block tracking counts 64 KiB
// blocks, and dm-thin's smallest block is 64 KiB too.
constexpr int64_t kChangedBlockKib = 64;
// The most [begin, count] ranges one listChangedBlocks answer carries
// (about 60 MiB of XML-RPC): beyond it, E2BIG.
constexpr int64_t kMaxChangedRanges = 4 * kMaxLegMapRanges;
// Accepts "<prefix>-XXXXXXXX" or exactly 8 hex digits (3.0's rule); anything
// else is not an id (for volumes it is then a name). Returns false if not.
bool ParseId(const std::string& s, const char* prefix, int64_t* id);

// 3.0's volume name rule: 1..64 chars of [A-Za-z0-9._-], not "." or "..",
// and not something ParseId would read as an lvol id.
bool ValidVolumeName(const std::string& name, std::string* why);

// A volume named by id or by name; a non-zero id wins.
struct VolumeRef {
  int64_t id = 0;
  std::string name;
};

// The iSCSI name of a disk's target: one target per disk, a LUN per leg. The
// manager hands it to heads; the storage agent exports under it.
std::string DiskIqn(int64_t pdsk_id);
// Where a storage server serves iSCSI on a data address: "ip:3260", an IPv6
// address in brackets ("[fd00::5]:3260").
std::string IscsiPortal(const std::string& ip);

}  // namespace vastsky
