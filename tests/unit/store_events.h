// The events a Store recorded of one type, oldest first (for tests).
#pragma once

#include <string>
#include <vector>

#include <cppunit/extensions/HelperMacros.h>

#include "manager/store.h"

namespace vastsky {

inline std::vector<EventInfo> EventsOfType(Store* store, const std::string& type) {
  std::vector<EventInfo> all, out;
  CPPUNIT_ASSERT(store->ListEvents(0, 1000, &all).ok());
  for (const EventInfo& e : all)
    if (e.type == type) out.push_back(e);
  return out;
}

}  // namespace vastsky
