// The SMAPIv1 commands VastSkySR implements (sm_plugin/README.md has the
// contract of each). A command returns OK with *result set, or a Status
// whose code is an sm::Fault. The Context gives each command what the
// request carries and opens the xapi session and the manager connection
// only when a command needs them.
#pragma once

#include <xmlrpc-c/base.hpp>

#include <memory>
#include <string>

#include "lib/status.h"
#include "sm_plugin/cluster.h"
#include "sm_plugin/sr_config.h"
#include "xapi/host_settings.h"
#include "xapi/smapi_wire.h"
#include "xapi/xapi_db.h"
#include "xapi/xenapi.h"

namespace vastsky {
namespace sm {

class Context {
 public:
  Context(const SmRequest& req, const HostSettings& host);

  const SmRequest& req() const { return req_; }
  const HostSettings& host() const { return host_; }
  // The xapi database through the session xapi gave; null if it gave none.
  XapiDb* db() { return db_.get(); }
  // Parses device-config and connects to the manager (once).
  Status Connect(Cluster** cluster, const SrConfig** config = nullptr);
  // This host's head server id, checked live with the manager (7203 if none).
  Status LocalHead(int64_t* hsvrid);
  // Faults unless the request says this host is the SR master.
  Status RequireMaster() const;
  // Faults (BadRequest) unless xapi gave a session.
  Status RequireDb();
  // Holds the SR's lock (lock_dir/<sr uuid>/sr, as SM's) until the command
  // ends: a scan never sees a volume whose VDI is still being introduced.
  Status LockSr();
  // The volume of the request's VDI, by location (144 VDIMissing if gone).
  Status VdiVolume(Volume* out);
  // Sets the SR's sizes in xapi from the manager and this SR's volumes.
  Status UpdateSrSizes(const std::vector<Volume>& volumes);
  // The volumes of this SR.
  Status SrVolumes(std::vector<Volume>* out);
  // After a VDI changed size or came or went: the SR's sizes again. The
  // VDI change has happened, so a failure here is only logged.
  void RefreshSrSizes();

 private:
  const SmRequest& req_;
  const HostSettings& host_;
  std::unique_ptr<XenApi> api_;
  std::unique_ptr<XapiDb> db_;
  SrConfig config_;
  std::unique_ptr<Cluster> cluster_;
  int sr_lock_fd_ = -1;

 public:
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
};

using Command = Status (*)(Context* ctx, xmlrpc_c::value* result);

Status DriverInfo(Context* ctx, xmlrpc_c::value* result);
Status SrCreate(Context* ctx, xmlrpc_c::value* result);
Status SrDelete(Context* ctx, xmlrpc_c::value* result);
Status SrAttach(Context* ctx, xmlrpc_c::value* result);
Status SrDetach(Context* ctx, xmlrpc_c::value* result);
Status SrScan(Context* ctx, xmlrpc_c::value* result);
Status SrProbe(Context* ctx, xmlrpc_c::value* result);
Status SrUpdate(Context* ctx, xmlrpc_c::value* result);
Status VdiCreate(Context* ctx, xmlrpc_c::value* result);
Status VdiDelete(Context* ctx, xmlrpc_c::value* result);
Status VdiAttach(Context* ctx, xmlrpc_c::value* result);
Status VdiDetach(Context* ctx, xmlrpc_c::value* result);
Status VdiActivate(Context* ctx, xmlrpc_c::value* result);
Status VdiDeactivate(Context* ctx, xmlrpc_c::value* result);
Status VdiResize(Context* ctx, xmlrpc_c::value* result);
Status VdiIntroduce(Context* ctx, xmlrpc_c::value* result);
Status VdiUpdate(Context* ctx, xmlrpc_c::value* result);
Status VdiGenerateConfig(Context* ctx, xmlrpc_c::value* result);
Status VdiAttachFromConfig(Context* ctx, xmlrpc_c::value* result);
Status VdiDetachFromConfig(Context* ctx, xmlrpc_c::value* result);
Status VdiEpoch(Context* ctx, xmlrpc_c::value* result);
Status VdiSnapshot(Context* ctx, xmlrpc_c::value* result);
Status VdiClone(Context* ctx, xmlrpc_c::value* result);
Status VdiEnableCbt(Context* ctx, xmlrpc_c::value* result);
Status VdiDisableCbt(Context* ctx, xmlrpc_c::value* result);
Status VdiDataDestroy(Context* ctx, xmlrpc_c::value* result);
Status VdiListChangedBlocks(Context* ctx, xmlrpc_c::value* result);

// What vdi_create, vdi_snapshot, vdi_clone, vdi_resize and vdi_introduce answer.
xmlrpc_c::value UuidLocation(const std::string& uuid, const std::string& location);
// The record a volume of the request's SR gets in xapi as VDI `uuid`:
// raw, kernel blkback (backend-kind=vbd), its sizes; a snapshot volume is
// read-only.
VdiIntroduction VdiRecordFor(const SmRequest& req, const Volume& v, const std::string& uuid);

// Bytes a volume takes on disks: every copy.
inline int64_t PhysicalBytes(const Volume& v) { return v.capacity_gib * v.redundancy * (int64_t(1) << 30); }

}  // namespace sm
}  // namespace vastsky
