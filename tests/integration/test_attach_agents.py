"""The manager driving attach and detach through the agents
(agents/PROTOCOL.md, "What the manager does"): registration of agent URLs,
initiators and CHAP; the undo of a failed attach against real storage
agents (target sim) with a head that refuses, hangs or has no agent;
a manager restarted mid-attach; and the whole round trip with the real
head agent (host sim). Schema 2 -> 3."""
import errno
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import xmlrpc.client

from harness import (ALLOCATED, BIND_ERROR, BOUND, INSYNC, ROOT, SECRET, T_HSVR, UNBOUND, BIN_DIR,
                     HeadAgent, Manager, StorageAgent, disk_sectors, free_port, legs_of, req, stop_and_audit,
                     wait_for)

BINDING, UNBINDING = 1, 2
IQN = "iqn.2024-01.org.example:head-%d"


class SilentPort:
    """A TCP port that completes the handshake and never answers: a hung
    host. close() turns it into a refused port."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d/RPC2" % self.port

    def close(self):
        self.sock.close()


def closed_port_url():
    return "http://127.0.0.1:%d/RPC2" % free_port()


class Base(unittest.TestCase):
    """A manager and `agents` storage agents (one 100 GiB sparse disk each)."""
    agents_n = 2
    manager_args = ()

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(StorageAgent.binary()):
            raise unittest.SkipTest("vastsky-storage-agent not built in this bin dir")
        cls.m = Manager(extra_args=cls.manager_args).start()
        cls.api = cls.m.proxy()
        cls.agents, cls.heads = [], []
        try:
            for i in range(cls.agents_n):
                cls.agents.append(StorageAgent(cls.m, "127.0.0.%d" % (21 + i), disks_gib=(100,)).start())
            wait_for("storage servers", lambda: len(cls.api.listStorageServers(req())) == cls.agents_n)
            wait_for("disks", lambda: len(cls.api.listPhysicalDisks(req())) == cls.agents_n)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for a in cls.agents + cls.heads:
            a.cleanup()
        stop_and_audit(cls.m)

    _n = 0

    def create(self, capacity=6, redundancy=2):
        Base._n += 1
        name = "att%d" % Base._n
        return self.api.createLogicalVolume(req(lvolname=name, capacity=capacity, redundancy=redundancy)), name

    def lvol(self, lvolid):
        return self.api.listLogicalVolumes(req(lvolid=lvolid))[0]

    def assertFault(self, name, fn, *args):
        with self.assertRaises(xmlrpc.client.Fault, msg="want %s" % name) as cm:
            fn(*args)
        self.assertEqual((cm.exception.faultCode, cm.exception.faultString), (getattr(errno, name), name),
                         cm.exception)
        return cm.exception

    def assertUnattached(self, lvolid):
        v = self.lvol(lvolid)
        self.assertEqual((v["hsvrid"], v["bind_status"], v["bind_event"]), (0, UNBOUND, 0), v)

    def allowed(self):
        """{initiator: set of pdskids} over every storage agent's exports."""
        out = {}
        for a in self.agents:
            for e in a.proxy().listExports(req()):
                for i in e["initiators"]:
                    out.setdefault(i, set()).add(e["pdskid"])
        return out

    def chap_seen_by_targets(self, initiator):
        """{(chap_user, chap_secret)} the simulated targets hold for initiator."""
        seen = set()
        for a in self.agents:
            path = os.path.join(a.state_dir, "sim-target")
            if os.path.exists(path):
                for line in open(path):
                    f = line.split()
                    if f and f[0] == "acl" and f[2] == initiator:
                        seen.add((f[3], f[4]))
        return seen

    def events(self, lvolid, level=None):
        return [e for e in self.api.listEvents(req(limit=10000))
                if e["target"] == "lvol" and e["targetid"] == lvolid and (level is None or e["level"] == level)]

    def register_head(self, ip, url, initiator, **kw):
        return self.api.registerHeadServer(req(ip_data=[ip], url=url, initiator=initiator, **kw))


