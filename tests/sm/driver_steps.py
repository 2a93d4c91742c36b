"""What the VM-lab driver scripts (lifecycle.py, ha_takeover.py) share: the
fake XenAPI started with the vastsky host plugin, a caller that runs the
driver as sm_exec does on one host, and the steps with their counts."""
import os
import time
import traceback

from fake_xapi import FakeXapi
from smapi import check_result, run_driver, sm_request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("VS_BIN", os.path.join(ROOT, "build", "bin"))
DRIVER = os.path.join(BIN, "VastSkySR")


def start_xapi(socket_path, work, hosts=("host-a",)):
    """A fake XenAPI on socket_path whose hosts run the vastsky plugin."""
    plugins = os.path.join(work, "plugins")
    os.makedirs(plugins, exist_ok=True)
    if not os.path.exists(os.path.join(plugins, "vastsky")):
        os.symlink(os.path.join(BIN, "vastsky-xapi-plugin"), os.path.join(plugins, "vastsky"))
    x = FakeXapi(socket_path, plugin_dir=plugins, hosts=hosts).start()
    x.plugin_env = dict(os.environ)
    return x


def caller(x, sr_ref, device_config, host):
    """sm(command, args, vdi, **members): the driver run on `host` for the SR."""
    sr_uuid = x.srs[sr_ref]["uuid"]

    def sm(command, args=(), vdi=None, **members):
        m = {"host_ref": host, "session_ref": x.session, "sr_ref": sr_ref, "sr_uuid": sr_uuid}
        if vdi:
            rec = x.vdis[vdi]
            m.update(vdi_ref=vdi, vdi_location=rec["location"], vdi_uuid=rec["uuid"])
        m.update(members)
        r = run_driver(DRIVER, sm_request(command, args, device_config, **m))
        check_result(command, r)
        return r
    return sm


class Steps:
    """Runs (what, fn) steps in order, stopping at the first failure, and
    ends with "LABEL: N passed, M failed" (steps not run count as failed)."""

    def __init__(self):
        self.passed = self.failed = 0

    def check(self, what, fn):
        t0 = time.time()
        try:
            fn()
            print("PASS %s (%.1fs)" % (what, time.time() - t0), flush=True)
            self.passed += 1
            return True
        except Exception:
            print("FAIL %s\n%s" % (what, traceback.format_exc()), flush=True)
            self.failed += 1
            return False

    def run(self, label, steps):
        for what, fn in steps:
            if not self.check(what, fn):
                break
        print("%s: %d passed, %d failed" % (label, self.passed, len(steps) - self.passed))
        return 0 if self.passed == len(steps) else 1
