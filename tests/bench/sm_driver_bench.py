"""The XCP driver's cost per xapi operation: VastSkySR is exec'd once per
SMAPIv1 call, so its start-up, its manager round trips and its XenAPI
calls are what a VM start or a vdi-create waits for (before the head's
kernel work, which the VM lab's datapath bench measures). A real manager,
three storage agents and a head agent (sim host) on loopback, a fake
XenAPI on a unix socket; each command is run ROUNDS times and its median
and 95th percentile printed against a target. Exits 1 only on errors."""
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "sm"))
from harness import BIN_DIR, SECRET, HeadAgent, Manager, StorageAgent, req, wait_for  # noqa: E402
from fake_xapi import FakeXapi  # noqa: E402
from smapi import run_driver, sm_request  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_SM_ROUNDS", "20"))
SCAN_VDIS = int(os.environ.get("BENCH_SM_SCAN_VDIS", "200"))
DRIVER = os.path.join(BIN_DIR, "VastSkySR")
# Targets (ms): one operation of xapi's must not be held up by the driver.
TARGETS = {"sr_get_driver_info": 50, "vdi_create": 300, "vdi_attach": 150, "vdi_activate": 300,
           "vdi_deactivate": 300, "vdi_detach": 150, "vdi_delete": 300, "sr_update": 150}
SCAN_TARGET_MS = 3000


def main():
    work = tempfile.mkdtemp(prefix="vastsky-sm-bench-")
    m = Manager(extra_args=("--log-level", "warning")).start()
    api = m.proxy()
    daemons = []
    x = None
    errors = 0
    try:
        for i in range(3):
            daemons.append(StorageAgent(m, "127.0.0.%d" % (61 + i), disks_gib=(4000,)).start())
        head = HeadAgent(m, "127.0.0.71", "iqn.2024-01.org.example:bench").start()
        daemons.append(head)
        wait_for("disks", lambda: len(api.listPhysicalDisks(req())) == 3)
        wait_for("head id", lambda: os.path.exists(os.path.join(head.state_dir, "hsvrid")))
        conf = os.path.join(work, "sm.conf")
        with open(conf, "w") as f:
            f.write("[sm]\nxapi_socket = %s/xapi\nhead_state_dir = %s\ndevice_dir = %s\nlog_level = warning\n" % (
                work, head.state_dir, os.path.join(head.state_dir, "sim", "dev", "vastsky")))
        env = dict(os.environ, VASTSKY_SM_CONF=conf)
        plugins = os.path.join(work, "plugins")
        os.makedirs(plugins)
        os.symlink(os.path.join(BIN_DIR, "vastsky-xapi-plugin"), os.path.join(plugins, "vastsky"))
        x = FakeXapi(os.path.join(work, "xapi"), plugin_dir=plugins).start()
        x.plugin_env = env
        host = x.host_refs()[0]
        sr = x.add_sr()
        dc = {"manager": m.url(user=None), "password_secret": x.add_secret(SECRET), "redundancy": "2"}
        base = {"host_ref": host, "session_ref": x.session, "sr_ref": sr, "sr_uuid": x.srs[sr]["uuid"]}
        times = {}

        def call(command, args=(), vdi=None, **members):
            m2 = dict(base)
            if vdi:
                rec = x.vdis[vdi]
                m2.update(vdi_ref=vdi, vdi_location=rec["location"], vdi_uuid=rec["uuid"])
            m2.update(members)
            request = sm_request(command, args, {} if command == "sr_get_driver_info" else dc, **m2)
            t0 = time.perf_counter()
            r = run_driver(DRIVER, request, env=env)
            times.setdefault(command, []).append((time.perf_counter() - t0) * 1000)
            return r

        call("sr_create", ["0"])
        for _ in range(ROUNDS):
            call("sr_get_driver_info")
            r = call("vdi_create", [str(2**30), "bench", "", "", "false", "19700101T00:00:00Z", "", "false"],
                     vdi_type="user", vdi_sm_config={})
            vdi = x.vdi_by_uuid(r["uuid"])[0]
            call("vdi_attach", ["true"], vdi=vdi)
            call("vdi_activate", ["true"], vdi=vdi)
            call("sr_update")
            call("vdi_deactivate", vdi=vdi)
            call("vdi_detach", vdi=vdi)
            call("vdi_delete", vdi=vdi)
        for command, target in TARGETS.items():
            t = sorted(times[command])
            med, p95 = statistics.median(t), t[int(0.95 * (len(t) - 1))]
            print("bench: driver %-18s median %6.1f ms  p95 %6.1f ms  (target median <= %d ms) %s" % (
                command, med, p95, target, "ok" if med <= target else "MISS"))
        # sr_scan of an SR whose volumes xapi has never seen: every one introduced.
        tag = None
        for i in range(SCAN_VDIS):
            r = call("vdi_create", [str(2**30), "scan%d" % i, "", "", "false", "19700101T00:00:00Z", "", "false"],
                     vdi_type="user", vdi_sm_config={})
            tag = r["location"].split(".")[0]
        for ref in list(x.vdis_of(sr)):
            del x.vdis[ref]
        times.pop("sr_scan", None)
        call("sr_scan")
        introduce = times["sr_scan"][0]
        call("sr_scan")
        steady = times["sr_scan"][1]
        ok = len(x.vdis_of(sr)) == SCAN_VDIS and all(v["location"].startswith(tag) for v in x.vdis.values())
        errors += 0 if ok else 1
        print("bench: driver sr_scan of %d new VDIs %.0f ms, of %d known %.0f ms (target <= %d ms) %s" % (
            SCAN_VDIS, introduce, SCAN_VDIS, steady, SCAN_TARGET_MS,
            "ok" if ok and max(introduce, steady) <= SCAN_TARGET_MS else "MISS"))
        for ref in list(x.vdis_of(sr)):
            call("vdi_delete", vdi=ref)
        call("sr_delete")
    except Exception as e:  # an error, not a missed target
        print("bench: driver ERROR %s" % e)
        errors += 1
    finally:
        if x:
            x.stop()
        for d in daemons:
            d.cleanup()
        m.stop()
        shutil.rmtree(m.dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