class Registration(Base):
    agents_n = 1

    def test_bad_urls_and_initiators_are_einval(self):
        bad_urls = ["ftp://127.0.0.1/RPC2", "127.0.0.1:8882", "http://a b/RPC2", "http://x/\tRPC2",
                    "http://" + "a" * 1100, "https://"[:5],
                    # manager/API.md: plain HTTP to a network address would carry the secret in the clear
                    "http://10.0.0.5:8882/RPC2", "http://agent.example:8882/RPC2", "http://[2001:db8::5]:8882/"]
        for url in bad_urls:
            self.assertFault("EINVAL", self.api.registerHeadServer,
                             req(ip_data=["127.0.1.1"], url=url, initiator=IQN % 1))
            self.assertFault("EINVAL", self.api.registerStorageServer, req(ip_data=["127.0.1.2"], url=url))
        self.assertFault("EINVAL", self.api.registerHeadServer, req(ip_data=["127.0.1.1"], url=5, initiator=IQN % 1))
        for iqn in ("not-an-iqn", "IQN.2024-01.ORG.EXAMPLE:X", "iqn.2024-01.org.example:a b", ""):
            self.assertFault("EINVAL", self.api.registerHeadServer,
                             req(ip_data=["127.0.1.1"], url="http://127.0.0.1:1/RPC2", initiator=iqn))
        # An agent url is useless without the initiator the disks are opened to.
        self.assertFault("EINVAL", self.api.registerHeadServer, req(ip_data=["127.0.1.1"], url="http://127.0.0.1:1/"))
        self.assertEqual([h for h in self.api.listHeadServers(req()) if h["ip_data"] == ["127.0.1.1"]], [])
        self.assertEqual([s for s in self.api.listStorageServers(req()) if s["ip_data"] == ["127.0.1.2"]], [])

    def test_urls_initiators_and_chap(self):
        url1, url2 = "https://head-a.example:8882/RPC2", "http://127.0.0.1:18882/RPC2"
        h = self.register_head("127.0.2.1", url1, IQN % 2)
        row = self.api.listHeadServers(req(hsvrid=h))[0]
        self.assertEqual((row["url"], row["initiator"]), (url1, IQN % 2))
        self.assertFalse([k for k in row if "chap" in k], row)
        self.assertNotIn("vastsky-hsvr", repr(self.api.listHeadServers(req())))
        chap = self.db_chap(h)
        self.assertEqual(chap[0], "vastsky-hsvr-%08x" % h)
        self.assertRegex(chap[1], r"^[A-Za-z0-9]{16}$")
        # A reconnect updates url and initiator, and keeps the credentials.
        self.assertEqual(self.register_head("127.0.2.1", url2, IQN % 3, reconnect=True), h)
        row = self.api.listHeadServers(req(hsvrid=h))[0]
        self.assertEqual((row["url"], row["initiator"]), (url2, IQN % 3))
        self.assertEqual(self.db_chap(h), chap)
        # Absent members leave what is recorded; "" means no agent.
        self.assertEqual(self.api.registerHeadServer(req(ip_data=["127.0.2.1"], reconnect=True)), h)
        self.assertEqual(self.api.listHeadServers(req(hsvrid=h))[0]["url"], url2)
        self.assertEqual(self.api.registerHeadServer(req(ip_data=["127.0.2.1"], url="", reconnect=True)), h)
        self.assertEqual(self.api.listHeadServers(req(hsvrid=h))[0]["url"], "")
        # Heads get distinct credentials; an initiator belongs to one head.
        h2 = self.register_head("127.0.2.2", url1, IQN % 4)
        self.assertNotEqual(self.db_chap(h2)[1], chap[1])
        self.assertFault("EEXIST", self.api.registerHeadServer,
                         req(ip_data=["127.0.2.3"], url=url1, initiator=IQN % 3))
        # A 3.0 registration has neither.
        h3 = self.api.registerHeadServer(req(ip_data=["127.0.2.4"]))
        row = self.api.listHeadServers(req(hsvrid=h3))[0]
        self.assertEqual((row["url"], row["initiator"]), ("", ""))

    def test_storage_url_listed_and_updated(self):
        a = self.agents[0]
        s = [s for s in self.api.listStorageServers(req()) if s["ip_data"] == [a.data_ip]][0]
        self.assertEqual(s["url"], "http://127.0.0.1:%d/RPC2" % a.port)
        s2 = self.api.registerStorageServer(req(ip_data=["127.0.3.1"]))
        self.assertEqual(self.api.listStorageServers(req(ssvrid=s2))[0]["url"], "")
        self.assertEqual(self.api.registerStorageServer(req(ip_data=["127.0.3.1"], url="https://s:8883/RPC2",
                                                            reconnect=True)), s2)
        self.assertEqual(self.api.listStorageServers(req(ssvrid=s2))[0]["url"], "https://s:8883/RPC2")

    def db_chap(self, hsvrid):
        with sqlite3.connect("file:%s?mode=ro" % self.m.db, uri=True) as db:
            return db.execute("SELECT chap_user, chap_secret FROM hsvr WHERE id = ?", (hsvrid,)).fetchone()


