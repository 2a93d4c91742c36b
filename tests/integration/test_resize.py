"""resizeLogicalVolume (manager/API.md, "Growing a volume"): a detached
volume grown in the database (placement as create, the short mirror left in
the middle), the rules and bad input, ENOSPC changing nothing; attached
through the real head agent (host sim) while its device is open: the
device grows, the new disks are opened to the head, and a failed grow
(refused login, head down) is undone with only the new ACLs revoked, one
whose answer is lost leaves it ERROR and grown; EBUSY while an attach is in
transition. Every class ends with the audit."""
import os
import subprocess
import threading
import xmlrpc.client

from harness import ALLOCATED, BIN_DIR, BIND_ERROR, BOUND, INSYNC, HeadAgent, legs_of, req, wait_for
from test_attach_agents import IQN, Base, SilentPort

GIB = 1 << 30
MIRROR = 2


def mirrors_of(tree):
    """The MIRROR nodes of a volume's tree, in offset order."""
    out = []

    def walk(n):
        if n["lvoltype"] == MIRROR:
            out.append(n)
        for c in n.get("components", []):
            walk(c)

    walk(tree)
    return sorted(out, key=lambda m: m["lvolspec"]["offset"])


class Detached(Base):
    """Three storage servers, one 100 GiB disk each; no head."""
    agents_n = 3

    def test_grow_places_new_mirrors_after_the_short_one(self):
        v, name = self.create(capacity=6)  # mirrors of 4 and 2 GiB
        self.assertEqual(self.api.resizeLogicalVolume(req(lvolid=v, capacity=15)), 0)
        self.assertEqual(self.lvol(v)["capacity"], 15)
        tree = self.api.showLogicalVolume(req(lvolid=v))
        ms = mirrors_of(tree)
        self.assertEqual([m["lvolspec"]["offset"] for m in ms], [0, 4, 6, 10, 14])
        self.assertEqual([m["capacity"] for m in ms], [4, 2, 4, 4, 1])
        for m in ms:
            legs = legs_of(m)
            self.assertEqual(len(legs), 2)
            self.assertEqual(len({leg["lvolspec"]["ssvrid"] for leg in legs}), 2)  # apart
        self.assertEqual({leg["mirror_status"] for leg in legs_of(tree)}, {ALLOCATED})
        self.assertTrue([e for e in self.events(v) if e["type"] == "resize" and "15 GiB" in e["message"]])
        # By name, and the same size again is a no-op.
        self.assertEqual(self.api.resizeLogicalVolume(req(lvolname=name, capacity=16)), 0)
        self.assertEqual(self.api.resizeLogicalVolume(req(lvolname=name, capacity=16)), 0)
        self.assertEqual(len(mirrors_of(self.api.showLogicalVolume(req(lvolid=v)))), 6)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=v)), 0)

    def test_rules_and_bad_input(self):
        v, name = self.create(capacity=8)
        self.assertFault("EINVAL", self.api.resizeLogicalVolume, req(lvolid=v, capacity=7))  # no shrink
        for bad in (0, -1, 1048577, "9", 9.0, None):
            members = req(lvolid=v) if bad is None else req(lvolid=v, capacity=bad)
            self.assertFault("EINVAL", self.api.resizeLogicalVolume, members)
        self.assertFault("EINVAL", self.api.resizeLogicalVolume, req(capacity=9))  # no volume named
        self.assertFault("ENOENT", self.api.resizeLogicalVolume, req(lvolname="no-such-volume", capacity=9))
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            self.api.resizeLogicalVolume({"lvolid": v, "capacity": 9})  # no ver
        self.assertEqual(cm.exception.faultString, "EPROTO")
        s = self.api.createSnapshot(req(origin_lvolid=v, snapshot_lvolname="snap-%d" % v))
        # manager/API.md: a snapshot keeps its size; its origin may grow.
        self.assertFault("EINVAL", self.api.resizeLogicalVolume, req(lvolid=s, capacity=100))
        self.assertEqual(self.api.resizeLogicalVolume(req(lvolid=v, capacity=9)), 0)
        self.assertEqual((self.lvol(v)["capacity"], self.lvol(s)["capacity"]), (9, 8))
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=s)), 0)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=v)), 0)

    def test_enospc_changes_nothing(self):
        v, _ = self.create(capacity=10)
        before = self.api.showLogicalVolume(req(lvolid=v))
        avail = [s["available"] for s in self.api.listStorageServers(req())]
        events = len(self.api.listEvents(req(limit=10000)))
        self.assertFault("ENOSPC", self.api.resizeLogicalVolume, req(lvolid=v, capacity=200))
        self.assertEqual(self.api.showLogicalVolume(req(lvolid=v)), before)
        self.assertEqual([s["available"] for s in self.api.listStorageServers(req())], avail)
        self.assertEqual(len(self.api.listEvents(req(limit=10000))), events)
        self.assertEqual(self.api.resizeLogicalVolume(req(lvolid=v, capacity=100)), 0)  # what fits, fits
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=v)), 0)


