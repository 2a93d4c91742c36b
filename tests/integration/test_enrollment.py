"""Enrollment and per-server credentials (manager/API.md, "Enrollment" and
"Roles"), with real agents (storage: target sim; head: host sim): an
enrolled agent registers with its own credential and is bound to its server;
it may act for that server only, and a call for another server, or a method
its role may not call, is refused with EACCES and changes nothing; the
manager calls it with that credential and nobody else gets in; a revoked
credential is refused at once. The CLI writes the credential file."""
import errno
import os
import shutil
import stat
import subprocess
import unittest
import xmlrpc.client

from harness import (BIN_DIR, SECRET, HeadAgent, Manager, StorageAgent, disk_sectors, req, stop_and_audit,
                     wait_for, _timeout_transport)

CLI = os.path.join(BIN_DIR, "vastsky")


def enroll(api, kind, server_id=None):
    r = api.enrollServer(req(kind=kind, **({} if server_id is None else {"id": server_id})))
    return r["user"], r["secret"]


def write_credential(agent, user, secret):
    path = os.path.join(agent.dir, "credential")
    with open(path, "w") as f:
        f.write("%s %s\n" % (user, secret))
    os.chmod(path, 0o600)
    return path


class Enrolled(StorageAgent):
    """A storage agent started with --credential-file."""

    def __init__(self, manager, data_ip, user, secret):
        super().__init__(manager, data_ip, disks_gib=(20,))
        self.user, self.secret = user, secret
        self.credential_file = write_credential(self, user, secret)

    def argv(self):
        return super().argv() + ["--credential-file", self.credential_file]


class EnrolledHead(HeadAgent):
    def __init__(self, manager, data_ip, initiator, user, secret):
        super().__init__(manager, data_ip, initiator)
        self.user, self.secret = user, secret
        self.credential_file = write_credential(self, user, secret)

    def argv(self):
        return super().argv() + ["--credential-file", self.credential_file]


def as_user(m, user, secret):
    """The manager's API as another HTTP Basic user."""
    return m.proxy(user=user, password=secret)


def agent_as(agent, user, secret):
    url = "http://%s:%s@127.0.0.1:%d/RPC2" % (user, secret, agent.port)
    return xmlrpc.client.ServerProxy(url, transport=_timeout_transport(xmlrpc.client.Transport, 30))