class UndoWithoutHeadAgent(Base):
    """Failures before and at the head, with real storage agents. The head
    is a refused port, a silent one, or not there at all."""
    manager_args = ("--agent-timeout", "2")

    def test_1_refused_head_is_undone(self):
        h = self.register_head("127.0.4.1", closed_port_url(), IQN % 10)
        v, _ = self.create()
        self.assertFault("ECONNREFUSED", self.api.attachLogicalVolume, req(lvolid=v, hsvrid=h))
        self.assertUnattached(v)
        self.assertNotIn(IQN % 10, self.allowed())
        errors = self.events(v, "error")
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("hsvr-%08x" % h, errors[0]["message"])
        self.assertIn("attachLogicalVolume", errors[0]["message"])
        self.assertIn("ECONNREFUSED", errors[0]["message"])
        # Nothing was attached: the legs were never used.
        tree = self.api.showLogicalVolume(req(lvolid=v))
        self.assertEqual({leg["mirror_status"] for leg in legs_of(tree)}, {ALLOCATED})
        # And the volume is free to go elsewhere or away.
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=v)), 0)

    def test_2_hung_head_times_out_without_stalling_the_manager(self):
        silent = SilentPort()
        try:
            h = self.register_head("127.0.4.2", silent.url, IQN % 11)
            v, _ = self.create()
            result = {}
            t = threading.Thread(target=self.attach_in_background, args=(v, h, result))
            t.start()
            wait_for("the intent", lambda: self.lvol(v)["bind_event"] == BINDING, 5)
            row = self.lvol(v)
            self.assertEqual((row["hsvrid"], row["bind_status"]), (h, UNBOUND))
            wait_for("the ACLs", lambda: IQN % 11 in self.allowed(), 5)
            # The manager answers everyone else while the attach waits.
            t0 = time.time()
            self.assertEqual(self.api.heartbeat(req(hsvrid=h)), 0)
            self.api.listLogicalVolumes(req())
            self.assertLess(time.time() - t0, 1.0)
            self.assertFault("EBUSY", self.api.attachLogicalVolume, req(lvolid=v, hsvrid=h))
            self.assertFault("EBUSY", self.api.deleteLogicalVolume, req(lvolid=v))
            chap = self.chap_seen_by_targets(IQN % 11)
            self.assertEqual(len(chap), 1, chap)
            self.assertEqual(next(iter(chap))[0], "vastsky-hsvr-%08x" % h)
            t.join(30)
            self.assertEqual(result.get("fault"), "ETIMEDOUT", result)
            # The undo could not reach the head either: its state is unknown.
            # Access is revoked anyway; only a detach clears the volume.
            self.assertNotIn(IQN % 11, self.allowed())
            row = self.lvol(v)
            self.assertEqual((row["hsvrid"], row["bind_status"], row["bind_event"]), (h, BIND_ERROR, 0))
            self.assertFault("EBUSY", self.api.attachLogicalVolume, req(lvolid=v, hsvrid=h))
            self.assertFault("EBUSY", self.api.createSnapshot, req(origin_lvolid=v, snapshot_lvolname="s-" + str(v)))
            # The same credentials go out again after a reconnect.
            self.assertEqual(self.register_head("127.0.4.2", silent.url, IQN % 11, reconnect=True), h)
            v2, _ = self.create()
            result2 = {}
            t = threading.Thread(target=self.attach_in_background, args=(v2, h, result2))
            t.start()
            wait_for("the ACLs again", lambda: IQN % 11 in self.allowed(), 5)
            self.assertEqual(self.chap_seen_by_targets(IQN % 11), chap)
            t.join(30)
            self.assertEqual(result2.get("fault"), "ETIMEDOUT", result2)
            # This time the ACLs stay: the first volume, in ERROR on this
            # head, may still be using the same disks.
            self.assertIn(IQN % 11, self.allowed())
            # A detach the head does not answer leaves the volume in ERROR.
            silent.close()
            self.assertFault("ECONNREFUSED", self.api.detachLogicalVolume, req(lvolid=v))
            self.assertEqual(self.lvol(v)["bind_status"], BIND_ERROR)
        finally:
            silent.close()
        # 3.0's way out when a head is gone: report it failed.
        self.assertEqual(self.api.notifyFailure(req(target=T_HSVR, targetid=h)), 0)
        self.assertUnattached(v)
        self.assertUnattached(v2)

    def test_3_storage_server_without_url_is_enxio(self):
        # A third server that registered without an agent url (a 3.0 one).
        s = self.api.registerStorageServer(req(ip_data=["127.0.4.9"]))
        d = self.api.registerPhysicalDisk(req(ssvrid=s, local_path="/dev/disk/by-id/no-agent",
                                              capacity=disk_sectors(20)))
        try:
            h = self.register_head("127.0.4.3", closed_port_url(), IQN % 12)
            v, _ = self.create(capacity=4, redundancy=3)
            self.assertFault("ENXIO", self.api.attachLogicalVolume, req(lvolid=v, hsvrid=h))
            self.assertIn("ssvr-%08x has no agent url" % s, self.events(v, "error")[0]["message"])
            self.assertUnattached(v)
            self.assertNotIn(IQN % 12, self.allowed())
            self.assertEqual(len(self.events(v, "error")), 1)
            self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=v)), 0)
        finally:
            self.api.setPhysicalDiskWeight(req(pdskid=d, weight=0.0))

    def test_4_head_without_url_is_state_only(self):
        h = self.api.registerHeadServer(req(ip_data=["127.0.4.4"]))
        v, _ = self.create()
        before = self.allowed()
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=h)), 0)
        row = self.lvol(v)
        self.assertEqual((row["hsvrid"], row["bind_status"], row["bind_event"]), (h, BOUND, 0))
        self.assertEqual({leg["mirror_status"] for leg in legs_of(self.api.showLogicalVolume(req(lvolid=v)))},
                         {INSYNC})
        self.assertEqual(self.allowed(), before)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        self.assertUnattached(v)

    def attach_in_background(self, v, h, result):
        try:
            result["value"] = self.m.proxy().attachLogicalVolume(req(lvolid=v, hsvrid=h))
        except xmlrpc.client.Fault as f:
            result["fault"] = f.faultString
        except Exception as e:  # noqa: BLE001 - reported through result
            result["error"] = repr(e)


