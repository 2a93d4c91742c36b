"""vastsky-storage-agent against a real manager on loopback (agents/PROTOCOL.md,
"Storage agent"): three agents with the simulated target and sparse files
as disks. Registration with reconnect, exports and ACLs across restarts,
the agent methods and their faults, heartbeats, a manager outage, SIGTERM."""
import errno
import os
import random
import re
import shutil
import subprocess
import tempfile
import signal
import time
import unittest
import xmlrpc.client

from harness import (HIGH, ISO_UTC, UNDER_TSAN, AgentsCase, Manager, StorageAgent, free_port, http_request, req,
                     wait_for)

IQN_HEAD = "iqn.2024-01.org.example:head1"
CHAP = {"chap_user": "head1", "chap_secret": "0123456789abcd"}




@unittest.skipUnless(os.path.exists(StorageAgent.binary()), "vastsky-storage-agent not built in this bin dir")
class StorageAgentTest(AgentsCase):
    DISKS = {0: (100, 50), 1: (80,), 2: (60,)}

    @classmethod
    def start_agents(cls):
        for i in range(3):
            cls.agents.append(StorageAgent(cls.m, "127.0.0.%d" % (11 + i), disks_gib=cls.DISKS[i]).start())
        wait_for("3 servers", lambda: len(cls.api.listStorageServers(req())) == 3)

    def server_of(self, agent):
        rows = [s for s in self.api.listStorageServers(req()) if s["ip_data"] == [agent.data_ip]]
        self.assertEqual(len(rows), 1, rows)
        return rows[0]

    def disks_of(self, agent):
        return sorted(self.api.listPhysicalDisks(req(ssvrid=self.server_of(agent)["ssvrid"])),
                      key=lambda d: d["local_path"])

    def assertFault(self, name, fn, *args):
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            fn(*args)
        self.assertEqual((cm.exception.faultCode, cm.exception.faultString), (getattr(errno, name), name))

    def test_1_servers_and_disks_registered(self):
        for i, a in enumerate(self.agents):
            s = self.server_of(a)
            self.assertEqual(s["priority"], HIGH)
            # A disk registers its pool's data: the disk less its label and
            # pool metadata (under 1 GiB at these sizes), in whole GiB.
            pools = [gib - 1 for gib in self.DISKS[i]]
            self.assertEqual(s["capacity"], sum(pools))
            disks = self.disks_of(a)
            self.assertEqual([d["local_path"] for d in disks], a.disks)
            self.assertEqual([d["capacity"] for d in disks], pools)
            exports = a.proxy().listExports(req())
            self.assertEqual(sorted(e["pdskid"] for e in exports), sorted(d["pdskid"] for d in disks))
            for e in exports:
                self.assertEqual(e["iqn"], "iqn.2010-10.org.vastsky:pdsk-%08x" % e["pdskid"])
                self.assertEqual(e["initiators"], [])
        self.assertEqual(a.proxy().helloWorld(req()), 0)

    def test_2_allow_revoke_and_opids(self):
        a = self.agents[1]
        p = a.proxy()
        pdsk = self.disks_of(a)[0]["pdskid"]
        self.assertEqual(p.allowInitiator(req(opid="op-1", pdskid=pdsk, initiator=IQN_HEAD, **CHAP)), 0)
        self.assertEqual(p.listExports(req())[0]["initiators"], [IQN_HEAD])
        self.assertEqual(p.revokeInitiator(req(opid="op-2", pdskid=pdsk, initiator=IQN_HEAD)), 0)
        self.assertEqual(p.listExports(req())[0]["initiators"], [])
        # A repeat of a finished opid is a no-op: the ACL stays revoked.
        self.assertEqual(p.allowInitiator(req(opid="op-1", pdskid=pdsk, initiator=IQN_HEAD, **CHAP)), 0)
        self.assertEqual(p.listExports(req())[0]["initiators"], [])
        # Revoking what is not allowed is fine.
        self.assertEqual(p.revokeInitiator(req(opid="op-3", pdskid=pdsk, initiator=IQN_HEAD)), 0)
        # Faults.
        self.assertFault("EINVAL", p.allowInitiator, req(opid="op-4", pdskid=pdsk, initiator="not an iqn", **CHAP))
        self.assertFault("EINVAL", p.allowInitiator, req(opid="op-5", pdskid=pdsk, initiator=IQN_HEAD,
                                                         chap_user="u", chap_secret="short"))
        self.assertFault("EINVAL", p.allowInitiator, req(opid="op-6", pdskid=pdsk, initiator=IQN_HEAD,
                                                         chap_user="u", chap_secret="x" * 17))
        self.assertFault("ENOENT", p.allowInitiator, req(opid="op-7", pdskid=0x7ffffff0, initiator=IQN_HEAD, **CHAP))
        self.assertFault("ENOENT", p.revokeInitiator, req(opid="op-8", pdskid=0x7ffffff0, initiator=IQN_HEAD))
        self.assertFault("EINVAL", p.allowInitiator, req(pdskid=pdsk, initiator=IQN_HEAD, **CHAP))
        self.assertFault("EINVAL", p.revokeInitiator, req(opid="op-1", pdskid=pdsk, initiator=IQN_HEAD))
        self.assertFault("EPROTO", p.listExports, {"ver": 4})

    def test_3_wrong_credentials_are_401(self):
        a = self.agents[0]
        for pw in ("wrong-secret-0123456789", None):
            with self.assertRaises(xmlrpc.client.ProtocolError) as cm:
                (a.proxy(password=pw) if pw else a.proxy(user=None)).helloWorld(req())
            self.assertEqual(cm.exception.errcode, 401)

    def test_4_heartbeats_update_last_seen(self):
        s = self.server_of(self.agents[0])
        self.assertRegex(s["last_seen"], ISO_UTC)
        wait_for("a newer last_seen", lambda: self.server_of(self.agents[0])["last_seen"] > s["last_seen"], 5)

    def test_5_restart_keeps_ids_exports_and_acls(self):
        a = self.agents[0]
        before_s, before_d = self.server_of(a)["ssvrid"], self.disks_of(a)
        pdsk = before_d[1]["pdskid"]
        self.assertEqual(a.proxy().allowInitiator(req(opid="r-1", pdskid=pdsk, initiator=IQN_HEAD, **CHAP)), 0)
        events = len(self.api.listEvents(req(limit=10000)))
        self.assertEqual(a.stop(), 0)
        # The simulated kernel forgets its ACLs, as a reboot would.
        os.unlink(os.path.join(a.state_dir, "sim-target"))
        a.start()
        wait_for("re-registration", lambda: len(self.api.listEvents(req(limit=10000))) > events)
        self.assertEqual(self.server_of(a)["ssvrid"], before_s)
        self.assertEqual([d["pdskid"] for d in self.disks_of(a)], [d["pdskid"] for d in before_d])
        self.assertEqual(len(self.api.listStorageServers(req())), 3)
        self.assertEqual(len(self.api.listPhysicalDisks(req())), 4)
        exports = {e["pdskid"]: e for e in a.proxy().listExports(req())}
        self.assertEqual(sorted(exports), sorted(d["pdskid"] for d in before_d))
        self.assertEqual(exports[pdsk]["initiators"], [IQN_HEAD])
        # The journal survived too: the finished opid is not acted on again.
        self.assertEqual(a.proxy().revokeInitiator(req(opid="r-2", pdskid=pdsk, initiator=IQN_HEAD)), 0)
        self.assertEqual(a.proxy().allowInitiator(req(opid="r-1", pdskid=pdsk, initiator=IQN_HEAD, **CHAP)), 0)
        self.assertEqual({e["pdskid"]: e for e in a.proxy().listExports(req())}[pdsk]["initiators"], [])

    def test_6_manager_outage(self):
        a = self.agents[2]
        port = self.m.port
        self.assertEqual(self.m.stop(), 0)
        try:
            time.sleep(2.5)  # two missed beats
            self.assertIsNone(a.proc.poll(), "the agent must survive a manager outage")
            self.assertEqual(a.proxy().helloWorld(req()), 0)
            self.assertEqual(len(a.proxy().listExports(req())), 1)
        finally:
            self.m.port = port
            self.m.start()
        api = self.m.proxy()
        seen = api.listStorageServers(req(ssvrid=self.server_of(a)["ssvrid"]))[0]["last_seen"]
        wait_for("a heartbeat after the outage",
                 lambda: api.listStorageServers(req(ssvrid=self.server_of(a)["ssvrid"]))[0]["last_seen"] > seen, 5)
        # The agent logs the end of the outage once the call that the
        # manager just recorded has returned to it.
        log = wait_for("the outage's end in the log", lambda: "manager reachable again" in a.read_log() and a.read_log(), 5)
        self.assertEqual(log.count("manager unreachable"), 1, log)
        self.assertEqual(len(api.listStorageServers(req())), 3)

    def test_7_sigterm_exits_0(self):
        a = self.agents[1]
        self.assertEqual(a.stop(signal.SIGTERM), 0)
        self.assertIn("stopped cleanly", a.read_log())
        a.start()
        self.assertEqual(a.proxy().helloWorld(req()), 0)

    def test_9_legs_maps_and_delete(self):
        # PROTOCOL.md, allowInitiator: "the initiator's mapped LUNs on this
        # disk are exactly these legs"; deleteLegs; listExports' maps and
        # legs; a reboot (the simulated kernel forgotten) brings them back.
        a = self.agents[2]
        p = a.proxy()
        pdsk = self.disks_of(a)[0]["pdskid"]
        other = "iqn.2024-01.org.example:head2"

        def leg(chunk, thin, create=True):
            return {"chunkid": chunk, "thin_id": thin, "size_mib": 65, "create": create}

        def export():
            return {e["pdskid"]: e for e in p.listExports(req())}[pdsk]

        def maps():
            return {m["initiator"]: sorted(m["chunks"]) for m in export()["maps"]}

        self.assertEqual(p.allowInitiator(req(opid="l-1", pdskid=pdsk, initiator=IQN_HEAD,
                                              legs=[leg(101, 1), leg(102, 2)], **CHAP)), 0)
        self.assertEqual(p.allowInitiator(req(opid="l-2", pdskid=pdsk, initiator=other, legs=[leg(103, 3)], **CHAP)), 0)
        self.assertEqual(maps(), {IQN_HEAD: [101, 102], other: [103]})
        self.assertEqual(sorted((l["chunkid"], l["thin_id"], l["size_mib"]) for l in export()["legs"]),
                         [(101, 1, 65), (102, 2, 65), (103, 3, 65)])
        # Narrowing: the same call with fewer legs.
        self.assertEqual(p.allowInitiator(req(opid="l-3", pdskid=pdsk, initiator=IQN_HEAD,
                                              legs=[leg(102, 2, False)], **CHAP)), 0)
        self.assertEqual(maps(), {IQN_HEAD: [102], other: [103]})
        # A leg never created, without create: ENOENT, and nothing changes.
        self.assertFault("ENOENT", p.allowInitiator, req(opid="l-4", pdskid=pdsk, initiator=IQN_HEAD,
                                                         legs=[leg(104, 4, False)], **CHAP))
        self.assertEqual(maps(), {IQN_HEAD: [102], other: [103]})
        self.assertFault("EINVAL", p.allowInitiator, req(opid="l-5", pdskid=pdsk, initiator=IQN_HEAD,
                                                         legs=[leg(105, 1 << 24)], **CHAP))
        self.assertFault("EINVAL", p.allowInitiator, req(opid="l-6", pdskid=pdsk, initiator=IQN_HEAD,
                                                         legs=[{"chunkid": 105, "thin_id": 5}], **CHAP))
        # After a reboot the legs come back without being created again.
        self.assertEqual(a.stop(), 0)
        os.unlink(os.path.join(a.state_dir, "sim-target"))
        a.start()
        self.assertEqual(maps(), {IQN_HEAD: [102], other: [103]})
        # deleteLegs: unmapped everywhere, gone from the pool; absent is fine.
        self.assertEqual(p.deleteLegs(req(opid="l-7", pdskid=pdsk, legs=[{"chunkid": 103, "thin_id": 3},
                                                                           {"chunkid": 101, "thin_id": 1},
                                                                           {"chunkid": 109, "thin_id": 9}])), 0)
        self.assertEqual(maps(), {IQN_HEAD: [102], other: []})
        self.assertEqual([l["chunkid"] for l in export()["legs"]], [102])
        self.assertFault("EINVAL", p.deleteLegs, req(opid="l-8", pdskid=pdsk))
        self.assertFault("ENOENT", p.deleteLegs, req(opid="l-9", pdskid=0x7ffffff0, legs=[]))
        for initiator in (IQN_HEAD, other):
            self.assertEqual(p.revokeInitiator(req(opid="l-r-" + initiator, pdskid=pdsk, initiator=initiator)), 0)
        self.assertEqual(p.deleteLegs(req(opid="l-10", pdskid=pdsk, legs=[{"chunkid": 102, "thin_id": 2}])), 0)
        self.assertEqual(export()["maps"], [])
        self.assertEqual(export()["legs"], [])

    def test_9b_leg_map(self):
        # PROTOCOL.md, legMap: "the thin's mapped blocks now (pool blocks of
        # block_kib), as [begin, count] pairs, ascending, adjacent ones
        # coalesced"; with target=sim "a block is mapped if the thin's file
        # has data in it".
        a = self.agents[1]
        p = a.proxy()
        pdsk = self.disks_of(a)[0]["pdskid"]
        leg = {"chunkid": 201, "thin_id": 21, "size_mib": 65, "create": True}
        self.assertEqual(p.allowInitiator(req(opid="m-1", pdskid=pdsk, initiator=IQN_HEAD, legs=[leg], **CHAP)), 0)
        self.assertEqual(p.legMap(req(pdskid=pdsk, thin_id=21)), {"status": 0, "block_kib": 64, "ranges": []})
        thin = os.path.join(a.state_dir, "sim-dm", "mapper", "vastsky-thin-%08x-21" % pdsk)
        with open(thin, "r+b") as f:
            for block in (0, 1, 7, 1039):
                f.seek(block * 65536 + 512)
                f.write(b"data")
        self.assertEqual(p.legMap(req(pdskid=pdsk, thin_id=21)),
                         {"status": 0, "block_kib": 64, "ranges": [0, 2, 7, 1, 1039, 1]})
        # Faults: "ENOENT: the pool is not open here or has no such thin;
        # EINVAL: thin_id outside 1..2^24-1".
        self.assertFault("ENOENT", p.legMap, req(pdskid=pdsk, thin_id=22))
        self.assertFault("ENOENT", p.legMap, req(pdskid=0x7ffffff0, thin_id=21))
        self.assertFault("EINVAL", p.legMap, req(pdskid=pdsk, thin_id=0))
        self.assertFault("EINVAL", p.legMap, req(pdskid=pdsk, thin_id=1 << 24))
        self.assertFault("EINVAL", p.legMap, req(pdskid=pdsk))
        self.assertFault("EPROTO", p.legMap, {"ver": 4, "pdskid": pdsk, "thin_id": 21})
        self.assertEqual(p.revokeInitiator(req(opid="m-2", pdskid=pdsk, initiator=IQN_HEAD)), 0)
        self.assertEqual(p.deleteLegs(req(opid="m-3", pdskid=pdsk, legs=[{"chunkid": 201, "thin_id": 21}])), 0)
        self.assertFault("ENOENT", p.legMap, req(pdskid=pdsk, thin_id=21))

    def test_9d_snapshot_legs(self):
        # PROTOCOL.md, "Snapshots of legs": snapshotLegs, legDelta, legUsage
        # over XML-RPC with the sim's pools; deleteLegs of an origin keeps its
        # snapshot's data.
        a = self.agents[2]
        p = a.proxy()
        pdsk = self.disks_of(a)[0]["pdskid"]
        mib = 1 << 20

        def thin_path(thin):
            return os.path.join(a.state_dir, "sim-dm", "mapper", "vastsky-thin-%08x-%d" % (pdsk, thin))

        def write(thin, offset, data):
            with open(thin_path(thin), "r+b") as f:
                f.seek(offset)
                f.write(data)

        def read(thin, offset, n):
            with open(thin_path(thin), "rb") as f:
                f.seek(offset)
                return f.read(n)

        def legs():
            return sorted((l["chunkid"], l["thin_id"], l["size_mib"])
                          for l in {e["pdskid"]: e for e in p.listExports(req())}[pdsk]["legs"])

        def maps():
            return {m["initiator"]: sorted(m["chunks"])
                    for m in {e["pdskid"]: e for e in p.listExports(req())}[pdsk]["maps"]}

        origin = {"chunkid": 301, "thin_id": 31, "size_mib": 65, "create": True}
        self.assertEqual(p.allowInitiator(req(opid="s-1", pdskid=pdsk, initiator=IQN_HEAD, legs=[origin], **CHAP)), 0)
        write(31, 4096, b"raid superblock")
        write(31, mib, b"A" * (3 * mib))  # data blocks 0-47 of 64 KiB
        snap = {"chunkid": 302, "thin_id": 32, "origin_thin_id": 31, "size_mib": 65}
        # "thin thin_id becomes a dm-thin snapshot of origin_thin_id ...
        # Recorded in state_dir/legs as an existing leg ... no LUN until a
        # grant maps it"; a repeat (same opid, or another: "Already existing
        # thin_id = done before: OK").
        self.assertEqual(p.snapshotLegs(req(opid="s-2", pdskid=pdsk, legs=[snap])), 0)
        self.assertEqual(p.snapshotLegs(req(opid="s-2", pdskid=pdsk, legs=[snap])), 0)
        self.assertEqual(p.snapshotLegs(req(opid="s-3", pdskid=pdsk, legs=[snap])), 0)
        self.assertIn((302, 32, 65), legs())
        self.assertEqual(maps(), {IQN_HEAD: [301]})
        # The origin changes after: 0-31 rewritten, 48-63 new.
        write(31, mib, b"B" * (2 * mib))
        write(31, 4 * mib, b"C" * mib)
        write(31, 8192, b"bitmap")
        # "the blocks whose mapping differs ... (flat pairs begin,count in
        # pool blocks of the DATA part, like legMap's answer)".
        self.assertEqual(p.legDelta(req(pdskid=pdsk, thin_id=31, base_thin_id=32)),
                         {"status": 0, "block_kib": 64, "ranges": [0, 32, 48, 16]})
        self.assertEqual(p.legDelta(req(pdskid=pdsk, thin_id=32, base_thin_id=32)),
                         {"status": 0, "block_kib": 64, "ranges": []})
        # "[{thin_id, mapped_mib, exclusive_mib}] for every thin of the pool
        # ... rounded up to MiB": 65 blocks mapped, 49 its own; 49 and 33.
        usage = {u["thin_id"]: (u["mapped_mib"], u["exclusive_mib"]) for u in p.legUsage(req(pdskid=pdsk))}
        self.assertEqual((usage[31], usage[32]), ((5, 4), (4, 3)))
        # Faults.
        self.assertFault("ENOENT", p.snapshotLegs, req(opid="s-4", pdskid=pdsk, legs=[
            {"chunkid": 303, "thin_id": 33, "origin_thin_id": 39, "size_mib": 65}]))
        self.assertFault("ENOENT", p.snapshotLegs, req(opid="s-5", pdskid=0x7ffffff0, legs=[snap]))
        for bad in ({"chunkid": 303, "thin_id": 33, "size_mib": 65},
                    {"chunkid": 303, "thin_id": 33, "origin_thin_id": 0, "size_mib": 65},
                    {"chunkid": 303, "thin_id": 1 << 24, "origin_thin_id": 31, "size_mib": 65},
                    {"chunkid": 303, "thin_id": 33, "origin_thin_id": "31", "size_mib": 65},
                    {"chunkid": 303, "thin_id": 33, "origin_thin_id": 31, "size_mib": 0}):
            self.assertFault("EINVAL", p.snapshotLegs, req(opid="s-6", pdskid=pdsk, legs=[bad]))
        self.assertFault("EINVAL", p.snapshotLegs, req(opid="s-7", pdskid=pdsk, legs=[snap, dict(snap, chunkid=304)]))
        self.assertFault("EINVAL", p.snapshotLegs, req(opid="s-8", pdskid=pdsk))
        self.assertFault("ENOENT", p.legDelta, req(pdskid=pdsk, thin_id=31, base_thin_id=39))
        self.assertFault("ENOENT", p.legDelta, req(pdskid=pdsk, thin_id=39, base_thin_id=31))
        self.assertFault("ENOENT", p.legDelta, req(pdskid=0x7ffffff0, thin_id=31, base_thin_id=32))
        self.assertFault("EINVAL", p.legDelta, req(pdskid=pdsk, thin_id=31, base_thin_id=0))
        self.assertFault("EINVAL", p.legDelta, req(pdskid=pdsk, thin_id=31))
        self.assertFault("EINVAL", p.legDelta, req(pdskid=pdsk, thin_id="31", base_thin_id=32))
        self.assertFault("ENOENT", p.legUsage, req(pdskid=0x7ffffff0))
        self.assertFault("EINVAL", p.legUsage, req())
        # A grant without create finds the snapshot; a restart keeps it.
        self.assertEqual(p.allowInitiator(req(opid="s-9", pdskid=pdsk, initiator=IQN_HEAD,
                                              legs=[origin, dict(snap, create=False)], **CHAP)), 0)
        self.assertEqual(maps(), {IQN_HEAD: [301, 302]})
        self.assertEqual(a.stop(), 0)
        os.unlink(os.path.join(a.state_dir, "sim-target"))
        a.start()
        self.assertEqual(maps(), {IQN_HEAD: [301, 302]})
        # "deleteLegs (existing) deletes snapshot thins like any leg": the
        # origin goes, its snapshot keeps what it held.
        self.assertEqual(p.allowInitiator(req(opid="s-10", pdskid=pdsk, initiator=IQN_HEAD,
                                              legs=[dict(snap, create=False)], **CHAP)), 0)
        self.assertEqual(p.deleteLegs(req(opid="s-11", pdskid=pdsk, legs=[{"chunkid": 301, "thin_id": 31}])), 0)
        self.assertEqual((read(32, 4096, 15), read(32, mib, 4), read(32, 3 * mib, 4)),
                         (b"raid superblock", b"AAAA", b"AAAA"))
        self.assertEqual([u["thin_id"] for u in p.legUsage(req(pdskid=pdsk)) if u["thin_id"] in (31, 32)], [32])
        self.assertEqual(p.revokeInitiator(req(opid="s-12", pdskid=pdsk, initiator=IQN_HEAD)), 0)
        self.assertEqual(p.deleteLegs(req(opid="s-13", pdskid=pdsk, legs=[{"chunkid": 302, "thin_id": 32}])), 0)
        self.assertNotIn(302, [l[0] for l in legs()])
        self.assertFault("ENOENT", p.legDelta, req(pdskid=pdsk, thin_id=32, base_thin_id=32))

    def pool_file(self, agent, disk, suffix):
        """The sim device-mapper's file for a disk's pool metadata: ".needs_check"
        (its mode after I/O errors, with needs_check) or ".damaged" (sim_host.cc)."""
        thin = os.path.join(agent.state_dir, "sim-dm", "thin")
        key = re.sub(r"[^A-Za-z0-9]", "_", disk) + "_"
        dirs = [d for d in os.listdir(thin) if d.startswith(key) and os.path.isdir(os.path.join(thin, d))]
        self.assertEqual(len(dirs), 1, os.listdir(thin))
        return os.path.join(thin, dirs[0] + suffix)

    def pool_events(self, since):
        return [e for e in self.api.listEvents(req(since=since)) if e["type"] == "pool"]

    def last_event_id(self):
        last = 0
        while True:
            page = self.api.listEvents(req(since=last))
            if not page:
                return last
            last = page[-1]["eventid"]

    def reconciled(self, agent, pdsk):
        """Waits (up to 10 s) for the manager's ACL reconcile after the agent's
        registration, which revokes the ACLs of initiators no head has (as a
        test's are): a canary ACL is revoked, or was never going to be."""
        p = agent.proxy()
        canary = "iqn.2024-01.org.example:canary"
        self.assertEqual(p.allowInitiator(req(opid="canary-%f" % time.time(), pdskid=pdsk, initiator=canary,
                                              **CHAP)), 0)

        def gone():
            return canary not in {e["pdskid"]: e for e in p.listExports(req())}[pdsk]["initiators"]
        try:
            wait_for("the ACL reconcile", gone, timeout=10)
        except AssertionError:
            self.assertEqual(p.revokeInitiator(req(opid="canary-r-%f" % time.time(), pdskid=pdsk, initiator=canary)), 0)

    def test_9c_repair_pool(self):
        a = self.agents[1]  # test_8 re-registered agents[0] at another url
        p = a.proxy()
        disk = self.disks_of(a)[0]
        pdsk, path = disk["pdskid"], disk["local_path"]
        other = "iqn.2024-01.org.example:head2"
        self.reconciled(a, pdsk)
        legs = [{"chunkid": 301, "thin_id": 31, "size_mib": 65, "create": True},
                {"chunkid": 302, "thin_id": 32, "size_mib": 65, "create": True}]
        self.assertEqual(p.allowInitiator(req(opid="pr-1", pdskid=pdsk, initiator=IQN_HEAD, legs=legs, **CHAP)), 0)
        self.assertEqual(p.allowInitiator(req(opid="pr-2", pdskid=pdsk, initiator=other,
                                              legs=[{"chunkid": 303, "thin_id": 33, "size_mib": 65,
                                                     "create": True}], **CHAP)), 0)
        thin = os.path.join(a.state_dir, "sim-dm", "mapper", "vastsky-thin-%08x-31" % pdsk)
        with open(thin, "r+b") as f:
            f.write(b"leg data")
        lun_file = os.path.join(a.state_dir, "sim-target")
        with open(lun_file) as f:
            luns_before = f.read()

        def maps():
            e = {e["pdskid"]: e for e in p.listExports(req())}[pdsk]
            return {m["initiator"]: sorted(m["chunks"]) for m in e["maps"]}

        def mode():
            return [d for d in self.api.listPhysicalDisks(req()) if d["pdskid"] == pdsk][0]["pool_mode"]

        granted = {IQN_HEAD: [301, 302], other: [303]}
        self.assertEqual(maps(), granted)
        since = self.last_event_id()

        # PROTOCOL.md, "Repairing a pool": "A pool in mode `rw` or
        # `out_of_data_space` without needs_check is refused with EBUSY
        # (nothing to repair), its LUNs untouched"; so through the manager.
        self.assertFault("EBUSY", p.repairPool, req(opid="pr-3", pdskid=pdsk))
        self.assertFault("EBUSY", self.api.repairPhysicalDisk, req(pdskid=pdsk))
        self.assertEqual(maps(), granted)
        self.assertEqual(self.pool_events(since), [])  # API.md: "A refusal ... records nothing"

        # API.md, Pools: "for `ro` or `fail`, a pool that saw I/O errors, it
        # names `vastsky pdsk repair`".
        with open(self.pool_file(a, path, ".needs_check"), "w") as f:
            f.write("fail\n")
        wait_for("pool_mode fail", lambda: mode() == "fail")
        failing = wait_for("a pool event", lambda: self.pool_events(since))
        self.assertEqual(failing[0]["level"], "error")
        self.assertIn("`vastsky pdsk repair pdsk-%08x`" % pdsk, failing[0]["message"])

        # API.md, "Repairing a pool": repairPhysicalDisk "asks the disk's
        # storage agent to repair its pool ... and waits for it"; PROTOCOL.md:
        # "the LUNs come back at their numbers and the ACLs and maps are
        # re-applied, as at a restart".
        since = self.last_event_id()
        self.assertEqual(self.api.repairPhysicalDisk(req(pdskid=pdsk)), 0)
        self.assertFalse(os.path.exists(self.pool_file(a, path, ".needs_check")))
        self.assertEqual(maps(), granted)
        with open(lun_file) as f:
            self.assertEqual(f.read(), luns_before)
        with open(thin, "rb") as f:
            self.assertEqual(f.read(8), b"leg data")
        repaired = self.pool_events(since)
        self.assertEqual(repaired[0]["level"], "info")
        self.assertIn("is repaired", repaired[0]["message"])
        wait_for("pool_mode rw", lambda: mode() == "rw")
        # Both legs hold a dm-raid superblock (for the stale mark below).
        thin32 = thin[:-2] + "32"
        for f_name, data in ((thin, b"DmRd leg 31"), (thin32, b"DmRd leg 32")):
            with open(f_name, "r+b") as f:
                f.write(data)

        # PROTOCOL.md: "If thin_check finds damage the pool stays down
        # (heartbeats report it `fail`) and the answer is EUCLEAN naming the
        # repair to do"; its LUNs stay withdrawn, its ACLs recorded.
        with open(self.pool_file(a, path, ".needs_check"), "w") as f:
            f.write("ro\n")
        with open(self.pool_file(a, path, ".damaged"), "w") as f:
            f.write("bad checksum in superblock\n")
        since = self.last_event_id()
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            self.api.repairPhysicalDisk(req(pdskid=pdsk))
        self.assertEqual(cm.exception.faultString, "EUCLEAN")
        self.assertEqual(maps(), {IQN_HEAD: [], other: []})
        wait_for("pool_mode fail", lambda: mode() == "fail")
        down = [e for e in self.pool_events(since) if e["level"] == "error" and "stays down" in e["message"]]
        self.assertEqual(len(down), 1, self.pool_events(since))
        self.assertIn("thin_repair -i /dev/mapper/vastsky-pool-%08x-meta" % pdsk, down[0]["message"])
        self.assertIn("bad checksum in superblock", a.read_log())
        # The agent says the same, and "afterwards `repairPool` may run again".
        self.assertFault("EUCLEAN", p.repairPool, req(opid="pr-4", pdskid=pdsk))
        os.unlink(self.pool_file(a, path, ".damaged"))
        # "each `stale` leg gets the stale mark (its dm-raid superblock's
        # magic DmRd becomes VsSt, the rest kept) before its LUN comes back".
        stale = [{"chunkid": 301, "thin_id": 31, "size_mib": 65}]
        self.assertEqual(p.repairPool(req(opid="pr-5", pdskid=pdsk, stale=stale)), 0)
        self.assertEqual(maps(), granted)
        with open(thin, "rb") as f:
            self.assertEqual(f.read(11), b"VsSt leg 31")
        with open(thin32, "rb") as f:
            self.assertEqual(f.read(11), b"DmRd leg 32")
        self.assertIn("dext-0000012d marked stale", a.read_log())
        # "a repeat of a finished `opid` returns the recorded result without
        # acting again" (a fresh one would be EBUSY: nothing to repair).
        self.assertEqual(p.repairPool(req(opid="pr-5", pdskid=pdsk)), 0)

        # Bad input: errno faults.
        self.assertFault("EINVAL", p.repairPool, req(pdskid=pdsk))
        self.assertFault("EINVAL", p.repairPool, req(opid="pr-6", pdskid=0))
        self.assertFault("EINVAL", p.repairPool, req(opid="pr-8", pdskid=pdsk, stale=[{"chunkid": 301}]))
        self.assertFault("EINVAL", p.repairPool, req(opid="pr-9", pdskid=pdsk, stale=stale + stale))
        self.assertFault("ENOENT", p.repairPool, req(opid="pr-7", pdskid=0x7ffffff0))
        self.assertFault("EINVAL", self.api.repairPhysicalDisk, req())
        self.assertFault("EINVAL", self.api.repairPhysicalDisk, req(pdskid="x"))
        self.assertFault("ENOENT", self.api.repairPhysicalDisk, req(pdskid=0x7ffffff0))
        self.assertFault("EPROTO", self.api.repairPhysicalDisk, {"ver": 4, "pdskid": pdsk})

        # The CLI: "A fault is explained in words and the exit status is
        # non-zero".
        cli = [os.path.join(os.path.dirname(StorageAgent.binary()), "vastsky"), "pdsk", "repair",
               "pdsk-%08x" % pdsk, "--manager", self.m.url(user=None), "--secret-file", self.m.secret_file]
        r = subprocess.run(cli, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("cannot repair disk pdsk-%08x" % pdsk, r.stderr)
        self.assertIn("(EBUSY)", r.stderr)
        with open(self.pool_file(a, path, ".needs_check"), "w") as f:
            f.write("ro\n")
        r = subprocess.run(cli, capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stderr), (0, ""))

        for i, initiator in enumerate((IQN_HEAD, other)):
            self.assertEqual(p.revokeInitiator(req(opid="pr-r-%d" % i, pdskid=pdsk, initiator=initiator)), 0)
        self.assertEqual(p.deleteLegs(req(opid="pr-8", pdskid=pdsk, legs=[{"chunkid": c, "thin_id": c - 270}
                                                                          for c in (301, 302, 303)])), 0)

    def test_8_tgt_without_tgtd_says_so(self):
        # target=tgt with no tgtd behind its control port: the agent stays
        # up (tgtd may come later) and says what to do; SIGTERM still stops it.
        a = self.agents[0]
        argv = a.argv()
        argv[argv.index("sim")] = "tgt"
        argv += ["--tgt-control-port", str(random.randint(1000, 9000))]
        state = tempfile.mkdtemp(prefix="vastsky-tgt-")
        argv[argv.index("--state-dir") + 1] = state
        argv[argv.index("--listen") + 1] = "127.0.0.1:%d" % free_port()
        self.addCleanup(shutil.rmtree, state, True)
        with tempfile.TemporaryFile(mode="w+") as log:
            p = subprocess.Popen(argv, stderr=log, stdout=subprocess.DEVNULL)
            try:
                deadline = time.time() + 15
                text = ""
                while time.time() < deadline and "tgtd is not running" not in text:
                    time.sleep(0.2)
                    log.seek(0)
                    text = log.read()
                self.assertIn("tgtd is not running", text)
            finally:
                p.terminate()
                self.assertEqual(p.wait(timeout=20), 0)


if __name__ == "__main__":
    unittest.main()


class Scrub(unittest.TestCase):
    """The background scrub reads every exported disk end to end, paced, and
    stops at once with the agent."""

    def test_passes_over_every_disk_and_stops_promptly(self):
        # Under TSan, disks whose pools (the disk less its label and 16 MiB
        # of metadata) are just over a chunk of 1 GiB, so that they register.
        gib = (1.05, 1.05) if UNDER_TSAN else (5, 6)
        m = Manager(chunk_size="1G" if UNDER_TSAN else None).start()
        agent = None
        try:
            agent = StorageAgent(m, "127.0.0.15", disks_gib=gib, scrub_rate=4000).start()
            done = "scrub pass done: 2 disk(s), %d GiB read, 0 bad" % sum(int(g) for g in gib)
            wait_for("a scrub pass", lambda: done in agent.read_log(), 120 if UNDER_TSAN else 60)
            started = time.time()
            self.assertEqual(agent.stop(), 0)
            self.assertLess(time.time() - started, 5)
            self.assertEqual([e for e in m.proxy().listEvents(req(limit=10000)) if e["type"] == "badblocks"], [])
        finally:
            if agent:
                agent.cleanup()
            m.stop()
