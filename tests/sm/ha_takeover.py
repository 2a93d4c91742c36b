"""xapi HA's own case through VastSkySR, on a real head (VM lab,
tests/vmlab/headcrash.sh): a VDI active on host B, whose power is cut, is
activated on host A as xapi HA does when it restarts the VM there. The
driver runs as sm_exec runs it, with a fake XenAPI knowing both hosts.

The calling script drives the steps through files in WORK_DIR: this
program writes `ha.volume` (the VDI's volume) and waits for `ha.on-peer`
(the script attached the volume on B's head through the manager, as B's
vdi_activate would, and wrote the data whose sha256 is in that file);
then for `ha.cut` (B's power is cut, the manager has not yet declared it
failed); then for `ha.released` (B fenced, the volume released). Ends with
"ha driver steps: N passed, M failed".

usage: ha_takeover.py MANAGER_URL SECRET_FILE WORK_DIR
(VASTSKY_SM_CONF names the driver's settings, as in lifecycle.py; its head
is host A's.)"""
import configparser
import hashlib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from driver_steps import Steps, caller, start_xapi  # noqa: E402
from smapi import Fault  # noqa: E402

MiB, GiB = 2**20, 2**30
VDI_IN_USE = 24  # sm_plugin/faults.h kVdiInUse


def wait_for(path, seconds=1800):
    deadline = time.time() + seconds
    while not os.path.exists(path):
        if time.time() > deadline:
            raise TimeoutError("no %s after %d s" % (path, seconds))
        time.sleep(0.2)
    with open(path) as f:
        return f.read().strip()


def main():
    manager, secret_file, work = sys.argv[1:4]
    conf = configparser.ConfigParser()
    conf.read(os.environ["VASTSKY_SM_CONF"])
    x = start_xapi(conf["sm"]["xapi_socket"], work, hosts=("host-a", "host-b"))
    host_a, host_b = x.host_refs()
    sr_ref = x.add_sr()
    dc = {"manager": manager, "password_secret": x.add_secret(open(secret_file).read().strip()), "redundancy": "2"}
    sm = caller(x, sr_ref, dc, host_a)
    state = {}

    def hosts_tagged():
        return sorted(k for k in x.vdis[state["vdi"]]["sm_config"] if k.startswith("host_"))

    def create():
        sm("sr_create", ["0"])
        sm("sr_attach")
        r = sm("vdi_create", [str(GiB), "ha", "", "", "false", "19700101T00:00:00Z", "", "false"],
               vdi_type="user", vdi_sm_config={})
        state["vdi"], _ = x.vdi_by_uuid(r["uuid"])
        with open(os.path.join(work, "ha.volume"), "w") as f:
            f.write(r["location"])

    def active_on_b():
        state["sha"] = wait_for(os.path.join(work, "ha.on-peer"))
        # What B's vdi_activate left in xapi's database.
        x.VDI_add_to_sm_config(state["vdi"], "host_" + host_b, "RW")

    def refused_while_b_unjudged():
        wait_for(os.path.join(work, "ha.cut"))
        try:
            sm("vdi_activate", ["true"], vdi=state["vdi"])
        except Fault as f:
            assert f.code == VDI_IN_USE, f
            assert hosts_tagged() == ["host_" + host_b], hosts_tagged()
            print("vdi_activate on A before the manager judged B: %s" % f.error, flush=True)
            return
        raise AssertionError("vdi_activate on A succeeded while B still held the volume")

    def activated_on_a():
        wait_for(os.path.join(work, "ha.released"))
        dev = sm("vdi_attach", ["true"], vdi=state["vdi"])["params"]
        sm("vdi_activate", ["true"], vdi=state["vdi"])
        assert hosts_tagged() == ["host_" + host_a], hosts_tagged()
        p = subprocess.run(["dd", "if=" + dev, "bs=1M", "count=64", "iflag=direct", "status=none"],
                           stdout=subprocess.PIPE, check=True, timeout=600)
        got = hashlib.sha256(p.stdout).hexdigest()
        assert got == state["sha"], "the 64 MiB B wrote read back differently: %s, want %s" % (got, state["sha"])
        print("the VDI active on A: host B's stale tag cleared, the 64 MiB B wrote read back (sha256 %s)" % got[:16],
              flush=True)

    def cleanup():
        sm("vdi_deactivate", vdi=state["vdi"])
        sm("vdi_detach", vdi=state["vdi"])
        sm("vdi_delete", vdi=state["vdi"])
        sm("sr_detach")
        sm("sr_delete")

    steps = [("sr_create, sr_attach, vdi_create (1 GiB)", create),
             ("the VDI active on host B (its head, through the manager), data written there", active_on_b),
             ("B's power cut: vdi_activate on A is VDI_IN_USE until the manager judges B", refused_while_b_unjudged),
             ("B fenced: vdi_attach + vdi_activate on A, as xapi HA does; B's data reads back", activated_on_a),
             ("vdi_deactivate, vdi_detach, vdi_delete, sr_detach, sr_delete", cleanup)]
    rc = Steps().run("ha driver steps", steps)
    x.stop()
    return rc

if __name__ == "__main__":
    sys.exit(main())