class RestartMidAttach(Base):
    """A manager killed while an attach waits on the head: restarted, it
    marks the volume ERROR; a detach tears down whatever exists."""
    manager_args = ("--agent-timeout", "60")

    def test_killed_mid_attach(self):
        silent = SilentPort()
        h = self.register_head("127.0.5.1", silent.url, IQN % 20)
        v, _ = self.create()
        other, _ = self.create()
        done = threading.Event()

        def attach():
            try:
                self.m.proxy().attachLogicalVolume(req(lvolid=v, hsvrid=h))
            except Exception:  # noqa: BLE001 - the manager dies under it
                pass
            done.set()

        threading.Thread(target=attach, daemon=True).start()
        wait_for("the ACLs", lambda: IQN % 20 in self.allowed(), 5)
        port = self.m.port
        self.assertEqual(self.m.stop(signal.SIGKILL), -signal.SIGKILL)
        silent.close()
        self.assertTrue(done.wait(10))
        self.m.port = port
        self.m.start()
        self.api = self.m.proxy()
        row = self.lvol(v)
        self.assertEqual((row["hsvrid"], row["bind_status"], row["bind_event"]), (h, BIND_ERROR, 0))
        errors = self.events(v, "error")
        self.assertTrue(any("manager stopped while attaching" in e["message"] for e in errors), errors)
        self.assertFault("EBUSY", self.api.attachLogicalVolume, req(lvolid=v, hsvrid=h))
        self.assertFault("EBUSY", self.api.deleteLogicalVolume, req(lvolid=v))
        self.assertUnattached(other)
        # The ACLs the dead attach granted are still there ...
        self.assertIn(IQN % 20, self.allowed())
        # ... until a detach that the head answers tears everything down.
        self.assertFault("ECONNREFUSED", self.api.detachLogicalVolume, req(lvolid=v))
        self.assertEqual(self.lvol(v)["bind_status"], BIND_ERROR)
        head = HeadAgent(self.m, "127.0.5.1", IQN % 20)
        self.heads.append(head)
        head.start()
        wait_for("the head agent's url", lambda: self.api.listHeadServers(req(hsvrid=h))[0]["url"] == head.url(user=None))
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        self.assertUnattached(v)
        self.assertNotIn(IQN % 20, self.allowed())


