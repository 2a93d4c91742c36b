#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/ids.h"
#include "lib/log.h"
#include "sm_plugin/commands.h"
#include "sm_plugin/faults.h"
#include "sm_plugin/naming.h"

namespace vastsky {
namespace sm {

Context::Context(const SmRequest& req, const HostSettings& host) : req_(req), host_(host) {
  if (!req.session_ref.empty()) {
    api_.reset(new XenApi(host.xapi_socket, req.session_ref, req.subtask_of));
    db_.reset(new XapiDb(api_.get()));
  }
}

Context::~Context() {
  if (sr_lock_fd_ >= 0) close(sr_lock_fd_);  // releases the flock
}

Status Context::RequireDb() {
  if (db_) return Status::OK();
  return Fail(kBadRequest, req_.command + " needs an xapi session");
}

Status Context::LockSr() {
  if (sr_lock_fd_ >= 0) return Status::OK();
  if (!ValidUuid(req_.sr_uuid)) return Fail(kBadRequest, "sr_uuid '" + req_.sr_uuid + "' is not a uuid");
  const std::string dir = host_.lock_dir + "/" + req_.sr_uuid, path = dir + "/sr";
  if (mkdir(host_.lock_dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Fail(kSmGeneral, "cannot create " + host_.lock_dir + ": " + strerror(errno));
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Fail(kSmGeneral, "cannot create " + dir + ": " + strerror(errno));
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(kSmGeneral, "cannot open the SR lock " + path + ": " + strerror(errno));
  while (flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const int e = errno;
    close(fd);
    return Fail(kSmGeneral, "cannot lock " + path + ": " + strerror(e));
  }
  sr_lock_fd_ = fd;
  return Status::OK();
}

Status Context::Connect(Cluster** cluster, const SrConfig** config) {
  if (!cluster_) {
    VS_RETURN_IF_ERROR(ParseSrConfig(req_.device_config, host_, db_.get(), &config_));
    cluster_.reset(new Cluster(config_.managers, config_.user, config_.secret, host_.ca_file));
  }
  *cluster = cluster_.get();
  if (config) *config = &config_;
  return Status::OK();
}

Status Context::LocalHead(int64_t* hsvrid) {
  Status st = host_.HeadServerId(hsvrid);
  if (!st.ok()) return Fail(kNoHeadServer, st.message());
  Cluster* cluster;
  VS_RETURN_IF_ERROR(Connect(&cluster));
  int priority = 0;
  st = cluster->HeadPriority(*hsvrid, &priority);
  if (st.code() == ENOENT)
    return Fail(kNoHeadServer, "this host's head agent registered as " + FormatId("hsvr", *hsvrid) +
                                   ", which the manager no longer knows: restart vastsky-head-agent");
  VS_RETURN_IF_ERROR(FromCluster(st, kSmGeneral, "cannot check this host's head server"));
  if (priority != 1 && priority != 2)
    return Fail(kNoHeadServer, "this host's head server " + FormatId("hsvr", *hsvrid) +
                                   " is not live in the manager (priority " + std::to_string(priority) +
                                   "): is vastsky-head-agent running?");
  return Status::OK();
}

Status Context::RequireMaster() const {
  if (req_.master()) return Status::OK();
  return Fail(kNotMaster, req_.command + " runs only on the pool master (device_config SRmaster is not true)");
}

Status Context::VdiVolume(Volume* out) {
  Cluster* cluster;
  VS_RETURN_IF_ERROR(Connect(&cluster));
  if (!InSr(req_.vdi_location, req_.sr_uuid))
    return Fail(kVdiMissing, "VDI " + req_.vdi_uuid + ": location '" + req_.vdi_location + "' is not a volume of SR " +
                                 req_.sr_uuid);
  Status st = cluster->Find(req_.vdi_location, out);
  if (st.code() == ENOENT) return Fail(kVdiMissing, "VDI " + req_.vdi_uuid + ": volume " + req_.vdi_location + " is gone");
  return FromCluster(st, kSmGeneral, "cannot look up volume " + req_.vdi_location);
}

Status Context::SrVolumes(std::vector<Volume>* out) {
  Cluster* cluster;
  VS_RETURN_IF_ERROR(Connect(&cluster));
  std::vector<Volume> all;
  VS_RETURN_IF_ERROR(FromCluster(cluster->Volumes(&all), kSmGeneral, "cannot list the SR's volumes"));
  out->clear();
  for (const Volume& v : all)
    if (InSr(v.name, req_.sr_uuid)) out->push_back(v);
  return Status::OK();
}

Status Context::UpdateSrSizes(const std::vector<Volume>& volumes) {
  if (!db_) return Status::OK();
  Cluster* cluster;
  VS_RETURN_IF_ERROR(Connect(&cluster));
  ClusterStatus cs;
  VS_RETURN_IF_ERROR(FromCluster(cluster->Stat(&cs), kSmGeneral, "cannot read the cluster's capacity"));
  int64_t allocated = 0;
  for (const Volume& v : volumes) allocated += v.capacity_gib * kGiB;
  // The pool's space is shared by every SR on it: xapi shows the raw
  // capacity and what all copies of all volumes use.
  return FromXapi(db_->SetSrSizes(req_.sr_ref, cs.capacity_gib * kGiB, cs.used_gib * kGiB, allocated),
                  "cannot record the SR's sizes");
}

void Context::RefreshSrSizes() {
  std::vector<Volume> volumes;
  Status st = SrVolumes(&volumes);
  if (st.ok()) st = UpdateSrSizes(volumes);
  if (!st.ok()) VS_LOG_WARN("SR %s: sizes not refreshed (sr_update will): %s", req_.sr_uuid.c_str(), st.message().c_str());
}

}  // namespace sm
}  // namespace vastsky