class BusyInTransition(Base):
    """A head that never answers keeps an attach in transition: no grow meanwhile."""
    agents_n = 2
    manager_args = ("--agent-timeout", "3")

    def test_ebusy_while_attaching_and_in_error(self):
        silent = SilentPort()
        h = self.register_head("127.0.7.1", silent.url, IQN % 70)
        v, _ = self.create(capacity=2)
        done = threading.Event()

        def attach():
            try:
                self.m.proxy().attachLogicalVolume(req(lvolid=v, hsvrid=h))
            except xmlrpc.client.Fault:
                pass
            done.set()

        threading.Thread(target=attach, daemon=True).start()
        wait_for("the attach in transition", lambda: self.lvol(v)["bind_event"] == 1, 5)
        self.assertFault("EBUSY", self.api.resizeLogicalVolume, req(lvolid=v, capacity=4))
        self.assertTrue(done.wait(20))
        # The head never confirmed its undo: ERROR, and still no grow.
        self.assertEqual(self.lvol(v)["bind_status"], BIND_ERROR)
        self.assertFault("EBUSY", self.api.resizeLogicalVolume, req(lvolid=v, capacity=4))
        self.assertEqual(self.lvol(v)["capacity"], 2)
        silent.close()


class WithHeadAgent(Base):
    """The real head agent (host sim) holding the volume open while it grows."""
    agents_n = 3

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.head = HeadAgent(cls.m, "127.0.8.1", IQN % 80)
            cls.heads.append(cls.head)
            cls.head.start()
            url = cls.head.url(user=None)
            wait_for("the head", lambda: [h for h in cls.api.listHeadServers(req()) if h["url"] == url])
            cls.h = [h for h in cls.api.listHeadServers(req()) if h["url"] == url][0]["hsvrid"]
        except Exception:
            cls.tearDownClass()
            raise

    def on_head(self, v):
        return {x["lvolid"]: x for x in self.head.proxy().listVolumes(req())}[v]

    def device_file(self, v):
        """The simulated dm device: a sparse file the size of its table."""
        return os.path.join(self.head.state_dir, "sim", "dm", "mapper", "vastsky-%d" % v)

    def disks(self, v):
        return {leg["lvolspec"]["pdskid"] for leg in legs_of(self.api.showLogicalVolume(req(lvolid=v)))}

    def test_1_open_device_grows(self):
        v, _ = self.create(capacity=6)
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        self.assertEqual(self.on_head(v)["capacity_gib"], 6)
        marker = self.head.open_marker(v)
        open(marker, "w").close()  # a VM holds the device
        try:
            self.assertEqual(self.api.resizeLogicalVolume(req(lvolid=v, capacity=13)), 0)
            row = self.lvol(v)
            self.assertEqual((row["capacity"], row["bind_status"], row["bind_event"]), (13, BOUND, 0))
            tree = self.api.showLogicalVolume(req(lvolid=v))
            self.assertEqual({leg["mirror_status"] for leg in legs_of(tree)}, {INSYNC})
            self.assertEqual(self.allowed(), {IQN % 80: self.disks(v)})
            head = self.on_head(v)
            self.assertEqual((head["capacity_gib"], len(head["mirrors"]), head["open"]), (13, 4, True))
            self.assertEqual(os.path.getsize(self.device_file(v)), 13 * GIB)
            self.assertTrue([e for e in self.events(v) if e["type"] == "resize" and "13 GiB" in e["message"]])
            # A restarted head agent finds the grown volume as it left it.
            self.assertEqual(self.head.stop(), 0)
            self.head.start()
            self.assertEqual(self.on_head(v)["capacity_gib"], 13)
        finally:
            os.unlink(marker)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        self.assertEqual(self.allowed(), {})
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=v)), 0)

    def test_2_refused_login_is_undone(self):
        v, _ = self.create(capacity=2)
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        old_disks = self.disks(v)
        self.head.refuse_logins_to([d["pdskid"] for d in self.api.listPhysicalDisks(req())])
        try:
            self.assertFault("EACCES", self.api.resizeLogicalVolume, req(lvolid=v, capacity=10))
        finally:
            self.head.refuse_logins_to([])
        row = self.lvol(v)
        self.assertEqual((row["capacity"], row["bind_status"], row["bind_event"]), (2, BOUND, 0))
        self.assertEqual(len(mirrors_of(self.api.showLogicalVolume(req(lvolid=v)))), 1)
        # Only the grow's ACLs went: the volume's own disks stay open.
        self.assertEqual(self.allowed(), {IQN % 80: old_disks})
        self.assertEqual(self.on_head(v)["capacity_gib"], 2)
        errors = self.events(v, "error")
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("growLogicalVolume", errors[0]["message"])
        self.assertIn("EACCES", errors[0]["message"])
        # Let in, the same grow works.
        self.assertEqual(self.api.resizeLogicalVolume(req(lvolid=v, capacity=10)), 0)
        self.assertEqual(self.on_head(v)["capacity_gib"], 10)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=v)), 0)

    def test_3_head_down_is_undone(self):
        v, _ = self.create(capacity=2)
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        old_disks = self.disks(v)
        self.assertEqual(self.head.stop(), 0)
        try:
            # Refused: the head never saw the call, so undoing is safe.
            self.assertFault("ECONNREFUSED", self.api.resizeLogicalVolume, req(lvolid=v, capacity=9))
            row = self.lvol(v)
            self.assertEqual((row["capacity"], row["bind_status"], row["bind_event"]), (2, BOUND, 0))
            self.assertEqual(self.allowed(), {IQN % 80: old_disks})
        finally:
            self.head.start()
        self.assertEqual(self.on_head(v)["capacity_gib"], 2)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=v)), 0)

    def test_4_the_cli_grows_an_attached_volume(self):
        v, name = self.create(capacity=2)
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        p = subprocess.run([os.path.join(BIN_DIR, "vastsky"), "lvol", "resize", name, "--capacity", "5G",
                            "--manager", "http://127.0.0.1:%d/RPC2" % self.m.port, "--secret-file", self.m.secret_file],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.on_head(v)["capacity_gib"], 5)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=v)), 0)


