// Head reconciliation: the database is the truth, and a head agent is
// brought back to it at every registration. A head cut off long enough to
// be fenced keeps its volumes assembled, though the manager released them
// (and perhaps attached them elsewhere): its access is revoked, every write
// there fails, and it would report their legs dead forever. So after a
// head registers, the recovery loop asks it what it holds (listVolumes)
// and detaches there every volume the database does not attach to it, in
// any state. Holding the head's turn (Attacher::HeadMutex) keeps this from
// crossing an attach or detach of the same head. A device still open (a
// VM not yet stopped) refuses with EBUSY: logged, and tried again at the
// head's next registration; other failures are retried each tick.
// Mark from any thread (never waits); RunPending from the recovery loop's
// work thread (it waits on the head's kernel). Thread-safe.
#pragma once

#include <cstdint>

#include "lib/status.h"
#include "manager/attacher.h"
#include "manager/marked_ids.h"
#include "manager/store.h"

namespace vastsky {

class HeadReconciler {
 public:
  HeadReconciler(Store* store, Attacher* attacher, Attacher::Locked locked)
      : store_(store), attacher_(attacher), locked_(std::move(locked)) {}

  // hsvr_id registered: reconcile it at the next RunPending.
  void Mark(int64_t hsvr_id) { pending_.Mark(hsvr_id); }
  void RunPending();
  // One head, now: EAGAIN naming the volumes it could not detach.
  Status Reconcile(int64_t hsvr_id);

 private:
  Store* store_;
  Attacher* attacher_;
  Attacher::Locked locked_;
  MarkedIds pending_;
};

}  // namespace vastsky
