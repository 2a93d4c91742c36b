// Bounds a call that may block in the kernel (a dm ioctl or a write to a
// device whose iSCSI path died). The call runs on its own thread; if it
// has not returned within timeout_ms the caller gets ETIMEDOUT and the
// thread is left to finish (or stay stuck) on its own. So `fn` must own
// everything it touches: capture by value or shared_ptr, never references
// to the caller's stack.
#pragma once

#include <functional>
#include <string>

#include "lib/status.h"

namespace vastsky {

Status RunWithDeadline(int timeout_ms, const std::string& what, std::function<Status()> fn);

}  // namespace vastsky