class WithHeadAgent(Base):
    """The real head agent (host sim) between the manager and the storage agents."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_head()

    @classmethod
    def start_head(cls):
        try:
            cls.head = HeadAgent(cls.m, "127.0.6.1", IQN % 30)
            cls.heads.append(cls.head)
            cls.head.start()
            wait_for("the head", lambda: [h for h in cls.api.listHeadServers(req()) if h["url"] == cls.head.url(user=None)])
            cls.h = [h for h in cls.api.listHeadServers(req()) if h["url"] == cls.head.url(user=None)][0]["hsvrid"]
        except Exception:
            cls.tearDownClass()
            raise

    def head_volumes(self):
        return {v["lvolid"]: v for v in self.head.proxy().listVolumes(req())}

    def test_1_attach_and_detach(self):
        v, name = self.create(capacity=6)
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        row = self.lvol(v)
        self.assertEqual((row["hsvrid"], row["bind_status"], row["bind_event"]), (self.h, BOUND, 0))
        tree = self.api.showLogicalVolume(req(lvolid=v))
        self.assertEqual({leg["mirror_status"] for leg in legs_of(tree)}, {INSYNC})
        disks = {leg["lvolspec"]["pdskid"] for leg in legs_of(tree)}
        self.assertEqual(self.allowed(), {IQN % 30: disks})
        on_head = self.head_volumes()[v]
        self.assertEqual(on_head["lvolname"], name)
        self.assertEqual(len(on_head["mirrors"]), 2)
        self.assertTrue(on_head["device"].endswith("/" + name), on_head)
        self.assertTrue(any(e["type"] == "attach" and on_head["device"] in e["message"] for e in self.events(v)))
        self.assertFault("EBUSY", self.api.attachLogicalVolume, req(lvolid=v, hsvrid=self.h))
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        self.assertUnattached(v)
        self.assertEqual(self.allowed(), {})
        self.assertNotIn(v, self.head_volumes())
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        # Attached again, by name: the legs are INSYNC now.
        self.assertEqual(self.api.attachLogicalVolume(req(lvolname=name, hsvrid=self.h)), 0)
        self.assertIn(v, self.head_volumes())
        self.assertEqual(self.api.detachLogicalVolume(req(lvolname=name)), 0)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=v)), 0)

    def test_1_state_only_attach_leaves_legs_to_create(self):
        # API.md, "Thin legs": a grant's legs have `create` "unless the leg
        # is INSYNC and was created"; 3.0's state-only attach creates
        # nothing. Before, the storage agents answered ENOENT for ever.
        plain = self.api.registerHeadServer(req(ip_data=["127.0.6.9"]))
        v, _ = self.create()
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=plain)), 0)
        self.assertEqual({leg["mirror_status"] for leg in legs_of(self.api.showLogicalVolume(req(lvolid=v)))},
                         {INSYNC})
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        self.assertIn(v, self.head_volumes())
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=v)), 0)

    def test_2_refused_login_is_undone(self):
        v, _ = self.create()
        tree = self.api.showLogicalVolume(req(lvolid=v))
        self.head.refuse_logins_to([legs_of(tree)[-1]["lvolspec"]["pdskid"]])
        try:
            self.assertFault("EACCES", self.api.attachLogicalVolume, req(lvolid=v, hsvrid=self.h))
        finally:
            self.head.refuse_logins_to([])
        self.assertUnattached(v)
        self.assertEqual(self.allowed(), {})
        self.assertNotIn(v, self.head_volumes())
        errors = self.events(v, "error")
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("hsvr-%08x" % self.h, errors[0]["message"])
        self.assertIn("attachLogicalVolume", errors[0]["message"])
        self.assertIn("EACCES", errors[0]["message"])
        self.assertEqual({leg["mirror_status"] for leg in legs_of(self.api.showLogicalVolume(req(lvolid=v)))},
                         {ALLOCATED})
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)

    def test_2_unmapped_lun_is_undone(self):
        """PROTOCOL.md: a LUN that does not show up (the target does not map it
        to this head) fails the step naming the leg's serial and the disk, and
        the attach undoes everything."""
        v, _ = self.create()
        leg = legs_of(self.api.showLogicalVolume(req(lvolid=v)))[-1]
        self.head.refuse_luns([leg["lvolid"]])
        try:
            self.assertFault("ENXIO", self.api.attachLogicalVolume, req(lvolid=v, hsvrid=self.h))
        finally:
            self.head.refuse_luns([])
        self.assertUnattached(v)
        self.assertEqual(self.allowed(), {})
        self.assertNotIn(v, self.head_volumes())
        errors = self.events(v, "error")
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("ENXIO", errors[0]["message"])
        # The head's log names the leg and its disk.
        line = [l for l in self.head.read_log().splitlines() if "attach of lvol-%08x" % v in l][-1]
        self.assertIn("leg-%08x" % leg["lvolid"], line)
        self.assertIn("pdsk-%08x" % leg["lvolspec"]["pdskid"], line)
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)

    def test_3_open_device_refuses_detach(self):
        v, _ = self.create()
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        marker = self.head.open_marker(v)
        open(marker, "w").close()
        try:
            self.assertFault("EBUSY", self.api.detachLogicalVolume, req(lvolid=v))
            row = self.lvol(v)
            self.assertEqual((row["hsvrid"], row["bind_status"], row["bind_event"]), (self.h, BOUND, 0))
            self.assertIn(IQN % 30, self.allowed())
            self.assertIn(v, self.head_volumes())
        finally:
            os.unlink(marker)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        self.assertEqual(self.allowed(), {})

    def test_4_disks_shared_with_another_volume_stay_open(self):
        v1, _ = self.create()
        v2, _ = self.create()
        for v in (v1, v2):
            self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        both = self.allowed()[IQN % 30]
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v1)), 0)
        self.assertEqual(self.allowed(), {IQN % 30: both})  # every disk also holds a leg of v2
        self.assertIn(v2, self.head_volumes())
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v2)), 0)
        self.assertEqual(self.allowed(), {})

    def test_5_snapshots_and_clones_on_the_data_path(self):
        # manager/API.md "Snapshots and clones": "If the origin is attached
        # through a head agent, the head freezes it while each disk's
        # storage agent makes its legs, then thaws it."
        v, _ = self.create()
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        s1 = self.api.createSnapshot(req(origin_lvolid=v, snapshot_lvolname="snap1-%d" % v))
        s2 = self.api.createSnapshot(req(origin_lvolid=v, snapshot_lvolname="snap2-%d" % v))
        events = [e for e in self.api.listEvents(req(limit=10000)) if e["type"] == "snapshot" and e["targetid"] == s1]
        self.assertEqual(len(events), 1, events)
        self.assertIn("paused", events[0]["message"])
        legs = {leg["lvolid"] for leg in legs_of(self.api.showLogicalVolume(req(lvolid=s1)))}
        exported = {leg["chunkid"] for a in self.agents for e in a.proxy().listExports(req()) for leg in e["legs"]}
        self.assertLessEqual(legs, exported, "every snapshot leg is a thin device of its storage agent")
        # "The blocks that differ ... from the pools' metadata": nothing was written between them.
        self.assertEqual(self.api.listChangedBlocks(req(lvolid=s2, base_lvolid=s1)), {"status": 0, "block_kib": 64, "ranges": []})
        self.assertFault("EINVAL", self.api.listChangedBlocks, req(lvolid=s1, base_lvolid=v))
        # "attachable read-only on any head", beside its origin.
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=s1, hsvrid=self.h)), 0)
        self.assertTrue(self.head_volumes()[s1]["read_only"])
        self.assertFalse(self.head_volumes()[v]["read_only"])
        c = self.api.cloneLogicalVolume(req(lvolid=s1, clone_lvolname="clone-%d" % v))
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=c, hsvrid=self.h)), 0)
        self.assertFalse(self.head_volumes()[c]["read_only"])
        # "Reverting a volume": detached only; the volume takes new legs, made from the snapshot's.
        self.assertFault("EBUSY", self.api.revertLogicalVolume, req(lvolid=v, snapshot_lvolid=s1))
        for x in (v, s1, c):
            self.assertEqual(self.api.detachLogicalVolume(req(lvolid=x)), 0)
        former = {leg["lvolid"] for leg in legs_of(self.api.showLogicalVolume(req(lvolid=v)))}
        self.assertEqual(self.api.revertLogicalVolume(req(lvolid=v, snapshot_lvolid=s2)), 0)
        now = {leg["lvolid"] for leg in legs_of(self.api.showLogicalVolume(req(lvolid=v)))}
        self.assertFalse(former & now)
        self.assertFault("EINVAL", self.api.revertLogicalVolume, req(lvolid=c, snapshot_lvolid=s2))
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        # "Deleting a volume that has snapshots or clones is allowed."
        for x in (v, s1, s2, c):
            self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=x)), 0)
        self.assertEqual(self.allowed(), {})

    def write_legs(self, lvolid, block, data):
        """Writes data at a pool block of each leg's active thin (the sim's pool: its file)."""
        for leg in legs_of(self.api.showLogicalVolume(req(lvolid=lvolid))):
            spec = leg["lvolspec"]
            name = "vastsky-thin-%08x-%d" % (spec["pdskid"], spec["thin_id"])
            paths = [os.path.join(a.state_dir, "sim-dm", "mapper", name) for a in self.agents]
            paths = [p for p in paths if os.path.exists(p)]
            self.assertEqual(len(paths), 1, name)
            with open(paths[0], "r+b") as f:
                f.seek(block * 65536 + 512)
                f.write(data)

    def test_5b_family_and_space(self):
        # manager/API.md "Families and space": "For each member they are the
        # sums over its legs of the pool space each leg maps and of the part
        # no other thin shares ... Both count every copy of every leg".
        v, _ = self.create(capacity=2)
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        self.write_legs(v, 5, b"origin")  # before the copies: shared by all three
        s = self.api.createSnapshot(req(origin_lvolid=v, snapshot_lvolname="fsnap-%d" % v))
        c = self.api.cloneLogicalVolume(req(lvolid=s, clone_lvolname="fclone-%d" % v))
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=c, hsvrid=self.h)), 0)  # its thins active
        self.write_legs(c, 9, b"clone")  # the clone's alone
        legs = {x: len(legs_of(self.api.showLogicalVolume(req(lvolid=x)))) for x in (v, s, c)}
        self.assertEqual(set(legs.values()), {2})  # redundancy 2, one mirror
        for ref in (req(lvolid=c), req(lvolname="fsnap-%d" % v)):
            fam = self.api.getVolumeFamily(ref)["lvols"]
            self.assertEqual([(m["lvolid"], m["kind"], m["source_lvolid"]) for m in fam],
                             [(v, "volume", 0), (s, "snapshot", v), (c, "clone", s)])
            got = {m["lvolid"]: (m["mapped_mib"], m["exclusive_mib"], m["legs_unreported"]) for m in fam}
            # One 64 KiB block per leg is 1 MiB (rounded up); the clone's two blocks likewise.
            self.assertEqual(got, {v: (legs[v], 0, 0), s: (legs[s], 0, 0), c: (legs[c], legs[c], 0)})
        self.assertFault("ENOENT", self.api.getVolumeFamily, req(lvolname="no-such-volume"))
        for x in (v, c):
            self.assertEqual(self.api.detachLogicalVolume(req(lvolid=x)), 0)
        for x in (v, s, c):
            self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=x)), 0)

    def test_6_head_agent_down_keeps_the_volume_bound(self):
        v, _ = self.create()
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        self.assertEqual(self.head.stop(), 0)
        try:
            self.assertFault("ECONNREFUSED", self.api.detachLogicalVolume, req(lvolid=v))
            row = self.lvol(v)
            self.assertEqual((row["hsvrid"], row["bind_status"], row["bind_event"]), (self.h, BOUND, 0))
            self.assertIn(IQN % 30, self.allowed())
        finally:
            self.head.start()
        self.assertIn(v, self.head_volumes())  # assembled again from its state
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        self.assertEqual(self.allowed(), {})

    def test_7_head_reported_failed_is_fenced_before_release(self):
        v, _ = self.create()
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        self.assertIn(IQN % 30, self.allowed())
        self.assertEqual(self.api.notifyFailure(req(target=T_HSVR, targetid=self.h)), 0)
        # Revoked on every disk before the volume is free to go elsewhere.
        self.assertEqual(self.allowed(), {})
        self.assertUnattached(v)
        self.assertTrue([e for e in self.api.listEvents(req(limit=10000))
                         if e["type"] == "failure" and e["target"] == "hsvr" and e["targetid"] == self.h])
        # The head lives on: its next heartbeat is refused and it registers again.
        wait_for("the head back", lambda: [h for h in self.api.listHeadServers(req())
                                           if h["hsvrid"] == self.h and h["priority"] in (1, 2, 3)], 10)


class Drain(Base):
    """Three storage servers and the head agent: a drained disk's legs move
    off it with the head rebuilding them, redundancy never dropping; a
    detached volume's lost leg is rebuilt on a head the manager picks."""
    agents_n = 4
    head_volumes = WithHeadAgent.head_volumes

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        WithHeadAgent.start_head.__func__(cls)

    def test_1_drained_disk_hands_its_legs_over_then_goes(self):
        v, _ = self.create()
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        before = legs_of(self.api.showLogicalVolume(req(lvolid=v)))
        d = before[0]["lvolspec"]["pdskid"]
        self.assertFault("EBUSY", self.api.deletePhysicalDisk, req(pdskid=d))
        self.assertEqual(self.api.drainPhysicalDisk(req(pdskid=d)), 0)
        self.assertEqual(self.api.drainPhysicalDisk(req(pdskid=d)), 0)  # a repeat changes nothing
        self.assertEqual([x["priority"] for x in self.api.listPhysicalDisks(req()) if x["pdskid"] == d], [3])

        def drained():
            legs = legs_of(self.api.showLogicalVolume(req(lvolid=v)))
            return (len(legs) == len(before) and d not in {x["lvolspec"]["pdskid"] for x in legs}
                    and {x["mirror_status"] for x in legs} == {INSYNC})
        # Each mirror grows by a leg, the head rebuilds it, then drops the old one.
        wait_for("the legs off the drained disk", drained, 30)
        on_head = self.head_volumes()[v]
        self.assertTrue(all(len(m["health"]) == 2 for m in on_head["mirrors"]), on_head)
        self.assertEqual(self.api.getClusterStatus(req())["rebuilds_queued"], 0)
        self.assertTrue(any(e["type"] == "drain" for e in self.api.listEvents(req(limit=10000))))
        self.assertNotIn(d, self.allowed()[IQN % 30])  # the head has no business there any more
        self.assertEqual(self.api.deletePhysicalDisk(req(pdskid=d)), 0)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=v)), 0)

    def test_2_detached_volume_is_rebuilt_without_a_hand(self):
        v, _ = self.create()
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)  # its legs hold data now
        lost = legs_of(self.api.showLogicalVolume(req(lvolid=v)))[0]["lvolspec"]["pdskid"]
        self.assertEqual(self.api.notifyFailure(req(target=3, targetid=lost)), 0)

        def rebuilt():
            legs = legs_of(self.api.showLogicalVolume(req(lvolid=v)))
            return ({x["mirror_status"] for x in legs} == {INSYNC} and lost not in {x["lvolspec"]["pdskid"] for x in legs}
                    and self.lvol(v)["hsvrid"] == 0 and self.api.getClusterStatus(req())["rebuilds_queued"] == 0)
        wait_for("the detached volume rebuilt and detached again", rebuilt, 30)
        attaches = [e for e in self.events(v) if e["type"] == "attach"]
        self.assertEqual(len(attaches), 2, attaches)  # the user's, then the manager's for the rebuild
        self.assertEqual(self.allowed(), {})
        self.assertNotIn(v, self.head_volumes())
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=v)), 0)