class HeadAnswerLost(Base):
    """The head's answer to growLogicalVolume never comes (the manager's
    agent timeout): it may have grown the device, so the volume keeps its
    new size and its ACLs, ERROR; a detach clears it."""
    agents_n = 3
    manager_args = ("--agent-timeout", "3")

    def test_timeout_leaves_error_and_grown(self):
        head = HeadAgent(self.m, "127.0.9.1", IQN % 90)
        self.heads.append(head)
        head.start()
        url = head.url(user=None)
        wait_for("the head", lambda: [h for h in self.api.listHeadServers(req()) if h["url"] == url])
        h = [x for x in self.api.listHeadServers(req()) if x["url"] == url][0]["hsvrid"]
        v, _ = self.create(capacity=2)
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=h)), 0)
        silent = SilentPort()
        # The head's registered url now leads to a host that never answers.
        self.assertEqual(self.register_head("127.0.9.1", silent.url, IQN % 90, reconnect=True), h)
        try:
            self.assertFault("ETIMEDOUT", self.api.resizeLogicalVolume, req(lvolid=v, capacity=8))
        finally:
            silent.close()
        row = self.lvol(v)
        self.assertEqual((row["capacity"], row["bind_status"], row["bind_event"]), (8, BIND_ERROR, 0))
        disks = {leg["lvolspec"]["pdskid"] for leg in legs_of(self.api.showLogicalVolume(req(lvolid=v)))}
        self.assertEqual(self.allowed(), {IQN % 90: disks})  # the new legs' disks stay open too
        self.assertFault("EBUSY", self.api.resizeLogicalVolume, req(lvolid=v, capacity=9))
        self.assertEqual(self.register_head("127.0.9.1", url, IQN % 90, reconnect=True), h)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        self.assertEqual(self.allowed(), {})
        # Attached again, it is built whole at its new size.
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=h)), 0)
        self.assertEqual({x["lvolid"]: x for x in head.proxy().listVolumes(req())}[v]["capacity_gib"], 8)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
