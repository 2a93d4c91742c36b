"""legMap through the manager (API.md "Thin legs", "legMap") over real
XML-RPC: against a scripted storage agent (a Python XML-RPC server) for
each check, each fault and the timeout; and against the real storage
agents (target sim) under the real head agent (host sim), where the
manager must answer what the agent answers."""
import errno
import os
import socketserver
import threading
import time
import unittest
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

from harness import (INSYNC, SPARE, T_PDSK, UNKNOWN_ID, AgentsCase, HeadAgent, StorageAgent, basic_auth,
                     disk_sectors, legs_of, req, wait_for)

NO_SUCH_METHOD = -506  # xmlrpc-c's fault for a method an agent does not have


class ScriptedStorageAgent:
    """A storage agent that answers legMap as `self.leg_map` says (a value,
    a Fault to raise, or a callable giving either), listExports [] and
    anything else 0. Records (method, struct, Authorization) per call."""

    def __init__(self):
        self.calls = []
        self.leg_map = xmlrpc.client.Fault(errno.ENOENT, "ENOENT")
        outer = self

        class Handler(SimpleXMLRPCRequestHandler):
            rpc_paths = ("/RPC2",)

            def _dispatch(self, method, params):
                return outer.answer(method, params, self.headers.get("Authorization"))

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler, logRequests=False)
        self.url = "http://127.0.0.1:%d/RPC2" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, method, params, auth):
        self.calls.append((method, params[0] if params else None, auth))
        if method == "legMap":
            a = self.leg_map() if callable(self.leg_map) else self.leg_map
            if isinstance(a, xmlrpc.client.Fault):
                raise a
            return a
        return [] if method == "listExports" else 0

    def leg_map_calls(self):
        return [c for c in self.calls if c[0] == "legMap"]

    def cleanup(self):
        self.server.shutdown()
        self.server.server_close()


class LegMapChecks(AgentsCase):
    """Two storage servers, one with the scripted agent, one without an
    agent; two heads without agents (a state-only attach makes legs
    INSYNC); a volume of redundancy 2 attached to the first: one leg on
    each server."""
    manager_kw = {"extra_args": ["--agent-quick-timeout", "1", "--failure-grace", "600"]}

    @classmethod
    def start_agents(cls):
        cls.agent = ScriptedStorageAgent()
        cls.agents.append(cls.agent)
        cls.with_agent = cls.api.registerStorageServer(req(ip_data=["127.0.40.1"], url=cls.agent.url))
        cls.without = cls.api.registerStorageServer(req(ip_data=["127.0.40.2"]))
        cls.disk = {s: cls.api.registerPhysicalDisk(req(ssvrid=s, local_path="/dev/sdb", capacity=disk_sectors(100)))
                    for s in (cls.with_agent, cls.without)}
        cls.head = cls.api.registerHeadServer(req(ip_data=["127.0.41.1"]))
        cls.other_head = cls.api.registerHeadServer(req(ip_data=["127.0.41.2"]))
        cls.v = cls.api.createLogicalVolume(req(lvolname="trimmed", capacity=4, redundancy=2))
        cls.api.attachLogicalVolume(req(lvolid=cls.v, hsvrid=cls.head))

    def leg_on(self, ssvr, lvolid=None):
        legs = [leg for leg in legs_of(self.api.showLogicalVolume(req(lvolid=lvolid or self.v)))
                if leg["lvolspec"]["ssvrid"] == ssvr]
        self.assertEqual(len(legs), 1, legs)
        return legs[0]

    def leg_map(self, chunkid, hsvrid=None):
        return self.api.legMap(req(hsvrid=hsvrid or self.head, chunkid=chunkid))

    def assertFault(self, name, chunkid, hsvrid=None):
        with self.assertRaises(xmlrpc.client.Fault, msg="want %s" % name) as cm:
            self.leg_map(chunkid, hsvrid)
        self.assertEqual((cm.exception.faultCode, cm.exception.faultString), (getattr(errno, name), name))

    def test_0_bad_members_are_einval(self):
        for r in (req(chunkid=1), req(hsvrid=self.head), req(hsvrid=self.head, chunkid="1"),
                  req(hsvrid=0, chunkid=1), req(hsvrid=self.head, chunkid=-1), req(hsvrid=True, chunkid=1)):
            with self.subTest(request=r):
                with self.assertRaises(xmlrpc.client.Fault) as cm:
                    self.api.legMap(r)
                self.assertEqual((cm.exception.faultCode, cm.exception.faultString), (errno.EINVAL, "EINVAL"))
        self.assertEqual(self.agent.leg_map_calls(), [])

    def test_1_answer_passes_through(self):
        # "as the storage agent's `legMap` answered them": asked with the
        # leg's disk and thin id, the cluster secret and no opid.
        leg = self.leg_on(self.with_agent)
        self.assertEqual(leg["mirror_status"], INSYNC)
        answer = {"status": 0, "block_kib": 64, "ranges": [0, 16, 100, 1, 65551, 1]}
        self.agent.leg_map = answer
        self.assertEqual(self.leg_map(leg["lvolid"]), answer)
        self.agent.leg_map = {"status": 0, "block_kib": 1024, "ranges": []}
        self.assertEqual(self.leg_map(leg["lvolid"]), {"status": 0, "block_kib": 1024, "ranges": []})
        method, struct, auth = self.agent.leg_map_calls()[-1]
        self.assertEqual(struct, {"ver": 5, "pdskid": leg["lvolspec"]["pdskid"],
                                  "thin_id": leg["lvolspec"]["thin_id"]})
        self.assertEqual(auth, basic_auth())

    def test_2_checks_in_order(self):
        asked = len(self.agent.leg_map_calls())
        self.agent.leg_map = {"status": 0, "block_kib": 64, "ranges": []}
        # "Checks, in this order: ENOENT no such chunk", whoever asks.
        self.assertFault("ENOENT", UNKNOWN_ID)
        self.assertFault("ENOENT", UNKNOWN_ID, UNKNOWN_ID)
        # "EPERM its volume is not attached at `hsvrid`": another head's
        # volume; a detached one (its legs ALLOCATED: EPERM comes first).
        self.assertFault("EPERM", self.leg_on(self.with_agent)["lvolid"], self.other_head)
        detached = self.api.createLogicalVolume(req(lvolname="detached", capacity=4, redundancy=2))
        self.assertFault("EPERM", self.leg_on(self.with_agent, detached)["lvolid"])
        # "EHOSTDOWN its disk or storage server ... has no agent".
        self.assertFault("EHOSTDOWN", self.leg_on(self.without)["lvolid"])
        self.assertEqual(len(self.agent.leg_map_calls()), asked)

    def test_3_agent_faults_pass_through(self):
        chunk = self.leg_on(self.with_agent)["lvolid"]
        for name in ("ENOENT", "E2BIG", "EIO"):
            self.agent.leg_map = xmlrpc.client.Fault(getattr(errno, name), name)
            self.assertFault(name, chunk)
        # "an agent without `legMap` gives ENOTSUP (95)".
        self.agent.leg_map = xmlrpc.client.Fault(NO_SUCH_METHOD, "Method not found")
        self.assertFault("ENOTSUP", chunk)
        # "asked within `agent_quick_timeout`" (1 s here): "a lost answer
        # is ETIMEDOUT or EIO, never a map".
        late = {"status": 0, "block_kib": 64, "ranges": []}
        self.agent.leg_map = lambda: (time.sleep(4), late)[1]
        start = time.monotonic()
        self.assertFault("ETIMEDOUT", chunk)
        self.assertLess(time.monotonic() - start, 3.5)

    def test_4_answer_that_is_no_map_is_eproto(self):
        # "An answer that is no map of that leg (...) is EPROTO".
        chunk = self.leg_on(self.with_agent)["lvolid"]
        for bad in ({"status": 0, "block_kib": 64, "ranges": [0, 16, 100]},     # odd length
                    {"status": 0, "block_kib": 64, "ranges": [10, 5, 3, 1]},    # descending
                    {"status": 0, "block_kib": 64, "ranges": [-1, 2]},          # negative
                    {"status": 0, "block_kib": 64, "ranges": [65552, 1]},       # past the 4097 MiB device
                    {"status": 0, "block_kib": 0, "ranges": []},
                    {"status": 0, "block_kib": 64, "ranges": ["0", "1"]},
                    {"status": 0, "block_kib": 64},
                    "a string"):
            self.agent.leg_map = bad
            self.assertFault("EPROTO", chunk)

    def test_5_leg_not_in_sync_is_eagain(self):
        # "EAGAIN the chunk is not INSYNC", before EHOSTDOWN: the agentless
        # server's disk fails, no room elsewhere, its leg turns SPARE.
        self.api.notifyFailure(req(target=T_PDSK, targetid=self.disk[self.without]))
        leg = self.leg_on(self.without)
        self.assertEqual(leg["mirror_status"], SPARE)
        self.assertFault("EAGAIN", leg["lvolid"])


