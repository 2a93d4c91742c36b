// Where a leg's dm-raid superblock says its mirror's resync stands, set so
// that the next assembly resyncs what the write-intent bitmap marks dirty
// (agents/PROTOCOL.md, "A head that stopped without a word").
//
// md marks a region dirty in every leg's bitmap before writing it there and
// clears the mark lazily after. md's own superblock also records that the
// array was being written, so an assembly after a crash resyncs the dirty
// regions: the legs may differ exactly there, by the writes that were in
// flight on one leg and not the other. dm-raid's superblock records only
// the resync offset (array_resync_offset, "none left" while in sync), so
// after a crash md takes the array for clean, ignores the dirty regions,
// and the legs keep their difference: reads may then answer one leg's
// version now and the other's later. An offset of 0 makes md resync every
// region the bitmap marks dirty, and only those: after a clean stop none.
// Plain functions, thread-safe; each reads (and writes) one 4 KiB block.
#pragma once

#include <string>

#include "lib/status.h"

namespace vastsky {

// If the dm-raid superblock at byte 0 of path (a leg's meta slice) says no
// resync is left, it gets offset 0, the other bytes kept; a superblock
// whose resync stands elsewhere, or none ("DmRd" absent: a fresh or stale
// leg), is left alone.
Status ResyncDirtyRegions(const std::string& path);

}  // namespace vastsky
