"""A VDI's whole life through VastSkySR on a real head (VM lab): the driver
runs as xapi runs it, against a live cluster and a fake XenAPI, and the
data on the device it hands out is checked by checksum, in the VDI, its
snapshots and a clone; the changed blocks between two snapshots include
what was written between them. Ends with
"driver steps: N passed, M failed".

usage: lifecycle.py MANAGER_URL SECRET_FILE WORK_DIR
(VASTSKY_SM_CONF must name the driver's settings; their xapi_socket is
where the fake XenAPI listens.)"""
import base64
import configparser
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from driver_steps import Steps, caller, start_xapi  # noqa: E402

MiB, GiB = 2**20, 2**30


def dd_write(device, offset, data, work):
    src = os.path.join(work, "chunk")
    with open(src, "wb") as f:
        f.write(data)
    subprocess.run(["dd", "if=" + src, "of=" + device, "bs=1M", "seek=%d" % (offset // MiB), "oflag=direct",
                    "conv=notrunc", "status=none"], check=True, timeout=600)


def dd_sha(device, offset, length):
    p = subprocess.run(["dd", "if=" + device, "bs=1M", "skip=%d" % (offset // MiB), "count=%d" % (length // MiB),
                        "iflag=direct", "status=none"], stdout=subprocess.PIPE, check=True, timeout=600)
    return hashlib.sha256(p.stdout).hexdigest()


def main():
    manager, secret_file, work = sys.argv[1:4]
    conf = configparser.ConfigParser()
    conf.read(os.environ["VASTSKY_SM_CONF"])
    x = start_xapi(conf["sm"]["xapi_socket"], work)
    host = x.host_refs()[0]
    sr_ref = x.add_sr()
    secret = open(secret_file).read().strip()
    dc = {"manager": manager, "password_secret": x.add_secret(secret), "redundancy": "2"}
    sm = caller(x, sr_ref, dc, host)
    state = {}

    def create():
        sm("sr_create", ["0"])
        sm("sr_attach")
        r = sm("vdi_create", [str(2 * GiB), "lifecycle", "", "", "false", "19700101T00:00:00Z", "", "false"],
               vdi_type="user", vdi_sm_config={})
        state["vdi"], rec = x.vdi_by_uuid(r["uuid"])
        assert rec and rec["location"] == r["location"] and int(rec["virtual_size"]) == 2 * GiB

    def attach_activate():
        a = sm("vdi_attach", ["true"], vdi=state["vdi"])
        sm("vdi_activate", ["true"], vdi=state["vdi"])
        dev = a["params"]
        assert os.path.exists(dev), dev
        out = subprocess.run(["blockdev", "--getsize64", dev], stdout=subprocess.PIPE, check=True).stdout
        assert int(out) == int(x.vdis[state["vdi"]]["virtual_size"]), (out, x.vdis[state["vdi"]])
        assert [k for k in x.vdis[state["vdi"]]["sm_config"] if k.startswith("host_")] == ["host_" + host]
        state["dev"] = dev

    def write_data():
        state["data"] = {}
        for off in (0, GiB - 8 * MiB, 2 * GiB - 16 * MiB):  # start, across a mirror boundary, the end
            data = os.urandom(16 * MiB)
            dd_write(state["dev"], off, data, work)
            state["data"][off] = hashlib.sha256(data).hexdigest()
        verify()

    def verify(dev=None, data=None):
        for off, want in (data or state["data"]).items():
            got = dd_sha(dev or state["dev"], off, 16 * MiB)
            assert got == want, "data at %d MiB differs" % (off // MiB)

    def grow_online():
        # The device stays open (as a VM's blkback holds it) across the resize.
        fd = os.open(state["dev"], os.O_RDONLY)
        try:
            r = sm("vdi_resize", [str(3 * GiB)], vdi=state["vdi"])
            assert r["location"] == x.vdis[state["vdi"]]["location"]
            assert int(x.vdis[state["vdi"]]["virtual_size"]) == 3 * GiB
            out = subprocess.run(["blockdev", "--getsize64", state["dev"]], stdout=subprocess.PIPE, check=True).stdout
            assert int(out) == 3 * GiB, out
            data = os.urandom(16 * MiB)
            dd_write(state["dev"], 3 * GiB - 16 * MiB, data, work)
            state["data"][3 * GiB - 16 * MiB] = hashlib.sha256(data).hexdigest()
            verify()
        finally:
            os.close(fd)

    def deactivate_detach():
        sm("vdi_deactivate", vdi=state["vdi"])
        sm("vdi_detach", vdi=state["vdi"])
        assert not [k for k in x.vdis[state["vdi"]]["sm_config"] if k.startswith("host_")]
        assert not os.path.exists(state["dev"]), "the device is gone after detach"

    def reattach_verify():
        attach_activate()
        verify()
        deactivate_detach()

    def derive(command, vdi):
        r = sm(command, vdi=vdi, driver_params={})
        ref, rec = x.vdi_by_location(sr_ref, r["location"])  # as xapi finds it
        assert rec and rec["uuid"] == r["uuid"], r
        state.setdefault("family", []).insert(0, ref)
        return ref, rec

    def attached(vdi, writable):
        w = "true" if writable else "false"
        dev = sm("vdi_attach", [w], vdi=vdi)["params"]
        sm("vdi_activate", [w], vdi=vdi)
        return dev

    def released(vdi):
        sm("vdi_deactivate", vdi=vdi)
        sm("vdi_detach", vdi=vdi)

    def snapshots_and_changed_blocks():
        attach_activate()
        sm("vdi_enable_cbt", vdi=state["vdi"])
        snap, rec = derive("vdi_snapshot", state["vdi"])  # the volume is frozen through the head
        assert rec["is_a_snapshot"] and rec["snapshot_of"] == state["vdi"] and rec["read_only"], rec
        state["at_snapshot"], state["snap"] = dict(state["data"]), snap
        data = os.urandom(16 * MiB)
        dd_write(state["dev"], 0, data, work)
        state["data"][0] = hashlib.sha256(data).hexdigest()
        snap2, _ = derive("vdi_snapshot", state["vdi"])
        bitmap = base64.b64decode(sm("vdi_list_changed_blocks", [snap2], vdi=snap))
        size = int(x.vdis[state["vdi"]]["virtual_size"])
        assert len(bitmap) == size // (64 * 1024) // 8, len(bitmap)
        assert bitmap[:32] == b"\xff" * 32, "the 16 MiB written at 0 are 256 changed blocks: %r" % bitmap[:32]
        assert not all(bitmap), "nothing else was written"
        deactivate_detach()
        dev = attached(snap, False)
        verify(dev, state["at_snapshot"])
        released(snap)

    def clone_of_snapshot():
        clone, rec = derive("vdi_clone", state["snap"])
        assert not rec["is_a_snapshot"] and not rec["read_only"], rec
        dev = attached(clone, True)
        verify(dev, state["at_snapshot"])
        data = os.urandom(16 * MiB)
        dd_write(dev, 0, data, work)
        verify(dev, {0: hashlib.sha256(data).hexdigest()})
        released(clone)
        reattach_verify()  # the VDI kept its own data

    def delete_all():
        for ref in state.get("family", []):
            sm("vdi_delete", vdi=ref)
        sm("vdi_delete", vdi=state["vdi"])
        assert state["vdi"] not in x.vdis
        sm("sr_detach")
        sm("sr_delete")

    steps = [("sr_create, sr_attach, vdi_create", create),
             ("vdi_attach + vdi_activate: the device exists with the VDI's size", attach_activate),
             ("checksummed data written and read back", write_data),
             ("vdi_resize while the device is open: the kernel sees the new size, data verifies", grow_online),
             ("vdi_deactivate + vdi_detach: tags balance, the device is gone", deactivate_detach),
             ("attached again: every byte still there", reattach_verify),
             ("vdi_snapshot while active; changed blocks between snapshots; the snapshot holds the old data",
              snapshots_and_changed_blocks),
             ("vdi_clone of a snapshot: writable, starts with the snapshot's data", clone_of_snapshot),
             ("vdi_delete, sr_detach, sr_delete", delete_all)]
    rc = Steps().run("driver steps", steps)
    x.stop()
    return rc

if __name__ == "__main__":
    sys.exit(main())