class LegMapWithRealAgents(AgentsCase):
    """The real storage agents (target sim) and head agent (host sim): the
    manager answers legMap for a leg of an attached volume exactly as the
    leg's storage agent answers it asked directly (an agent without
    legMap: ENOTSUP)."""

    @classmethod
    def start_agents(cls):
        if not os.path.exists(StorageAgent.binary()) or not os.path.exists(HeadAgent.binary()):
            raise unittest.SkipTest("agents not built in this bin dir")
        for i in range(2):
            cls.agents.append(StorageAgent(cls.m, "127.0.42.%d" % (i + 1), disks_gib=(100,)).start())
        wait_for("disks", lambda: len(cls.api.listPhysicalDisks(req())) == 2)
        head = HeadAgent(cls.m, "127.0.43.1", "iqn.2024-01.org.example:legmap")
        cls.agents.append(head)
        head.start()
        url = head.url(user=None)
        cls.h = wait_for("the head", lambda: [h["hsvrid"] for h in cls.api.listHeadServers(req()) if h["url"] == url])[0]

    def agent_of(self, ssvrid):
        url = [s["url"] for s in self.api.listStorageServers(req(ssvrid=ssvrid))][0]
        return [a for a in self.agents if a.url(user=None) == url][0]

    @staticmethod
    def outcome(call):
        try:
            return ("answer", call())
        except xmlrpc.client.Fault as f:
            return ("fault", f.faultCode)

    def test_answers_as_the_storage_agent(self):
        v = self.api.createLogicalVolume(req(lvolname="real", capacity=4, redundancy=2))
        self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h))
        legs = legs_of(self.api.showLogicalVolume(req(lvolid=v)))
        self.assertEqual(len(legs), 2)
        for leg in legs:
            spec = leg["lvolspec"]
            agent = self.agent_of(spec["ssvrid"]).proxy()
            direct = self.outcome(lambda: agent.legMap(req(pdskid=spec["pdskid"], thin_id=spec["thin_id"])))
            if direct == ("fault", NO_SUCH_METHOD):
                direct = ("fault", errno.ENOTSUP)
            got = self.outcome(lambda: self.api.legMap(req(hsvrid=self.h, chunkid=leg["lvolid"])))
            self.assertEqual(got, direct, leg)
        self.api.detachLogicalVolume(req(lvolid=v))
        self.api.deleteLogicalVolume(req(lvolid=v))


if __name__ == "__main__":
    unittest.main()
