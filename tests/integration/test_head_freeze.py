"""The head agent's freezeVolume and thawVolume over XML-RPC (agents/PROTOCOL.md,
"Freezing a volume"), with the real head agent (host sim) holding a volume the
manager attached on real storage agents (target sim). A suspended simulated
dm device is the file <device>.suspended."""
import errno
import glob
import os
import time
import unittest
import xmlrpc.client

from harness import HeadAgent, Manager, StorageAgent, req, stop_and_audit, wait_for

IQN = "iqn.2024-01.org.example:head-freeze"


class HeadFreeze(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(StorageAgent.binary()):
            raise unittest.SkipTest("vastsky-storage-agent not built in this bin dir")
        cls.m = Manager().start()
        cls.api = cls.m.proxy()
        cls.agents = []
        try:
            for i in range(2):
                cls.agents.append(StorageAgent(cls.m, "127.0.0.%d" % (41 + i), disks_gib=(100,)).start())
            wait_for("disks", lambda: len(cls.api.listPhysicalDisks(req())) == 2)
            cls.head = HeadAgent(cls.m, "127.0.7.1", IQN)
            cls.agents.append(cls.head)
            cls.head.start()
            url = cls.head.url(user=None)
            wait_for("the head", lambda: [h for h in cls.api.listHeadServers(req()) if h["url"] == url])
            h = [h for h in cls.api.listHeadServers(req()) if h["url"] == url][0]["hsvrid"]
            # Two mirrors: the top device over two raids.
            cls.v = cls.api.createLogicalVolume(req(lvolname="frz", capacity=6, redundancy=2))
            assert cls.api.attachLogicalVolume(req(lvolid=cls.v, hsvrid=h)) == 0
            cls.p = cls.head.proxy()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "v", None):
            cls.api.detachLogicalVolume(req(lvolid=cls.v))
            cls.api.deleteLogicalVolume(req(lvolid=cls.v))
        for a in cls.agents:
            a.cleanup()
        stop_and_audit(cls.m)

    _op = 0

    def opid(self):
        HeadFreeze._op += 1
        return "frz-%d" % HeadFreeze._op

    def mapper(self):
        return os.path.join(self.head.state_dir, "sim", "dm", "mapper")

    def suspended(self):
        """The names of the volume's suspended devices, top first."""
        top = "vastsky-%d" % self.v
        names = [os.path.basename(p)[:-len(".suspended")] for p in glob.glob(os.path.join(self.mapper(), top + "*.suspended"))]
        return sorted(names, key=len)

    def raids(self):
        return sorted(os.path.basename(p) for p in glob.glob(os.path.join(self.mapper(), "vastsky-%d-m*" % self.v))
                      if "." not in os.path.basename(p))

    def freeze(self, timeout_ms, opid=None):
        return self.p.freezeVolume(req(opid=opid or self.opid(), lvolid=self.v, timeout_ms=timeout_ms))

    def thaw(self, opid=None):
        return self.p.thawVolume(req(opid=opid or self.opid(), lvolid=self.v))

    def assertFault(self, name, fn, *args):
        with self.assertRaises(xmlrpc.client.Fault, msg="want %s" % name) as cm:
            fn(*args)
        self.assertEqual(cm.exception.faultCode, getattr(errno, name), cm.exception)
        return cm.exception

    def test_1_freeze_then_thaw(self):
        # "0 once `vastsky-<lvolid>` and then each of its raids are
        # suspended with flush"; "EBUSY if frozen already"
        raids = self.raids()
        self.assertEqual(len(raids), 2)
        self.assertEqual(self.freeze(5000, opid="frz-first"), 0)
        self.assertEqual(self.suspended(), ["vastsky-%d" % self.v] + raids)
        self.assertEqual(self.freeze(5000, opid="frz-first"), 0)  # a repeated opid did not act
        self.assertFault("EBUSY", self.freeze, 5000)
        # "`detachLogicalVolume` ... EBUSY (retry after the thaw)"
        self.assertFault("EBUSY", self.p.detachLogicalVolume, req(opid=self.opid(), lvolid=self.v))
        self.assertEqual(len(self.suspended()), 3)
        time.sleep(0.2)
        # "`{status: 0, paused_ms}` if it was still frozen"
        answer = self.thaw(opid="thaw-first")
        self.assertEqual(answer["status"], 0)
        self.assertGreaterEqual(answer["paused_ms"], 200)
        self.assertLess(answer["paused_ms"], 5000)
        self.assertEqual(self.suspended(), [])
        # "A repeated `opid` answers as the first call did."
        self.assertEqual(self.thaw(opid="thaw-first"), answer)
        # "ENOENT if not frozen"
        self.assertFault("ENOENT", self.thaw)

    def test_2_the_deadline_thaws(self):
        # "At `timeout_ms` (monotonic clock) the head resumes the volume by
        # itself and logs it"; "the thaw that follows is ETIME (again if
        # repeated ...)"
        self.assertEqual(self.freeze(300), 0)
        self.assertEqual(len(self.suspended()), 3)
        wait_for("the deadline's thaw", lambda: not self.suspended(), timeout=5)
        self.assertFault("ETIME", self.thaw)
        self.assertFault("ETIME", self.thaw)
        self.assertIn("lvol-%08x frozen" % self.v, self.head.read_log())

    def test_3_failure_midway_is_undone(self):
        # "a suspend that fails resumes what the call suspended (and the
        # device that failed ...) and answers its errno"
        last = os.path.join(self.mapper(), self.raids()[-1] + ".suspend-errno")
        with open(last, "w") as f:
            f.write("%d" % errno.EIO)
        try:
            self.assertFault("EIO", self.freeze, 5000)
        finally:
            os.unlink(last)
        self.assertEqual(self.suspended(), [])
        self.assertEqual(self.freeze(5000), 0)
        self.assertEqual(self.thaw()["status"], 0)

    def test_4_bad_input(self):
        # "`timeout_ms` (100..60000)"; "ENOENT if not assembled there"
        for t in (99, 60001, -1):
            self.assertFault("EINVAL", self.freeze, t)
        self.assertFault("ENOENT", self.p.freezeVolume, req(opid=self.opid(), lvolid=self.v + 1000, timeout_ms=1000))
        self.assertFault("EINVAL", self.p.freezeVolume, req(opid=self.opid(), lvolid=self.v))
        self.assertFault("EINVAL", self.p.thawVolume, req(lvolid=self.v))
        self.assertEqual(self.suspended(), [])

    def test_5_a_stopping_agent_thaws(self):
        # "a stopping agent thaws what is frozen, and one that starts
        # resumes a recorded volume's suspended devices (a thaw then answers
        # ENOENT)"
        self.assertEqual(self.freeze(60000), 0)
        self.assertEqual(self.head.stop(), 0)
        self.assertEqual(self.suspended(), [])
        self.assertIn("the agent stopping", self.head.read_log())
        self.head.start()
        self.p = HeadFreeze.p = self.head.proxy()
        self.assertFault("ENOENT", self.thaw)


if __name__ == "__main__":
    unittest.main()
