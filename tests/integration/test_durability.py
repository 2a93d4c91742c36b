"""Crash safety: a client streams creates and deletes while the manager is
killed (-9) or terminated at seeded random moments. After each stop the
database passes --audit, every volume whose create returned is there with
its size, every volume whose delete returned is gone, and nothing else is."""
import random
import signal
import threading
import time
import unittest
import xmlrpc.client

from harness import Manager, make_cluster, mirrors_of, req


class Stream(threading.Thread):
    """Creates and deletes volumes until the manager stops answering."""

    def __init__(self, m, rng, model, tag):
        super().__init__(daemon=True)
        self.api = m.proxy(timeout=30)
        self.rng, self.model, self.tag = rng, model, tag
        self.done = 0
        self.inflight = None  # ("create", name, cap, red) or ("delete", lvolid)
        self.faults = []

    def run(self):
        i = 0
        while True:
            i += 1
            live = sorted(self.model)
            if live and (len(live) > 25 or self.rng.random() < 0.35):
                lvolid = self.rng.choice(live)
                self.inflight = ("delete", lvolid)
                call = lambda: self.api.deleteLogicalVolume(req(lvolid=lvolid))  # noqa: E731
            else:
                spec = ("%s-%d" % (self.tag, i), self.rng.randint(1, 13), self.rng.choice((2, 3)))
                self.inflight = ("create",) + spec
                call = lambda: self.api.createLogicalVolume(  # noqa: E731
                    req(lvolname=spec[0], capacity=spec[1], redundancy=spec[2]))
            try:
                result = call()
            except xmlrpc.client.Fault as f:
                self.faults.append((self.inflight, f.faultCode, f.faultString))
                return
            except Exception:  # the manager went away mid-call
                return
            if self.inflight[0] == "create":
                self.model[result] = self.inflight[1:]
            else:
                del self.model[self.inflight[1]]
            self.inflight = None
            self.done += 1


class Durability(unittest.TestCase):

    def setUp(self):
        self.m = Manager().start()
        self.api = self.m.proxy()
        make_cluster(self.api, servers=4, disks=3)
        self.model = {}  # lvolid -> (name, capacity, redundancy) the client saw created and not deleted

    def tearDown(self):
        self.m.__exit__(None, None, None)

    def stream_then_stop(self, rng, sig, tag):
        s = Stream(self.m, rng, self.model, tag)
        s.start()
        t0 = time.time()
        while s.done < 3 and s.is_alive() and time.time() - t0 < 30:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.4))
        t1 = time.time()
        rc = self.m.stop(sig)
        stop_time = time.time() - t1
        s.join(30)
        self.assertFalse(s.is_alive(), "client hung after the manager stopped")
        self.assertEqual(s.faults, [], "the stream got faults")
        return rc, stop_time, s.inflight

    def check_after_restart(self, inflight):
        code, out = self.m.audit()
        self.assertEqual(code, 0, out)
        self.assertIn("audit: OK", out)
        self.m.start_again()
        self.api = self.m.proxy()
        rows = {r["lvolid"]: r for r in self.api.listLogicalVolumes(req())}
        if inflight and inflight[0] == "create":
            # may or may not have committed; if it did, it is whole
            found = [i for i, r in rows.items() if r["lvolname"] == inflight[1]]
            if found:
                self.model[found[0]] = inflight[1:]
        if inflight and inflight[0] == "delete" and inflight[1] not in rows:
            self.model.pop(inflight[1], None)
        self.assertEqual(sorted(rows), sorted(self.model), "volumes after restart differ from what the client saw")
        for lvolid, (name, cap, red) in self.model.items():
            r = rows[lvolid]
            self.assertEqual((r["lvolname"], r["capacity"], r["redundancy"]), (name, cap, red))
        for lvolid in sorted(self.model)[:5]:
            tree = self.api.showLogicalVolume(req(lvolid=lvolid))
            self.assertEqual(sum(mm["capacity"] for mm in mirrors_of(tree)), self.model[lvolid][1])
            self.assertTrue(all(len(mm["components"]) == self.model[lvolid][2] for mm in mirrors_of(tree)))
        st = self.api.getClusterStatus(req())
        self.assertEqual(st["lvols"], len(self.model))
        data = sum(cap * red for _, cap, red in self.model.values())
        self.assertTrue(data <= st["used"] <= data + 12, "used %d for %d GiB of legs" % (st["used"], data))
        probe = self.api.createLogicalVolume(req(lvolname="probe", capacity=2))
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=probe)), 0)

    def test_kill9_rounds(self):
        rng = random.Random(20261124)
        for rnd in range(6):
            rc, _, inflight = self.stream_then_stop(rng, signal.SIGKILL, "k%d" % rnd)
            self.assertEqual(rc, -signal.SIGKILL)
            self.check_after_restart(inflight)

    def test_sigterm_mid_stream(self):
        rng = random.Random(4242)
        for rnd in range(2):
            rc, took, inflight = self.stream_then_stop(rng, signal.SIGTERM, "t%d" % rnd)
            self.assertEqual(rc, 0, "SIGTERM must exit 0")
            self.assertLess(took, 10)
            self.check_after_restart(inflight)


if __name__ == "__main__":
    unittest.main()
