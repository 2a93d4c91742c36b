#include "manager/types.h"

namespace vastsky {

const char* PriorityName(int priority) {
  switch (priority) {
    case kHigh: return "HIGH";
    case kLow: return "LOW";
    case kEvacuate: return "EVACUATE";
    case kOffline: return "OFFLINE";
    case kFaulty: return "FAULTY";
    case kHalt: return "HALT";
  }
  return "UNKNOWN";
}

const char* ChunkStatusName(int status) {
  switch (status) {
    case kAllocated: return "ALLOCATED";
    case kInsync: return "INSYNC";
    case kSpare: return "SPARE";
  }
  return "UNKNOWN";
}

const char* BindStatusName(int status) {
  switch (status) {
    case kUnbound: return "UNBOUND";
    case kBound: return "BOUND";
    case kBindError: return "ERROR";
  }
  return "UNKNOWN";
}

}  // namespace vastsky
