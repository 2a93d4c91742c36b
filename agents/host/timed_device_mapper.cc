// DeviceMapper decorator: every call under a deadline. Arguments are copied
// into the call and results come back through shared storage, because a
// call that times out keeps running on its own thread.
#include <memory>

#include "agents/host/device_mapper.h"
#include "lib/deadline.h"

namespace vastsky {

namespace {

class TimedDeviceMapper : public DeviceMapper {
 public:
  TimedDeviceMapper(std::shared_ptr<DeviceMapper> inner, int timeout_ms, int discard_timeout_ms)
      : inner_(std::move(inner)), timeout_ms_(timeout_ms), discard_timeout_ms_(discard_timeout_ms) {}

  Status Create(const std::string& name, const std::vector<DmTarget>& table, DmAccess access) override {
    auto in = inner_;
    return RunWithDeadline(timeout_ms_, "dm create " + name,
                           [in, name, table, access] { return in->Create(name, table, access); });
  }
  Status Remove(const std::string& name) override {
    auto in = inner_;
    return RunWithDeadline(timeout_ms_, "dm remove " + name, [in, name] { return in->Remove(name); });
  }
  Status Replace(const std::string& name, const std::vector<DmTarget>& table, DmAccess access) override {
    auto in = inner_;
    return RunWithDeadline(timeout_ms_, "dm reload " + name,
                           [in, name, table, access] { return in->Replace(name, table, access); });
  }
  Status GetInfo(const std::string& name, DmInfo* info) override {
    return Fetch<DmInfo>("dm info " + name, info, [name](DeviceMapper* dm, DmInfo* out) { return dm->GetInfo(name, out); });
  }
  Status GetTable(const std::string& name, std::vector<DmTarget>* table) override {
    return Fetch<std::vector<DmTarget>>("dm table " + name, table,
                                        [name](DeviceMapper* dm, std::vector<DmTarget>* out) { return dm->GetTable(name, out); });
  }
  Status GetStatus(const std::string& name, std::vector<DmTarget>* status) override {
    return Fetch<std::vector<DmTarget>>("dm status " + name, status,
                                        [name](DeviceMapper* dm, std::vector<DmTarget>* out) { return dm->GetStatus(name, out); });
  }
  Status GetIoStats(const std::string& name, BlockIoStats* out) override {
    return Fetch<BlockIoStats>("I/O counters of " + name, out,
                               [name](DeviceMapper* dm, BlockIoStats* o) { return dm->GetIoStats(name, o); });
  }
  Status List(std::vector<std::string>* names) override {
    return Fetch<std::vector<std::string>>("dm list", names,
                                           [](DeviceMapper* dm, std::vector<std::string>* out) { return dm->List(out); });
  }
  Status Message(const std::string& name, const std::string& message) override {
    auto in = inner_;
    return RunWithDeadline(timeout_ms_, "dm message '" + message + "' to " + name,
                           [in, name, message] { return in->Message(name, message); });
  }
  Status Suspend(const std::string& name) override {
    auto in = inner_;
    return RunWithDeadline(timeout_ms_, "dm suspend " + name, [in, name] { return in->Suspend(name); });
  }
  Status Resume(const std::string& name) override {
    auto in = inner_;
    return RunWithDeadline(timeout_ms_, "dm resume " + name, [in, name] { return in->Resume(name); });
  }
  Status Discard(const std::string& name, uint64_t offset_sectors, uint64_t length_sectors) override {
    auto in = inner_;
    return RunWithDeadline(discard_timeout_ms_, "discard on " + name,
                           [in, name, offset_sectors, length_sectors] { return in->Discard(name, offset_sectors, length_sectors); });
  }
  std::string DevicePath(const std::string& name) override { return inner_->DevicePath(name); }

 private:
  // Runs a query into shared storage and copies it out only if it finished.
  template <typename T, typename F>
  Status Fetch(const std::string& what, T* out, F query) {
    auto in = inner_;
    auto result = std::make_shared<T>();
    Status st = RunWithDeadline(timeout_ms_, what, [in, result, query] { return query(in.get(), result.get()); });
    if (st.ok()) *out = *result;
    return st;
  }

  std::shared_ptr<DeviceMapper> inner_;
  const int timeout_ms_, discard_timeout_ms_;
};

}  // namespace

std::unique_ptr<DeviceMapper> WithDeadlines(std::shared_ptr<DeviceMapper> inner, int timeout_ms, int discard_timeout_ms) {
  return std::unique_ptr<DeviceMapper>(
      new TimedDeviceMapper(std::move(inner), timeout_ms, discard_timeout_ms > 0 ? discard_timeout_ms : timeout_ms));
}

}  // namespace vastsky
