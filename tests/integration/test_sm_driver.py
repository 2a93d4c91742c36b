"""VastSkySR conformance: the real driver binary, called exactly as xapi's
sm_exec calls it (tests/sm/smapi.py), against a real manager, three storage
agents and a head agent (sim host) on loopback, and a fake XenAPI on a unix
socket (tests/sm/fake_xapi.py) whose database must satisfy xapi's
post-conditions after every command: the VDI xapi looks up after
vdi_create/introduce/resize exists with that uuid and location, and the one
it looks up by location after vdi_snapshot/clone is the snapshot or clone
xapi expects; after sr_scan the SR's VDIs are exactly the pool's volumes by
location, snapshots still snapshots of their origins' VDIs; sizes are set;
activation tags balance."""
import base64
import calendar
import glob
import os
import shutil
import sys
import tempfile
import time
import unittest
import uuid as uuidlib
import xml.etree.ElementTree as ET

from harness import BIN_DIR, ROOT, SECRET, HeadAgent, Manager, StorageAgent, legs_of, req, stop_and_audit, wait_for

sys.path.insert(0, os.path.join(ROOT, "tests", "sm"))
from fake_xapi import FakeXapi  # noqa: E402
from smapi import Fault, check_result, parse_response, run_driver, sm_request  # noqa: E402

MiB, GiB = 2**20, 2**30
DRIVER = os.path.join(BIN_DIR, "VastSkySR")
PLUGIN = os.path.join(BIN_DIR, "vastsky-xapi-plugin")
# smint.ml's capability names: anything else xapi drops with a warning.
XAPI_CAPABILITIES = set("""SR_CREATE SR_DELETE SR_ATTACH SR_DETACH SR_SCAN SR_PROBE SR_UPDATE
SR_SUPPORTS_LOCAL_CACHING SR_METADATA SR_TRIM SR_MULTIPATH SR_CACHING SR_STATS VDI_CREATE VDI_DELETE
VDI_ATTACH VDI_DETACH VDI_MIRROR VDI_MIRROR_IN VDI_RESIZE VDI_RESIZE_ONLINE VDI_CLONE VDI_SNAPSHOT
VDI_ACTIVATE VDI_ACTIVATE_READONLY VDI_DEACTIVATE VDI_UPDATE VDI_INTRODUCE VDI_GENERATE_CONFIG
VDI_ATTACH_OFFLINE VDI_RESET_ON_BOOT VDI_CONFIG_CBT VDI_COMPOSE LARGE_VDI THIN_PROVISIONING
VDI_READ_CACHING VDI_REVERT""".split())


def write_sm_conf(path, head, secret_file, socket):
    with open(path, "w") as f:
        f.write("[sm]\nxapi_socket = %s\nhead_state_dir = %s\ndevice_dir = %s\nsecret_file = %s\nlock_dir = %s\n" % (
            socket, head.state_dir, os.path.join(head.state_dir, "sim", "dev", "vastsky"), secret_file,
            os.path.join(os.path.dirname(path), "locks")))


class SmDriverTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for b in (DRIVER, PLUGIN, StorageAgent.binary(), HeadAgent.binary()):
            if not os.path.exists(b):
                raise unittest.SkipTest("%s not built" % b)
        cls.dir = tempfile.mkdtemp(prefix="vastsky-sm-")
        cls.m = Manager().start()
        cls.api = cls.m.proxy()
        cls.agents = []
        try:
            for i in range(3):
                cls.agents.append(StorageAgent(cls.m, "127.0.0.%d" % (41 + i), disks_gib=(100,)).start())
            # Two XCP hosts, each with its head agent and its driver settings.
            cls.head = HeadAgent(cls.m, "127.0.0.51", "iqn.2024-01.org.example:xcp-a").start()
            cls.head_b = HeadAgent(cls.m, "127.0.0.52", "iqn.2024-01.org.example:xcp-b").start()
            cls.agents += [cls.head, cls.head_b]
            wait_for("disks", lambda: len(cls.api.listPhysicalDisks(req())) == 3)
            for h in (cls.head, cls.head_b):
                wait_for("the head's id file", lambda: os.path.exists(os.path.join(h.state_dir, "hsvrid")))
            cls.socket = os.path.join(cls.dir, "xapi")
            cls.conf = os.path.join(cls.dir, "sm.conf")
            write_sm_conf(cls.conf, cls.head, cls.m.secret_file, cls.socket)
            conf_b = os.path.join(cls.dir, "sm-b.conf")
            write_sm_conf(conf_b, cls.head_b, cls.m.secret_file, cls.socket)
            plugins = os.path.join(cls.dir, "plugins")
            os.makedirs(plugins)
            os.symlink(PLUGIN, os.path.join(plugins, "vastsky"))
            cls.env = dict(os.environ, VASTSKY_SM_CONF=cls.conf)
            cls.env_b = dict(os.environ, VASTSKY_SM_CONF=conf_b)
            cls.x = FakeXapi(cls.socket, plugin_dir=plugins, hosts=("host-a", "host-b")).start()
            cls.host, cls.host_b = cls.x.host_refs()
            cls.x.hosts[cls.host]["plugin_env"] = cls.env
            cls.x.hosts[cls.host_b]["plugin_env"] = cls.env_b
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "x", None):
            cls.x.stop()
        for a in cls.agents:
            a.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)
        stop_and_audit(cls.m)

    # --- xapi's side -------------------------------------------------------
    def new_sr(self, **dc):
        ref = self.x.add_sr()
        config = {"manager": self.m.url(user=None), "password_secret": self.x.add_secret(SECRET), "redundancy": "2"}
        config.update(dc)
        return ref, {k: v for k, v in config.items() if v is not None}

    def sm(self, command, args=(), sr=None, vdi=None, master=True, host=None, env=None, dc=None, **members):
        """Runs one command as xapi would, on `host` (default host-a; host-b
        runs with its own settings), and type-checks its result."""
        if host == self.host_b and env is None:
            env = self.env_b
        m = {"host_ref": host or self.host, "session_ref": self.x.session}
        dc = dc or {}
        if sr:
            sr_ref, dc = sr
            m.update(sr_ref=sr_ref, sr_uuid=self.x.srs[sr_ref]["uuid"])
        if vdi:  # make_call sends these with every VDI
            rec = self.x.vdis[vdi]
            m.update(vdi_ref=vdi, vdi_location=rec["location"], vdi_uuid=rec["uuid"], vdi_on_boot="persist",
                     vdi_allow_caching="false")
        m.update(members)
        request = sm_request(command, args, dc, master=master, **m)
        result = run_driver(DRIVER, request, env=env or self.env)
        check_result(command, result)
        return result

    def assertFault(self, error, fn, *args, **kw):
        with self.assertRaises(Fault, msg="want %s" % error) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.error, error, cm.exception)
        self.assertTrue(cm.exception.string, "a fault must say why")
        return cm.exception

    def create_vdi(self, sr, size, name="disk", **members):
        r = self.sm("vdi_create", [str(size), name, "a test disk", "", "false", "19700101T00:00:00Z", "", "false"],
                    sr=sr, vdi_type="user", vdi_sm_config={}, **members)
        ref, rec = self.x.vdi_by_uuid(r["uuid"])
        self.assertIsNotNone(ref, "xapi looks the new VDI up by uuid: it must be in the database")
        self.assertEqual(rec["location"], r["location"])
        self.assertGreaterEqual(int(rec["virtual_size"]), size)
        return ref

    def sr_with_vdi(self):
        """A new SR holding one 1 GiB VDI: (sr, vdi ref)."""
        sr = self.new_sr()
        self.sm("sr_create", ["0"], sr=sr)
        return sr, self.create_vdi(sr, GiB)

    def drop(self, sr, vdi):
        self.sm("vdi_delete", sr=sr, vdi=vdi)
        self.sm("sr_delete", sr=sr)

    def volumes(self):
        return {v["lvolname"]: v for v in self.api.listLogicalVolumes(req())}

    def assertScanned(self, sr):
        """xapi's view of the SR equals the pool's volumes, by location."""
        sr_uuid = self.x.srs[sr[0]]["uuid"]
        backend = {n for n in self.volumes() if n.startswith(self.tag(sr_uuid))}
        db = {v["location"] for v in self.x.vdis_of(sr[0]).values()}
        self.assertEqual(db, backend)
        self.assertTrue(self.x.srs[sr[0]]["sizes_set"])
        self.assertGreater(int(self.x.srs[sr[0]]["physical_size"]), 0)
        allocated = sum(v["capacity"] for n, v in self.volumes().items() if n in backend) * GiB
        self.assertEqual(int(self.x.srs[sr[0]]["virtual_allocation"]), allocated)

    def owner(self):
        """What an admin adds to make a volume the driver's user can see."""
        return {}

    def tag(self, sr_uuid):
        import base64
        return base64.urlsafe_b64encode(uuidlib.UUID(sr_uuid).bytes).decode().rstrip("=") + "."

    def host_tags(self, vdi):
        return {k: v for k, v in self.x.vdis[vdi]["sm_config"].items() if k.startswith("host_")}

    # --- tests -------------------------------------------------------------
    def test_driver_info_is_what_sm_list_shows(self):
        info = run_driver(DRIVER, sm_request("sr_get_driver_info", [], {}, host_ref=self.host), env=self.env)
        check_result("sr_get_driver_info", info)
        self.assertEqual(info["name"], "VastSky")
        self.assertEqual(info["required_api_version"], "1.0")
        version = open(os.path.join(ROOT, "lib", "version.h")).read()
        self.assertIn('"%s"' % info["driver_version"], version)
        caps = set(info["capabilities"])
        self.assertLessEqual(caps, XAPI_CAPABILITIES, "xapi drops unknown capabilities")
        for c in ("SR_PROBE", "SR_UPDATE", "VDI_CREATE", "VDI_DELETE", "VDI_ATTACH", "VDI_DETACH", "VDI_ACTIVATE",
                  "VDI_DEACTIVATE", "VDI_RESIZE", "VDI_RESIZE_ONLINE", "VDI_INTRODUCE", "VDI_UPDATE",
                  "VDI_GENERATE_CONFIG", "VDI_SNAPSHOT", "VDI_CLONE", "VDI_CONFIG_CBT"):
            self.assertIn(c, caps)
        keys = {c["key"] for c in info["configuration"]}
        self.assertTrue({"manager", "password_secret", "redundancy", "placement"} <= keys)

    def test_lifecycle(self):
        sr = self.new_sr()
        sr_ref = sr[0]
        self.assertIsNone(self.sm("sr_create", ["0"], sr=sr))
        self.assertTrue(self.x.srs[sr_ref]["sizes_set"], "sr_create sets the SR's sizes")
        self.sm("sr_attach", sr=sr)
        self.assertIn("dirty", self.x.srs[sr_ref]["other_config"], "a master's attach asks xapi to scan")
        self.sm("sr_scan", sr=sr)
        self.assertScanned(sr)

        vdi = self.create_vdi(sr, 5 * GiB + 1, name="disk one")
        rec = self.x.vdis[vdi]
        self.assertEqual(int(rec["virtual_size"]), 6 * GiB)
        self.assertEqual(rec["name_label"], "disk one")
        self.assertEqual(rec["sm_config"].get("backend-kind"), "vbd")
        vol = self.volumes()[rec["location"]]
        self.assertEqual((vol["capacity"], vol["redundancy"]), (6, 2))
        fixed = str(uuidlib.uuid4())
        vdi2 = self.create_vdi(sr, GiB, vdi_uuid=fixed)
        self.assertEqual(self.x.vdis[vdi2]["uuid"], fixed, "vdi_create honours xapi's vdi_uuid")
        self.assertFault("SR_BACKEND_FAILURE_43", self.create_vdi, sr, GiB, vdi_uuid=fixed)
        self.sm("sr_update", sr=sr)
        self.assertScanned(sr)

        # Attach and activate on this host: the device exists.
        a = self.sm("vdi_attach", ["true"], sr=sr, vdi=vdi)
        self.assertEqual(a["params_nbd"], "")
        self.assertEqual(a["xenstore_data"]["vdi-uuid"], rec["uuid"])
        self.assertEqual(self.sm("vdi_attach", ["true"], sr=sr, vdi=vdi), a, "a repeated attach is the same")
        self.sm("vdi_activate", ["true"], sr=sr, vdi=vdi)
        self.assertTrue(os.path.lexists(a["params"]), a)
        self.assertEqual(self.volumes()[rec["location"]]["hsvrid"], self.hsvr(self.head))
        self.assertEqual(self.host_tags(vdi), {"host_" + self.host: "RW"})
        self.sm("vdi_activate", ["true"], sr=sr, vdi=vdi)  # idempotent
        self.assertFault("VDI_IN_USE", self.sm, "vdi_activate", ["false"], sr=sr, vdi=vdi, host=self.host_b)
        self.assertFault("VDI_IN_USE", self.sm, "vdi_delete", sr=sr, vdi=vdi)
        self.assertFault("SR_DEVICE_IN_USE", self.sm, "sr_detach", sr=sr)

        # Online resize: xapi re-reads virtual_size from its database.
        r = self.sm("vdi_resize", [str(8 * GiB)], sr=sr, vdi=vdi)
        self.assertEqual(r, {"uuid": rec["uuid"], "location": rec["location"]})
        self.assertEqual(int(self.x.vdis[vdi]["virtual_size"]), 8 * GiB)
        self.assertEqual(self.volumes()[rec["location"]]["capacity"], 8)
        self.assertFault("SR_BACKEND_FAILURE_79", self.sm, "vdi_resize", [str(2 * GiB)], sr=sr, vdi=vdi)
        self.sm("vdi_resize", [str(8 * GiB)], sr=sr, vdi=vdi)  # same size: nothing to do

        self.sm("vdi_deactivate", sr=sr, vdi=vdi)
        self.assertEqual(self.host_tags(vdi), {}, "activate and deactivate tags balance")
        self.assertEqual(self.volumes()[rec["location"]]["hsvrid"], 0, "deactivate releases the volume")
        self.sm("vdi_deactivate", sr=sr, vdi=vdi)
        self.sm("vdi_detach", sr=sr, vdi=vdi)
        self.sm("vdi_detach", sr=sr, vdi=vdi)  # idempotent

        # The static-VDI path: the stored config replays without xapi.
        config = self.sm("vdi_generate_config", sr=sr, vdi=vdi)
        root = ET.fromstring(config)
        self.assertEqual(root.findtext("methodName"), "vdi_attach_from_config")
        self.assertNotIn("password_secret", config)
        a2 = run_driver(DRIVER, config, env=self.env)
        check_result("vdi_attach_from_config", a2)
        self.assertEqual(a2["params"], a["params"])
        self.assertNotIn("params_nbd", a2, "static-vdis would take it for an NBD URI")
        self.assertTrue(os.path.lexists(a2["params"]))
        detach = config.replace("vdi_attach_from_config", "vdi_detach_from_config")
        self.assertIsNone(run_driver(DRIVER, detach, env=self.env))
        self.assertEqual(self.volumes()[rec["location"]]["hsvrid"], 0)

        self.sm("vdi_update", sr=sr, vdi=vdi)
        self.sm("vdi_epoch_begin", sr=sr, vdi=vdi, vdi_on_boot="persist")
        self.sm("vdi_epoch_end", sr=sr, vdi=vdi, vdi_on_boot="persist")
        self.assertFault("SR_OPERATION_NOT_SUPPORTED", self.sm, "vdi_compose", [vdi2], sr=sr, vdi=vdi)

        # Changes behind xapi's back: sr_scan brings the database in line.
        sr_uuid = self.x.srs[sr_ref]["uuid"]
        outside = str(uuidlib.uuid4())
        self.api.createLogicalVolume(req(lvolname=self.tag(sr_uuid) + outside, capacity=1, redundancy=2,
                                         **self.owner()))
        self.api.deleteLogicalVolume(req(lvolname=self.x.vdis[vdi2]["location"]))
        self.sm("sr_scan", sr=sr)
        self.assertScanned(sr)
        self.assertIsNotNone(self.x.vdi_by_uuid(outside)[0], "a scanned volume keeps the uuid its name carries")
        self.assertNotIn(vdi2, self.x.vdis)

        # vdi_introduce of a volume xapi forgot.
        ref, _ = self.x.vdi_by_uuid(outside)
        location = self.x.vdis[ref]["location"]
        del self.x.vdis[ref]
        new = str(uuidlib.uuid4())
        r = self.sm("vdi_introduce", sr=sr, new_uuid=new, vdi_location=location, vdi_sm_config={})
        self.assertEqual(r, {"uuid": new, "location": location})
        self.assertIsNotNone(self.x.vdi_by_uuid(new)[0])
        self.assertFault("SR_BACKEND_FAILURE_43", self.sm, "vdi_introduce", sr=sr, new_uuid=str(uuidlib.uuid4()),
                         vdi_location=location, vdi_sm_config={})
        self.assertFault("SR_BACKEND_FAILURE_7209", self.sm, "vdi_introduce", sr=sr, new_uuid=str(uuidlib.uuid4()),
                         vdi_location="somebody-elses-volume", vdi_sm_config={})

        probe = self.sm("sr_probe", dc=sr[1], sr_sm_config={})
        self.assertIn(sr_uuid, [e.findtext("UUID") for e in ET.fromstring(probe).iter("SR")])

        self.assertFault("SR_NOT_EMPTY", self.sm, "sr_delete", sr=sr)
        for ref in list(self.x.vdis_of(sr_ref)):
            self.sm("vdi_delete", sr=sr, vdi=ref)
            self.assertNotIn(ref, self.x.vdis, "vdi_delete forgets the record")
        self.assertScanned(sr)
        self.sm("sr_detach", sr=sr)
        self.sm("sr_delete", sr=sr)
        self.assertEqual([n for n in self.volumes() if n.startswith(self.tag(sr_uuid))], [])
        # Every database call went through the session xapi gave.
        self.assertTrue(all(c[0] for c in self.x.calls))

    def hsvr(self, head):
        return int(open(os.path.join(head.state_dir, "hsvrid")).read())

    # --- snapshots, clones, changed blocks (spec14.md) ----------------------
    def derive(self, command, sr, vdi):
        """vdi_snapshot or vdi_clone as xapi runs it: the new VDI is found by
        location (storage_smapiv1.ml snapshot_and_clone), then vdi_update."""
        r = self.sm(command, sr=sr, vdi=vdi, driver_params={})
        ref, rec = self.x.vdi_by_location(sr[0], r["location"])
        self.assertIsNotNone(ref, "xapi finds the new VDI by location: it must be in the database")
        self.assertEqual(rec["uuid"], r["uuid"])
        self.assertEqual(rec["virtual_size"], self.x.vdis[vdi]["virtual_size"])
        self.assertEqual(rec["name_label"], self.x.vdis[vdi]["name_label"])
        self.assertEqual(rec["sm_config"].get("backend-kind"), "vbd")
        vols = self.volumes()
        self.assertEqual(vols[rec["location"]]["capacity"], vols[self.x.vdis[vdi]["location"]]["capacity"])
        self.sm("vdi_update", sr=sr, vdi=ref)
        self.assertEqual(rec["virtual_size"], self.x.vdis[vdi]["virtual_size"])
        return ref

    def assertSnapshotOf(self, snap, vdi, since=None):
        rec = self.x.vdis[snap]
        self.assertIs(rec["is_a_snapshot"], True)
        self.assertEqual(rec["snapshot_of"], vdi)
        self.assertIs(rec["read_only"], True)
        if since is not None:
            t = calendar.timegm(time.strptime(rec["snapshot_time"][:17], "%Y%m%dT%H:%M:%S"))
            self.assertTrue(since - 2 <= t <= time.time() + 2, rec["snapshot_time"])
        vol = self.volumes()[rec["location"]]
        self.assertIs(vol.get("read_only"), True, vol)

    def assertWritable(self, vdi):
        rec = self.x.vdis[vdi]
        self.assertIs(rec["is_a_snapshot"], False)
        self.assertEqual(rec["snapshot_of"], "OpaqueRef:NULL")
        self.assertIs(rec["read_only"], False)
        self.assertIs(self.volumes()[rec["location"]].get("read_only", False), False)

    def changed(self, sr, vdi_from, vdi_to):
        """vdi_list_changed_blocks as sm.ml sends it: vdi_ref is vdi_from,
        args the ref of vdi_to; the bitmap, decoded."""
        return base64.b64decode(self.sm("vdi_list_changed_blocks", [vdi_to], sr=sr, vdi=vdi_from), validate=True)

    def write_into_copies(self, location, offset, data):
        """Writes data at `offset` of each copy of a volume the way a head
        would leave it in the pools: into the thins' files of the sim
        storage agents (what their legDelta compares)."""
        ip_of = {s["ssvrid"]: s["ip_data"][0] for s in self.api.listStorageServers(req())}
        legs = legs_of(self.api.showLogicalVolume(req(lvolname=location)))
        self.assertTrue(legs)
        for leg in legs:
            spec = leg["lvolspec"]
            agent, = [a for a in self.agents if a.data_ip == ip_of[spec["ssvrid"]]]
            thin, = glob.glob(os.path.join(agent.state_dir, "sim-dm", "thin", "*", str(spec["thin_id"])))
            with open(thin, "r+b") as f:
                f.seek(offset)
                f.write(data)

    def test_snapshot_clone_and_changed_blocks(self):
        sr, vdi = self.sr_with_vdi()
        origin = self.x.vdis[vdi]
        self.sm("vdi_enable_cbt", sr=sr, vdi=vdi)
        self.assertIs(self.x.vdis[vdi]["cbt_enabled"], True)
        t0 = time.time()
        snap = self.derive("vdi_snapshot", sr, vdi)
        self.assertSnapshotOf(snap, vdi, since=t0)
        self.assertIs(self.x.vdis[snap]["cbt_enabled"], True, "a tracked VDI's snapshot is tracked (data_destroy needs it)")
        lvol = self.volumes()[self.x.vdis[snap]["location"]]
        self.assertIn({"lvolid": self.volumes()[origin["location"]]["lvolid"], "type": "snapshot"}, lvol["associated_to"])
        self.assertFault("SR_BACKEND_FAILURE_82", self.sm, "vdi_snapshot", sr=sr, vdi=snap, driver_params={})
        self.assertFault("SR_BACKEND_FAILURE_7208", self.sm, "vdi_snapshot", sr=sr, vdi=vdi, driver_params={},
                         master=False)
        snap2 = self.derive("vdi_snapshot", sr, vdi)
        self.assertSnapshotOf(snap2, vdi)

        # Nothing written: no block changed; one bit per 64 KiB of the VDI.
        blocks = int(origin["virtual_size"]) // 65536
        self.assertEqual(self.changed(sr, snap, snap2), bytes(blocks // 8))
        self.assertEqual(self.changed(sr, snap, vdi), bytes(blocks // 8), "the VDI itself as the target")
        self.assertFault("SR_BACKEND_FAILURE_460", self.changed, sr, snap, snap)
        self.assertFault("SR_BACKEND_FAILURE_460", self.changed, sr, vdi, snap)  # the base must be a snapshot
        # 64 KiB written in the middle of the active VDI's copies after a
        # snapshot (into the pools' thins: the sim head's writes reach no
        # pool): that block is marked (the copies' data starts after a
        # metadata MiB or before it: within 2 MiB).
        self.sm("vdi_attach", ["true"], sr=sr, vdi=vdi)
        self.sm("vdi_activate", ["true"], sr=sr, vdi=vdi)
        snap3 = self.derive("vdi_snapshot", sr, vdi)
        self.write_into_copies(origin["location"], 512 * MiB, os.urandom(65536))
        bits = self.changed(sr, snap3, vdi)
        marked = [i for i in range(blocks) if bits[i // 8] & (0x80 >> (i % 8))]
        self.assertTrue(marked, "the block written is marked")
        self.assertTrue(all(abs(i * 65536 - 512 * MiB) <= 2 * MiB for i in marked), marked[:8])
        self.assertEqual(self.changed(sr, snap, snap2), bytes(blocks // 8), "the snapshots still agree")
        self.sm("vdi_deactivate", sr=sr, vdi=vdi)
        self.sm("vdi_detach", sr=sr, vdi=vdi)

        clone = self.derive("vdi_clone", sr, vdi)
        self.assertWritable(clone)
        from_snap = self.derive("vdi_clone", sr, snap)  # xe vm-clone of a snapshot
        self.assertWritable(from_snap)
        for c in (clone, from_snap):
            lvol = self.volumes()[self.x.vdis[c]["location"]]
            self.assertEqual([a["type"] for a in lvol["associated_to"]], ["clone"], lvol)
        other = self.create_vdi(sr, GiB)
        self.assertFault("SR_BACKEND_FAILURE_460", self.changed, sr, snap, other)  # another family
        self.sm("vdi_delete", sr=sr, vdi=other)

        self.assertFault("SR_BACKEND_FAILURE_457", self.sm, "vdi_enable_cbt", sr=sr, vdi=snap)
        self.sm("vdi_disable_cbt", sr=sr, vdi=vdi)
        self.assertIs(self.x.vdis[vdi]["cbt_enabled"], False)
        self.sm("vdi_enable_cbt", sr=sr, vdi=vdi)

        # data_destroy after a backup: xapi marks the VDI cbt_metadata first;
        # the volume stays, the base of the next list_changed_blocks.
        self.x.vdis[snap]["type"] = "cbt_metadata"
        self.sm("vdi_data_destroy", sr=sr, vdi=snap)
        self.assertIn(self.x.vdis[snap]["location"], self.volumes())
        self.assertEqual(self.changed(sr, snap, snap2), bytes(blocks // 8))
        self.assertFault("SR_BACKEND_FAILURE_7211", self.sm, "vdi_data_destroy", sr=sr, vdi=clone)

        # A database that lost the SR's VDIs gets the families back from a scan.
        by_location = {self.x.vdis[r]["location"]: r for r in (vdi, snap, snap2, clone, from_snap)}
        for r in list(self.x.vdis_of(sr[0])):
            del self.x.vdis[r]
        self.sm("sr_scan", sr=sr)
        self.assertScanned(sr)
        new = {loc: self.x.vdi_by_location(sr[0], loc)[0] for loc in by_location}
        origin_ref = new[origin["location"]]
        for old in (snap, snap2):
            self.assertSnapshotOf(new[[k for k, v in by_location.items() if v == old][0]], origin_ref)
        for old in (clone, from_snap):
            self.assertWritable(new[[k for k, v in by_location.items() if v == old][0]])
        self.assertWritable(origin_ref)

        # The origin goes first (its snapshots stay); a rescan keeps them snapshots, of nothing.
        self.sm("vdi_delete", sr=sr, vdi=origin_ref)
        s2 = new[[k for k, v in by_location.items() if v == snap2][0]]
        location = self.x.vdis[s2]["location"]
        del self.x.vdis[s2]
        self.sm("sr_scan", sr=sr)
        ref, rec = self.x.vdi_by_location(sr[0], location)
        self.assertIs(rec["is_a_snapshot"], True)
        self.assertEqual(rec["snapshot_of"], "OpaqueRef:NULL")
        for r in list(self.x.vdis_of(sr[0])):
            self.sm("vdi_delete", sr=sr, vdi=r)
        self.assertScanned(sr)
        self.sm("sr_delete", sr=sr)

    def test_snapshot_of_an_active_vdi(self):
        """xe vm-snapshot of a running VM: the volume is attached (the
        manager freezes it through the head); the snapshot attaches
        read-only elsewhere."""
        sr, vdi = self.sr_with_vdi()
        self.sm("vdi_attach", ["true"], sr=sr, vdi=vdi)
        self.sm("vdi_activate", ["true"], sr=sr, vdi=vdi)
        snap = self.derive("vdi_snapshot", sr, vdi)
        self.assertSnapshotOf(snap, vdi)
        a = self.sm("vdi_attach", ["false"], sr=sr, vdi=snap, host=self.host_b)
        self.sm("vdi_activate", ["false"], sr=sr, vdi=snap, host=self.host_b)
        self.assertTrue(os.path.lexists(a["params"]))
        self.assertEqual(self.host_tags(snap), {"host_" + self.host_b: "RO"})
        lvolid = self.volumes()[self.x.vdis[snap]["location"]]["lvolid"]
        ro = os.path.join(self.head_b.state_dir, "sim", "dm", "mapper", "vastsky-%d.ro" % lvolid)
        self.assertTrue(os.path.exists(ro), "the head loads a snapshot's top device read-only (the sim marks it)")
        self.sm("vdi_deactivate", sr=sr, vdi=snap, host=self.host_b)
        self.sm("vdi_detach", sr=sr, vdi=snap, host=self.host_b)
        self.sm("vdi_deactivate", sr=sr, vdi=vdi)
        self.sm("vdi_detach", sr=sr, vdi=vdi)
        self.sm("vdi_delete", sr=sr, vdi=snap)
        self.drop(sr, vdi)

    def test_live_migration_and_ha_restart(self):
        """xenopsd's order for a live migration from A to B: B attaches while
        A still has the volume, A deactivates once the domain is suspended, B
        activates, A detaches. Then B dies: its tag stays, the manager
        releases its volume, and A's activation (an HA restart) must win."""
        sr, vdi = self.sr_with_vdi()
        location = self.x.vdis[vdi]["location"]
        self.sm("vdi_attach", ["true"], sr=sr, vdi=vdi)
        self.sm("vdi_activate", ["true"], sr=sr, vdi=vdi)
        b = self.sm("vdi_attach", ["true"], sr=sr, vdi=vdi, host=self.host_b)
        self.assertEqual(self.volumes()[location]["hsvrid"], self.hsvr(self.head), "still running on A")
        self.sm("vdi_deactivate", sr=sr, vdi=vdi)
        self.sm("vdi_activate", ["true"], sr=sr, vdi=vdi, host=self.host_b)
        self.assertEqual(self.volumes()[location]["hsvrid"], self.hsvr(self.head_b))
        self.assertTrue(os.path.lexists(b["params"]))
        self.sm("vdi_detach", sr=sr, vdi=vdi)
        self.assertEqual(self.volumes()[location]["hsvrid"], self.hsvr(self.head_b), "A's detach leaves B alone")
        self.assertEqual(self.host_tags(vdi), {"host_" + self.host_b: "RW"})
        # B dies; once the manager has fenced it the volume is free, the tag stale.
        self.api.detachLogicalVolume(req(lvolname=location))
        self.sm("vdi_attach", ["true"], sr=sr, vdi=vdi)
        self.sm("vdi_activate", ["true"], sr=sr, vdi=vdi)
        self.assertEqual(self.host_tags(vdi), {"host_" + self.host: "RW"})
        self.assertEqual(self.volumes()[location]["hsvrid"], self.hsvr(self.head))
        self.sm("vdi_deactivate", sr=sr, vdi=vdi)
        self.sm("vdi_detach", sr=sr, vdi=vdi)
        self.drop(sr, vdi)

    def test_activate_clears_an_error_on_its_own_head(self):
        """A manager restarted mid-attach leaves the volume ERROR (what the
        head holds is unknown); the next activation there detaches and
        attaches afresh instead of failing until an admin steps in."""
        sr, vdi = self.sr_with_vdi()
        location = self.x.vdis[vdi]["location"]
        self.sm("vdi_attach", ["true"], sr=sr, vdi=vdi)
        self.sm("vdi_activate", ["true"], sr=sr, vdi=vdi)
        lvolid = self.volumes()[location]["lvolid"]
        import sqlite3
        with sqlite3.connect(self.m.db) as db:  # what the manager records at such a restart
            db.execute("UPDATE attachment SET status = 2 WHERE lvol_id = ?", (lvolid,))
        self.assertEqual(self.volumes()[location]["bind_status"], 2)
        self.sm("vdi_activate", ["true"], sr=sr, vdi=vdi)
        v = self.volumes()[location]
        self.assertEqual((v["hsvrid"], v["bind_status"], v["bind_event"]), (self.hsvr(self.head), 1, 0))
        self.sm("vdi_deactivate", sr=sr, vdi=vdi)
        self.sm("vdi_detach", sr=sr, vdi=vdi)
        self.drop(sr, vdi)

    def test_sr_scan_repairs_backend_kind(self):
        sr, vdi = self.sr_with_vdi()
        del self.x.vdis[vdi]["sm_config"]["backend-kind"]
        self.sm("sr_scan", sr=sr)
        self.assertEqual(self.x.vdis[vdi]["sm_config"].get("backend-kind"), "vbd")
        self.drop(sr, vdi)

    def test_vdi_missing_and_master_only(self):
        sr, vdi = self.sr_with_vdi()
        self.assertFault("SR_BACKEND_FAILURE_7208", self.create_vdi, sr, GiB, master=False)
        self.assertFault("SR_BACKEND_FAILURE_7208", self.sm, "sr_scan", sr=sr, master=False)
        self.api.deleteLogicalVolume(req(lvolname=self.x.vdis[vdi]["location"]))
        self.assertFault("VDI_MISSING", self.sm, "vdi_attach", ["true"], sr=sr, vdi=vdi)
        self.assertIsNone(self.sm("vdi_delete", sr=sr, vdi=vdi), "deleting a VDI already gone succeeds")
        self.sm("sr_delete", sr=sr)

    def test_bad_input_gets_clear_faults(self):
        sr = self.new_sr()
        self.sm("sr_create", ["0"], sr=sr)
        args = ["", "", "", "false", "19700101T00:00:00Z", "", "false"]
        for size in ("abc", "0", "-5", str(2**61)):
            self.assertFault("SR_BACKEND_FAILURE_79", self.sm, "vdi_create", [size, "n"] + args[1:], sr=sr,
                             vdi_type="user", vdi_sm_config={})
        self.assertFault("SR_BACKEND_FAILURE_447", self.sm, "vdi_create", [str(GiB), "bad\u0085name"] + args[1:],
                         sr=sr, vdi_type="user", vdi_sm_config={})
        self.assertFault("SR_BACKEND_FAILURE_78", self.sm, "vdi_create", [str(GiB), "n"] + args[1:], sr=sr,
                         vdi_type="user", vdi_sm_config={"type": "vhd"})
        self.assertFault("SR_BACKEND_FAILURE_143", self.sm, "vdi_create", [str(GiB), "n"] + args[1:], sr=sr,
                         vdi_type="user", vdi_sm_config={}, vdi_uuid="not-a-uuid")
        self.assertFault("SR_BACKEND_FAILURE_44", self.sm, "vdi_create", [str(1000 * GiB), "n"] + args[1:], sr=sr,
                         vdi_type="user", vdi_sm_config={})
        self.assertEqual([v for v in self.x.vdis_of(sr[0])], [], "a failed create leaves nothing in xapi")
        # device-config
        for dc, error in (({"manager": None}, "SR_BACKEND_FAILURE_115"),
                          ({"manager": "ftp://x"}, "SR_BACKEND_FAILURE_7204"),
                          ({"redundancy": "1"}, "SR_BACKEND_FAILURE_7204"),
                          ({"redundancy": "many"}, "SR_BACKEND_FAILURE_7204"),
                          ({"placement": "rack"}, "SR_BACKEND_FAILURE_7204"),
                          ({"password_secret": str(uuidlib.uuid4())}, "SR_BACKEND_FAILURE_7204"),
                          ({"password_secret": None, "password": "wrong-secret-0123456789"}, "SR_BACKEND_FAILURE_7202"),
                          ({"manager": "http://127.0.0.1:9/RPC2"}, "SR_BACKEND_FAILURE_7201"),
                          ({"redundancy": "4"}, "SR_BACKEND_FAILURE_7205"),
                          ({"placement": "domain"}, "SR_BACKEND_FAILURE_7205")):
            self.assertFault(error, self.sm, "sr_create", ["0"], sr=self.new_sr(**dc))
        # the protocol itself
        self.assertFault("SR_BACKEND_FAILURE_143", self.sm, "sr_frobnicate", sr=sr)
        for argv in ([DRIVER], [DRIVER, "not xml"], [DRIVER, "<methodCall><methodName>sr_scan</methodName>"
                                                             "<params></params></methodCall>"], [DRIVER, "a", "b"]):
            import subprocess
            p = subprocess.run(argv, stdout=subprocess.PIPE, env=self.env)
            self.assertEqual(p.returncode, 0, "the driver always exits 0")
            result, fault = parse_response(p.stdout.decode())
            self.assertEqual(fault[0], 143, p.stdout)
        self.sm("sr_delete", sr=sr)

    def test_sr_create_needs_a_head_agent_on_every_host(self):
        sr = self.new_sr()
        lonely = self.x.add_sr()  # noqa: F841  (another SR does not matter)
        ref = "OpaqueRef:" + str(uuidlib.uuid4())
        conf = os.path.join(self.dir, "no-head.conf")
        with open(conf, "w") as f:
            f.write("[sm]\nhead_state_dir = %s\n" % os.path.join(self.dir, "nowhere"))
        self.x.hosts[ref] = {"uuid": str(uuidlib.uuid4()), "name_label": "host-without-head",
                             "plugin_env": dict(os.environ, VASTSKY_SM_CONF=conf)}
        try:
            f = self.assertFault("SR_BACKEND_FAILURE_7210", self.sm, "sr_create", ["0"], sr=sr)
            self.assertIn("host-without-head", f.string)
        finally:
            del self.x.hosts[ref]
        self.sm("sr_create", ["0"], sr=sr)
        self.sm("sr_delete", sr=sr)

    def test_sr_attach_clears_stale_tags_and_needs_the_head(self):
        sr, vdi = self.sr_with_vdi()
        self.x.vdis[vdi]["sm_config"]["host_" + self.host] = "RW"  # left by a crash
        self.sm("sr_attach", sr=sr)
        self.assertEqual(self.host_tags(vdi), {})
        conf = os.path.join(self.dir, "no-head.conf")
        with open(conf, "w") as f:
            f.write("[sm]\nxapi_socket = %s\nhead_state_dir = %s\nsecret_file = %s\n" % (
                self.socket, os.path.join(self.dir, "nowhere"), self.m.secret_file))
        self.assertFault("SR_BACKEND_FAILURE_7203", self.sm, "sr_attach", sr=sr,
                         env=dict(os.environ, VASTSKY_SM_CONF=conf))
        self.drop(sr, vdi)


class SmDriverTenantTest(SmDriverTest):
    """The same conformance run with every SR's device-config naming a
    tenant's credential (manager/API.md, "Tenants"), given both hosts'
    heads, as an admin sets up an XCP pool: the driver needs nothing a
    tenant may not do, and what it makes is the tenant's."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            heads = []
            for h in (cls.head, cls.head_b):
                with open(os.path.join(h.state_dir, "hsvrid")) as f:
                    heads.append(int(f.read()))
            r = cls.api.enrollTenant(req(tenant="xcp-pool", hsvrids=heads))
            cls.tenant_user, cls.tenant_secret = r["user"], r["secret"]
        except Exception:
            cls.tearDownClass()
            raise

    def owner(self):
        return {"tenant": "xcp-pool"}

    def new_sr(self, **dc):
        dc.setdefault("user", self.tenant_user)
        if dc.get("password_secret", "") is not None:
            dc.setdefault("password_secret", self.x.add_secret(self.tenant_secret))
        return super().new_sr(**dc)

    def test_volumes_are_the_tenants(self):
        sr, vdi = self.sr_with_vdi()
        location = self.x.vdis[vdi]["location"]
        self.assertEqual(self.volumes()[location]["tenant"], "xcp-pool")
        tenant = self.m.proxy(user=self.tenant_user, password=self.tenant_secret)
        self.assertIn(location, [v["lvolname"] for v in tenant.listLogicalVolumes(req())])
        self.drop(sr, vdi)
        # An admin's volume, even one named in the SR's way, is not the
        # tenant's: the driver's scan never sees it.
        sr = self.new_sr()
        self.sm("sr_create", ["0"], sr=sr)
        hidden = self.tag(self.x.srs[sr[0]]["uuid"]) + str(uuidlib.uuid4())
        self.api.createLogicalVolume(req(lvolname=hidden, capacity=1, redundancy=2))
        self.sm("sr_scan", sr=sr)
        self.assertEqual(self.x.vdis_of(sr[0]), {})
        self.api.deleteLogicalVolume(req(lvolname=hidden))
        self.sm("sr_delete", sr=sr)


if __name__ == "__main__":
    unittest.main()