class Migration(unittest.TestCase):
    """A database of the slice layout (schema 6: the migrations of
    manager/schema.cc up to 6, as an older manager ran them) is refused
    with a clear error, never migrated (API.md: thin legs)."""

    def old_schema(self):
        src = open(os.path.join(ROOT, "manager", "schema.cc")).read()
        blocks = re.findall(r'R"SQL\((.*?)\)SQL"', src, re.S)
        self.assertGreaterEqual(len(blocks), 7)
        return blocks[:6]

    def test_slice_layout_database_is_refused(self):
        d = tempfile.mkdtemp(prefix="vastsky-mig-")
        db_path = os.path.join(d, "state.db")
        with sqlite3.connect(db_path) as db:
            for sql in self.old_schema():
                db.executescript(sql)
            db.executescript("INSERT INTO setting VALUES ('chunk_gib', '4'); PRAGMA user_version = 6;")
        m = Manager(workdir=d)
        try:
            r = subprocess.run(m.argv(), capture_output=True, text=True, timeout=20)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("slice layout", r.stderr)
            with sqlite3.connect("file:%s?mode=ro" % db_path, uri=True) as db:
                self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0], 6)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_bad_agent_timeout_is_refused(self):
        m = Manager(extra_args=["--agent-timeout", "0"])
        try:
            r = subprocess.run(m.argv(), capture_output=True, text=True, timeout=20)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("agent_timeout", r.stderr)
        finally:
            shutil.rmtree(m.dir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