class Enrollment(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = Manager().start()
        cls.api = cls.m.proxy()
        cls.agents = []
        try:
            cls.a = cls.start_enrolled("127.61.0.1")
            cls.b = cls.start_enrolled("127.61.0.2")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start_enrolled(cls, ip):
        user, secret = enroll(cls.api, "ssvr")
        agent = Enrolled(cls.m, ip, user, secret)
        cls.agents.append(agent)
        agent.start()
        url = agent.url(user=None)
        agent.ssvrid = wait_for("%s registered" % user, lambda: [s["ssvrid"] for s in cls.api.listStorageServers(req())
                                                                 if s["url"] == url])[0]
        agent.pdskids = wait_for("its disk", lambda: [d["pdskid"] for d in cls.api.listPhysicalDisks(req())
                                                     if d["ssvrid"] == agent.ssvrid])
        return agent

    @classmethod
    def tearDownClass(cls):
        for a in cls.agents:
            a.cleanup()
        stop_and_audit(cls.m)

    def credential(self, user):
        return [c for c in self.api.listCredentials(req()) if c["user"] == user][0]

    def assertEacces(self, call, *args):
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            call(*args)
        self.assertEqual((cm.exception.faultCode, cm.exception.faultString), (errno.EACCES, "EACCES"))

    def state(self):
        """What a refused call must leave as it was."""
        return (self.api.listStorageServers(req()), self.api.listPhysicalDisks(req()),
                self.api.listHeadServers(req()), self.api.listLogicalVolumes(req()),
                self.api.listCredentials(req()), self.api.listEvents(req(newest=True, limit=5)))

    # API.md: "an enrolled agent's first registration binds its credential to
    # the server it creates"; listCredentials never shows a secret.
    def test_1_registration_binds_the_credential(self):
        for agent in (self.a, self.b):
            c = self.credential(agent.user)
            self.assertEqual((c["role"], c["server_id"], c["in_use"]), ("storage", agent.ssvrid, True))
            self.assertNotIn("secret", c)
        text = repr(self.api.listEvents(req(limit=10000))) + self.m.read_log()
        for agent in (self.a, self.b):
            self.assertNotIn(agent.secret, text)

    # API.md: "A storage or head caller acts only for its own server":
    # heartbeats, registrations, disk registrations and bad-block reports
    # for another server are refused (EACCES) and change nothing.
    def test_2_acting_as_another_server_refused(self):
        api_a = as_user(self.m, self.a.user, self.a.secret)
        self.assertEqual(api_a.heartbeat(req(ssvrid=self.a.ssvrid)), 0)
        before = self.state()
        self.assertEacces(api_a.heartbeat, req(ssvrid=self.b.ssvrid))
        self.assertEacces(api_a.registerStorageServer, req(ip_data=[self.b.data_ip], reconnect=True,
                                                           url=self.a.url(user=None)))
        self.assertEacces(api_a.registerPhysicalDisk, req(ssvrid=self.b.ssvrid, local_path="/dev/impostor",
                                                          capacity=str(disk_sectors(10))))
        self.assertEacces(api_a.notifyBadBlocks, req(pdskid=self.b.pdskids[0], blocks=[0]))
        self.assertEacces(api_a.heartbeat, req(hsvrid=1))
        self.assertEqual(self.state(), before)

    # API.md: "A call a role may not make is refused with EACCES, whatever
    # its parameters, and changes nothing."
    def test_3_storage_role_refused_admin_and_tenant_methods(self):
        api_a = as_user(self.m, self.a.user, self.a.secret)
        before = self.state()
        self.assertEacces(api_a.createLogicalVolume, req(lvolname="impostor", capacity=1, redundancy=2))
        self.assertEacces(api_a.deleteStorageServer, req(ssvrid=self.b.ssvrid))
        self.assertEacces(api_a.drainStorageServer, req(ssvrid=self.b.ssvrid))
        self.assertEacces(api_a.enrollServer, req(kind="ssvr"))
        self.assertEacces(api_a.listCredentials, req())
        self.assertEacces(api_a.revokeCredential, req(user=self.b.user))
        self.assertEacces(api_a.shutdownAll, req())
        self.assertEacces(api_a.listLogicalVolumes, req())
        self.assertEqual(self.state(), before)

    # API.md: "an agent with a credential serves the manager only": neither
    # the cluster secret nor another server's credential gets in; the
    # manager, calling as `manager` with the agent's own secret, does.
    def test_4_agent_serves_only_the_manager(self):
        for user, secret in (("admin", SECRET), (self.b.user, self.b.secret), ("manager", self.b.secret),
                             ("manager", SECRET)):
            with self.assertRaises(xmlrpc.client.ProtocolError) as cm:
                agent_as(self.a, user, secret).listExports(req())
            self.assertEqual(cm.exception.errcode, 401)
        self.assertIsInstance(agent_as(self.a, "manager", self.a.secret).listExports(req()), list)
        # The manager reaches both agents with their credentials: a
        # snapshot of a volume with a leg on each has both make their legs.
        v = self.api.createLogicalVolume(req(lvolname="enrolled-v", capacity=1, redundancy=2))
        s = self.api.createSnapshot(req(origin_lvolid=v, snapshot_lvolname="enrolled-s"))
        self.assertEqual(self.api.listLogicalVolumes(req(lvolid=s))[0]["state"], 0)
        self.api.deleteLogicalVolume(req(lvolid=s))
        self.api.deleteLogicalVolume(req(lvolid=v))

    # API.md: "an unbound credential registers a new server only".
    def test_5_unbound_credential_cannot_take_a_server(self):
        user, secret = enroll(self.api, "ssvr")
        before = self.state()
        api_c = as_user(self.m, user, secret)
        self.assertEacces(api_c.registerStorageServer, req(ip_data=[self.a.data_ip], reconnect=True))
        self.assertEacces(api_c.heartbeat, req(ssvrid=self.a.ssvrid))
        after = self.state()
        self.assertEqual(after[:4], before[:4])
        self.assertEqual(self.credential(user)["server_id"], 0)
        self.api.revokeCredential(req(user=user))

    # API.md: "revokeCredential voids the secret at once"; enrolling the
    # server again gives it a new one.
    def test_6_revoke_and_enroll_again(self):
        user, secret = enroll(self.api, "ssvr")
        api_c = as_user(self.m, user, secret)
        s = api_c.registerStorageServer(req(ip_data=["127.61.0.9"]))
        self.assertEqual(self.credential(user)["server_id"], s)
        self.api.revokeCredential(req(user=user))
        with self.assertRaises(xmlrpc.client.ProtocolError) as cm:
            api_c.heartbeat(req(ssvrid=s))
        self.assertEqual(cm.exception.errcode, 401)
        again, secret2 = enroll(self.api, "ssvr", s)
        self.assertEqual(again, user)
        self.assertNotEqual(secret2, secret)
        self.assertEqual(as_user(self.m, user, secret2).heartbeat(req(ssvrid=s)), 0)
        self.assertEqual(self.credential(user)["generation"], 3)

    # API.md: the same rules for a head: its own hsvr only.
    def test_7_enrolled_head(self):
        user, secret = enroll(self.api, "hsvr")
        head = EnrolledHead(self.m, "127.61.1.1", "iqn.2024-01.org.example:enrolled-head", user, secret)
        self.agents.append(head)
        head.start()
        url = head.url(user=None)
        h = wait_for("head registered", lambda: [x["hsvrid"] for x in self.api.listHeadServers(req())
                                                 if x["url"] == url])[0]
        c = self.credential(user)
        self.assertEqual((c["role"], c["server_id"], c["in_use"]), ("head", h, True))
        api_h = as_user(self.m, user, secret)
        self.assertEqual(api_h.heartbeat(req(hsvrid=h)), 0)
        self.assertEacces(api_h.heartbeat, req(ssvrid=self.a.ssvrid))
        self.assertEacces(api_h.heartbeat, req(hsvrid=h + 1))
        self.assertEacces(api_h.legMap, req(hsvrid=h + 1, chunkid=1))
        self.assertEacces(api_h.registerPhysicalDisk, req(ssvrid=self.a.ssvrid, local_path="/dev/x",
                                                          capacity=str(disk_sectors(10))))
        with self.assertRaises(xmlrpc.client.ProtocolError) as cm:
            agent_as(head, "admin", SECRET).listVolumes(req())
        self.assertEqual(cm.exception.errcode, 401)
        self.assertEqual(agent_as(head, "manager", secret).listVolumes(req()), [])

    # The CLI: `vastsky ssvr enroll --out FILE` writes "USER SECRET", mode
    # 0600, and the secret registers a new server; `credential list` shows
    # it, never the secret.
    def test_8_cli(self):
        d = os.path.join(self.m.dir, "cli")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "credential")
        common = ["--manager", self.m.url(user=None), "--secret-file", self.m.secret_file]
        r = subprocess.run([CLI, "ssvr", "enroll", "--out", path] + common, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            user, secret = f.read().split()
        self.assertTrue(user.startswith("ssvr-new-"), user)
        self.assertNotIn(secret, r.stdout + r.stderr)
        s = as_user(self.m, user, secret).registerStorageServer(req(ip_data=["127.61.0.10"]))
        self.assertEqual(self.credential(user)["server_id"], s)
        r = subprocess.run([CLI, "credential", "list"] + common, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(user, r.stdout)
        self.assertNotIn(secret, r.stdout)
        r = subprocess.run([CLI, "credential", "revoke", user] + common, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        with self.assertRaises(xmlrpc.client.ProtocolError):
            as_user(self.m, user, secret).heartbeat(req(ssvrid=s))
        shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
