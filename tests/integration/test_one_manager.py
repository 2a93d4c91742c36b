"""One manager per database (README "Running the manager"): a second
vastsky-manager on the same database refuses to start, names the first's
pid and exits non-zero, while the first keeps serving and --audit still
reads; once the first is gone, however it went, a new one starts."""
import os
import signal
import unittest

from harness import Manager, make_cluster, req


class OneManagerPerDatabase(unittest.TestCase):
    def second_on(self, m):
        """Starts another manager on m's database; returns (exit code, log)."""
        other = Manager(workdir=m.dir)
        other.log_path = os.path.join(m.dir, "second.log")
        other.start(wait=False)
        try:
            rc = other.proc.wait(timeout=30)
        finally:
            other.stop()
        return rc, other.read_log()

    def test_second_manager_refuses_and_first_keeps_serving(self):
        with Manager() as m:
            api = m.proxy()
            make_cluster(api, servers=2, disks=1)
            api.createLogicalVolume(req(lvolname="kept", capacity=4, redundancy=2))

            rc, log = self.second_on(m)
            self.assertNotEqual(0, rc)
            self.assertIn("another vastsky-manager (pid %d)" % m.proc.pid, log)
            self.assertIn("one manager per database", log)

            # The first still serves and its database is untouched.
            self.assertEqual(["kept"], [v["lvolname"] for v in api.listLogicalVolumes(req())])
            code, out = m.audit()
            self.assertEqual(0, code, out)
            self.assertIn("audit: OK", out)

            # Stopped cleanly, or killed: the lock goes with the process.
            for sig in (signal.SIGTERM, signal.SIGKILL):
                m.stop(sig)
                m.start_again()
                api = m.proxy()
                self.assertEqual(["kept"], [v["lvolname"] for v in api.listLogicalVolumes(req())])


if __name__ == "__main__":
    unittest.main()
