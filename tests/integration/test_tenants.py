"""Tenants (manager/API.md, "Tenants" and "Roles") over real sockets, with
real agents (storage: target sim; heads: host sim): a tenant's credential
makes, lists, attaches and deletes its own volumes only, attaches them only
to the heads it was given, and is refused (EACCES) every method of another
role with nothing changed; another tenant's volume does not exist for it.
The CLI issues the credential; a revoke voids it at once."""
import errno
import os
import subprocess
import unittest
import xmlrpc.client

from harness import BIN_DIR, HeadAgent, Manager, StorageAgent, req, stop_and_audit, wait_for

CLI = os.path.join(BIN_DIR, "vastsky")
# What a tenant may call (manager/access.cc); every other method is EACCES.
TENANT_METHODS = {"createLogicalVolume", "deleteLogicalVolume", "attachLogicalVolume", "detachLogicalVolume",
                  "listLogicalVolumes", "showLogicalVolume", "resizeLogicalVolume", "createSnapshot",
                  "cloneLogicalVolume", "revertLogicalVolume", "listChangedBlocks", "getVolumeFamily",
                  "listHeadServers", "listStorageServers", "getClusterStatus"}


class Tenants(unittest.TestCase):
    maxDiff = None
    agents = []

    @classmethod
    def setUpClass(cls):
        try:
            cls.m = Manager().start()
            cls.api = cls.m.proxy()
            for i in range(3):
                cls.agents.append(StorageAgent(cls.m, "127.62.0.%d" % (i + 1), disks_gib=(20,)).start())
            cls.head_a = HeadAgent(cls.m, "127.62.1.1", "iqn.2024-01.org.example:tenant-a").start()
            cls.head_b = HeadAgent(cls.m, "127.62.1.2", "iqn.2024-01.org.example:tenant-b").start()
            cls.agents += [cls.head_a, cls.head_b]
            wait_for("disks", lambda: len(cls.api.listPhysicalDisks(req())) == 3)
            heads = wait_for("heads", lambda: {h["url"]: h["hsvrid"] for h in cls.api.listHeadServers(req())}
                             if len(cls.api.listHeadServers(req())) == 2 else None)
            cls.ha, cls.hb = heads[cls.head_a.url(user=None)], heads[cls.head_b.url(user=None)]
            cls.common = ["--manager", cls.m.url(user=None), "--secret-file", cls.m.secret_file]
            cls.a = cls.enroll_cli("pool-a", cls.ha)
            r = cls.api.enrollTenant(req(tenant="pool-b", hsvrids=[cls.hb]))
            cls.b = cls.m.proxy(user=r["user"], password=r["secret"])
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def enroll_cli(cls, tenant, hsvrid):
        r = subprocess.run([CLI, "tenant", "enroll", "--hsvr", "hsvr-%08x" % hsvrid, tenant] + cls.common,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        user, secret = r.stdout.split()
        assert user == "tenant-" + tenant, user
        return cls.m.proxy(user=user, password=secret)

    @classmethod
    def tearDownClass(cls):
        for a in cls.agents:
            a.cleanup()
        if getattr(cls, "m", None):
            stop_and_audit(cls.m)

    def assertFaults(self, code, call, *args):
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            call(*args)
        self.assertEqual(cm.exception.faultCode, code, cm.exception)

    def state(self):
        """What a refused call must leave as it was (the admin's view):
        volumes, credentials, servers and the events a call records. Not
        heartbeat times, nor the space a deleted volume's legs free when
        their agents get to it: those move on their own."""
        servers = [(s["ssvrid"], s["priority"], s["url"]) for s in self.api.listStorageServers(req())]
        heads = [(h["hsvrid"], h["priority"], h["url"]) for h in self.api.listHeadServers(req())]
        events = [e for e in self.api.listEvents(req(newest=True, limit=50))
                  if e["type"] in ("create", "delete", "attach", "detach", "resize", "snapshot", "clone", "revert",
                                   "credential", "setting")]
        return (servers, heads, self.api.listLogicalVolumes(req()), self.api.listCredentials(req()), events)

    # API.md: "A tenant lists only its own volumes"; a volume it makes is
    # its own, and it attaches it to a head it was given.
    def test_1_own_volumes_only(self):
        va = self.a.createLogicalVolume(req(lvolname="ta-1", capacity=1, redundancy=2))
        vb = self.b.createLogicalVolume(req(lvolname="tb-1", capacity=1, redundancy=2))
        self.api.createLogicalVolume(req(lvolname="admin-1", capacity=1, redundancy=2))
        self.assertEqual([v["lvolname"] for v in self.a.listLogicalVolumes(req())], ["ta-1"])
        self.assertEqual([v["lvolname"] for v in self.b.listLogicalVolumes(req())], ["tb-1"])
        self.assertEqual({v["lvolname"]: v["tenant"] for v in self.api.listLogicalVolumes(req())},
                         {"ta-1": "pool-a", "tb-1": "pool-b", "admin-1": ""})
        self.assertEqual([h["hsvrid"] for h in self.a.listHeadServers(req())], [self.ha])
        self.a.attachLogicalVolume(req(lvolid=va, hsvrid=self.ha))
        self.assertEqual(self.a.listLogicalVolumes(req(lvolid=va))[0]["hsvrid"], self.ha)
        self.a.detachLogicalVolume(req(lvolid=va))
        self.a.deleteLogicalVolume(req(lvolid=va))
        self.b.deleteLogicalVolume(req(lvolid=vb))
        self.api.deleteLogicalVolume(req(lvolname="admin-1"))

    # API.md: "To a tenant, another tenant's volume (or an admin's) does not
    # exist"; "a tenant attaches its volumes only to the heads it was given".
    def test_2_others_volumes_and_heads_refused(self):
        va = self.a.createLogicalVolume(req(lvolname="ta-2", capacity=1, redundancy=2))
        vb = self.b.createLogicalVolume(req(lvolname="tb-2", capacity=1, redundancy=2))
        self.addCleanup(self.api.deleteLogicalVolume, req(lvolid=vb))
        self.addCleanup(self.api.deleteLogicalVolume, req(lvolid=va))
        before = self.state()
        for ref in (dict(lvolid=vb), dict(lvolname="tb-2")):
            for call in (self.a.listLogicalVolumes, self.a.showLogicalVolume, self.a.deleteLogicalVolume,
                         self.a.detachLogicalVolume, self.a.getVolumeFamily):
                self.assertFaults(errno.ENOENT, call, req(**ref))
            self.assertFaults(errno.ENOENT, self.a.attachLogicalVolume, req(hsvrid=self.ha, **ref))
            self.assertFaults(errno.ENOENT, self.a.resizeLogicalVolume, req(capacity=2, **ref))
            self.assertFaults(errno.ENOENT, self.a.cloneLogicalVolume, req(clone_lvolname="stolen", **ref))
            self.assertFaults(errno.ENOENT, self.a.createSnapshot,
                              req(snapshot_lvolname="stolen", **{"origin_" + k: v for k, v in ref.items()}))
        self.assertFaults(errno.EACCES, self.a.attachLogicalVolume, req(lvolid=va, hsvrid=self.hb))
        self.assertFaults(errno.EACCES, self.a.createLogicalVolume,
                          req(lvolname="theirs", capacity=1, redundancy=2, tenant="pool-b"))
        self.assertEqual(self.state(), before)

    # API.md: "A call a role may not make is refused with EACCES, whatever
    # its parameters, and changes nothing": every method outside the
    # tenant's, over HTTP.
    def test_3_every_other_method_refused(self):
        methods = self.api.system.listMethods()
        before = self.state()
        refused = 0
        for m in methods:
            if m.startswith("system.") or m in TENANT_METHODS:
                continue
            self.assertFaults(errno.EACCES, getattr(self.a, m), req())
            refused += 1
        self.assertGreater(refused, 20)
        self.assertEqual(self.state(), before)
        # What the health checks name could be anybody's volume: a tenant
        # sees the verdicts without the names.
        for check in self.a.getClusterStatus(req())["checks"]:
            self.assertEqual(check.get("detail", []), [], check)

    # The admin side: heads given later, listCredentials, a revoke that
    # voids the secret at once, and enrolling again for a new one.
    def test_4_heads_list_revoke(self):
        r = subprocess.run([CLI, "tenant", "heads", "pool-b", "hsvr-%08x" % self.ha, "hsvr-%08x" % self.hb]
                           + self.common, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(h["hsvrid"] for h in self.b.listHeadServers(req())), sorted([self.ha, self.hb]))
        c = [c for c in self.api.listCredentials(req()) if c["user"] == "tenant-pool-b"][0]
        self.assertEqual((c["role"], c["tenant"], sorted(c["hsvrids"])), ("tenant", "pool-b", sorted([self.ha, self.hb])))
        self.assertNotIn("secret", c)
        r = subprocess.run([CLI, "credential", "list"] + self.common, capture_output=True, text=True)
        self.assertIn("pool-b on hsvr-", r.stdout)
        r = subprocess.run([CLI, "tenant", "heads", "pool-b", "hsvr-0fffffff"] + self.common,
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ENOENT", r.stderr)
        self.api.revokeCredential(req(user="tenant-pool-b"))
        with self.assertRaises(xmlrpc.client.ProtocolError) as cm:
            self.b.listLogicalVolumes(req())
        self.assertEqual(cm.exception.errcode, 401)
        r = self.api.enrollTenant(req(tenant="pool-b"))
        self.assertEqual(r["hsvrids"], sorted([self.ha, self.hb]))
        Tenants.b = self.m.proxy(user=r["user"], password=r["secret"])
        self.assertEqual(self.b.listLogicalVolumes(req()), [])
        self.assertFaults(errno.EINVAL, self.api.enrollTenant, req(tenant="bad name"))


if __name__ == "__main__":
    unittest.main()
