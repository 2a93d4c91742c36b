"""A read-only volume on the head agent (agents/PROTOCOL.md, `read_only` in
the `lvol` struct), driven over XML-RPC as the manager would drive it, with
the real head agent on the simulated host (its dm devices are files; a
read-only one has the file <device>.ro). No manager runs: the head would
register with one, whose reconcile detaches what it did not attach itself."""
import errno
import os
import shutil
import signal
import unittest
import xmlrpc.client

from harness import HeadAgent, Manager, req

IQN = "iqn.2024-01.org.example:head-ro"


def lvol(lvolid, mirrors=1, read_only=None):
    """The `lvol` struct of a volume of 1 GiB mirrors, never written."""
    spec = {"lvolid": lvolid, "lvolname": "ro%d" % lvolid, "mirrors": [
        {"mirrorid": lvolid * 100 + i, "offset_gib": i, "capacity_gib": 1,
         "legs": [{"chunkid": lvolid * 1000 + 2 * i + j, "pdskid": 2 * i + j + 1,
                   "portals": ["127.0.0.%d:3260" % (2 * i + j + 1)], "length_mib": 1024, "status": 1}
                  for j in range(2)]}
        for i in range(mirrors)]}
    if read_only is not None:
        spec["read_only"] = read_only
    return spec


class HeadReadOnly(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(HeadAgent.binary()):
            raise unittest.SkipTest("vastsky-head-agent not built in this bin dir")
        cls.m = Manager()  # never started: its secret and a port nothing answers on
        cls.head = HeadAgent(cls.m, "127.0.8.1", IQN).start()

    @classmethod
    def tearDownClass(cls):
        cls.head.cleanup()
        shutil.rmtree(cls.m.dir, ignore_errors=True)

    _op = 0

    def opid(self):
        HeadReadOnly._op += 1
        return "ro-%d" % HeadReadOnly._op

    def attach(self, spec):
        return self.head.proxy().attachLogicalVolume(
            req(opid=self.opid(), lvol=spec, chap_user="user", chap_secret="secret-secret"))

    def detach(self, lvolid):
        self.assertEqual(self.head.proxy().detachLogicalVolume(req(opid=self.opid(), lvolid=lvolid)), 0)

    def marker(self, name):
        return os.path.join(self.head.state_dir, "sim", "dm", "mapper", name + ".ro")

    def read_only_devices(self, lvolid):
        mapper = os.path.join(self.head.state_dir, "sim", "dm", "mapper")
        top = "vastsky-%d" % lvolid
        return sorted(n[:-3] for n in os.listdir(mapper) if n.endswith(".ro") and (n[:-3] == top or n.startswith(top + "-")))

    def listed(self, lvolid):
        return [v for v in self.head.proxy().listVolumes(req()) if v["lvolid"] == lvolid][0]

    def restart(self, reboot=False):
        self.head.stop(sig=signal.SIGKILL if reboot else signal.SIGTERM)
        if reboot:  # devices, sessions and links go with the machine; the records stay
            for d in ("dm", "iscsi", "dev"):
                shutil.rmtree(os.path.join(self.head.state_dir, "sim", d))
        self.head.start()

    def test_read_only_top_across_restart_grow_and_reboot(self):
        # "the head loads the top device `vastsky-<lvolid>` read-only ...;
        # its raids and legs stay read-write"
        self.assertEqual(self.attach(lvol(11, read_only=True)), "%s/sim/dev/vastsky/ro11" % self.head.state_dir)
        self.assertEqual(self.read_only_devices(11), ["vastsky-11"])
        v = self.listed(11)
        self.assertTrue(v["assembled"])
        self.assertTrue(v["read_only"])
        # "A repeated `attachLogicalVolume` with another `read_only` is
        # EINVAL and changes nothing (detach first)"
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            self.attach(lvol(11))
        self.assertEqual(cm.exception.faultCode, errno.EINVAL)
        self.assertEqual(self.attach(lvol(11, read_only=True)), "%s/sim/dev/vastsky/ro11" % self.head.state_dir)
        # "an agent restart and `growLogicalVolume`'s reload load the top
        # device read-only again"
        self.restart()
        self.assertEqual(self.read_only_devices(11), ["vastsky-11"])
        self.assertEqual(self.head.proxy().growLogicalVolume(req(opid=self.opid(), lvol=lvol(11, mirrors=2))), 0)
        v = self.listed(11)
        self.assertEqual(v["capacity_gib"], 2)
        self.assertTrue(v["read_only"])
        self.restart(reboot=True)
        self.assertEqual(self.read_only_devices(11), ["vastsky-11"])
        self.assertEqual(self.listed(11)["capacity_gib"], 2)
        self.detach(11)
        self.assertFalse(os.path.exists(self.marker("vastsky-11")))

    def test_absent_read_only_is_writable(self):
        # "`read_only` (bool, optional: absent is false)"
        self.attach(lvol(12))
        self.assertEqual(self.read_only_devices(12), [])
        self.assertFalse(self.listed(12)["read_only"])
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            self.attach(lvol(12, read_only=1))
        self.assertEqual(cm.exception.faultCode, errno.EINVAL)
        self.detach(12)


if __name__ == "__main__":
    unittest.main()
