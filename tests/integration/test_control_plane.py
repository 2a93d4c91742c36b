"""Failure detection that the manager's own absence, clock or isolation
cannot fool (manager/API.md, "Failures and rebuilds": silence, the storm
guard), and a head whose heartbeat never waits on its kernel. Real
manager, four storage agents (target sim) and a head agent (host sim) on
loopback, with a grace period of a few seconds."""
import os
import signal
import time
import unittest

from harness import (BOUND, INSYNC, T_SSVR, AgentsCase, HeadAgent, Manager, StorageAgent, legs_of, req,
                     wait_for)

GRACE = 3
IQN = "iqn.2024-01.org.example:cp-head-%d"
FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
LIVE = (1, 2, 3)


class Pool(AgentsCase):
    """A manager (failure_grace GRACE), four storage agents and a head with
    a mirrored volume attached."""
    faketime = False

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(StorageAgent.binary()):
            raise unittest.SkipTest("agents not built in this bin dir")
        super().setUpClass()

    @classmethod
    def new_manager(cls):
        m = Manager(extra_args=["--failure-grace", str(GRACE)])
        if cls.faketime:
            if not os.path.exists(FAKETIME):
                raise unittest.SkipTest("libfaketime is not installed (tools/install-deps.sh installs it)")
            # The wall clock follows the offset in this file, read at every
            # call; the monotonic clock stays the machine's.
            cls.clock_file = os.path.join(m.dir, "faketime")
            cls.step_clock("+0")
            m.env = dict(os.environ, LD_PRELOAD=FAKETIME, FAKETIME_TIMESTAMP_FILE=cls.clock_file,
                         FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1",
                         ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
        return m

    @classmethod
    def start_agents(cls):
        for i in range(4):
            cls.agents.append(StorageAgent(cls.m, "127.0.8.%d" % (11 + i), disks_gib=(40,)).start())
        cls.head = HeadAgent(cls.m, "127.0.8.1", IQN % os.getpid())
        cls.agents.append(cls.head)
        cls.head.start()
        wait_for("servers", lambda: len(cls.api.listStorageServers(req())) == 4 and
                 len(cls.api.listPhysicalDisks(req())) == 4 and cls.api.listHeadServers(req()), 20)
        cls.h = cls.api.listHeadServers(req())[0]["hsvrid"]
        cls.v = cls.api.createLogicalVolume(req(lvolname="cp", capacity=6, redundancy=2))
        assert cls.api.attachLogicalVolume(req(lvolid=cls.v, hsvrid=cls.h)) == 0

    @classmethod
    def step_clock(cls, offset):
        with open(cls.clock_file, "w") as f:
            f.write(offset + "\n")

    def last_event(self):
        ev = self.api.listEvents(req(limit=10000))
        return max([e["eventid"] for e in ev] or [0])

    def events_since(self, eventid):
        return self.api.listEvents(req(since=eventid, limit=10000))

    def initiators(self):
        out = set()
        for a in self.agents[:4]:
            if a.proc is not None:
                for e in a.proxy().listExports(req()):
                    out.update(e["initiators"])
        return out

    def assertNothingFailed(self, since):
        """Every server live, the volume bound on its head and whole, the
        head still allowed on its disks, no failure, fence or rebuild."""
        self.assertTrue(all(s["priority"] in LIVE for s in self.api.listStorageServers(req())),
                        self.api.listStorageServers(req()))
        self.assertTrue(all(h["priority"] in LIVE for h in self.api.listHeadServers(req())))
        row = self.api.listLogicalVolumes(req(lvolid=self.v))[0]
        self.assertEqual((row["hsvrid"], row["bind_status"], row["bind_event"]), (self.h, BOUND, 0), row)
        self.assertEqual({leg["mirror_status"] for leg in legs_of(self.api.showLogicalVolume(req(lvolid=self.v)))},
                         {INSYNC})
        self.assertIn(self.head.initiator, self.initiators())
        status = self.api.getClusterStatus(req())
        self.assertEqual((status["rebuilds_queued"], status["rebuilds_running"], status["isolated"]), (0, 0, False))
        bad = [e for e in self.events_since(since) if e["type"] in ("failure", "replace", "degraded", "isolation")]
        self.assertEqual(bad, [])


class ManagerAbsence(Pool):
    def test_1_manager_stopped_for_several_grace_periods_declares_nothing(self):
        # API.md: "silence is measured on the monotonic clock, from the later
        # of the manager's start and the last heartbeat it received".
        since = self.last_event()
        self.assertEqual(self.m.stop(signal.SIGKILL), -signal.SIGKILL)
        time.sleep(4 * GRACE)
        self.m.start()
        self.api = self.m.proxy()
        time.sleep(3 * GRACE)
        self.assertNothingFailed(since)


class ClockStep(Pool):
    faketime = True

    def test_1_wall_clock_stepped_an_hour_forward_changes_nothing(self):
        # API.md: "a wall-clock step changes nothing".
        since = self.last_event()
        before = self.api.listStorageServers(req())[0]["last_seen"]
        self.step_clock("+1h")
        wait_for("a heartbeat stamped an hour later",
                 lambda: self.api.listStorageServers(req())[0]["last_seen"][:13] != before[:13], 10)
        time.sleep(3 * GRACE)
        self.assertNothingFailed(since)
        self.step_clock("+0")  # and back
        time.sleep(2 * GRACE)
        self.assertNothingFailed(since)


class StormGuard(Pool):
    def test_1_two_of_five_silent_together_is_the_managers_isolation(self):
        # API.md: "When more than a third of the servers ... fall silent
        # within one grace period, the manager declares nothing failed".
        since = self.last_event()
        a, b = self.agents[0], self.agents[1]
        ids = {s["ip_data"][0]: s["ssvrid"] for s in self.api.listStorageServers(req())}
        a.stop(signal.SIGKILL)
        b.stop(signal.SIGKILL)
        wait_for("the isolation", lambda: self.api.getClusterStatus(req())["isolated"], 6 * GRACE)
        time.sleep(2 * GRACE)
        self.assertTrue(all(s["priority"] in LIVE for s in self.api.listStorageServers(req())))
        status = self.api.getClusterStatus(req())
        self.assertEqual((status["isolated"], status["silent_servers"]), (True, 2))
        ev = [e for e in self.events_since(since) if e["type"] == "isolation"]
        self.assertEqual([e["level"] for e in ev], ["error"], ev)
        self.assertEqual([e for e in self.events_since(since) if e["type"] == "failure"], [])
        # notifyFailure still works: the operator's word.
        self.assertEqual(self.api.notifyFailure(req(target=T_SSVR, targetid=ids[a.data_ip])), 0)
        self.assertEqual([s["priority"] for s in self.api.listStorageServers(req(ssvrid=ids[a.data_ip]))], [4])
        # b comes back: the storm is over and nothing more is declared.
        b.start()
        wait_for("the end of the isolation", lambda: not self.api.getClusterStatus(req())["isolated"], 6 * GRACE)
        self.assertIn("info", [e["level"] for e in self.events_since(since) if e["type"] == "isolation"])
        self.assertEqual([s["priority"] for s in self.api.listStorageServers(req(ssvrid=ids[b.data_ip]))], [1])
        wait_for("a's legs rebuilt elsewhere",
                 lambda: self.api.getClusterStatus(req())["rebuilds_queued"] == 0 and
                 {x["mirror_status"] for x in legs_of(self.api.showLogicalVolume(req(lvolid=self.v)))} == {INSYNC},
                 30)

    def test_2_one_silent_server_is_still_declared_failed(self):
        c = self.agents[2]
        cid = [s["ssvrid"] for s in self.api.listStorageServers(req()) if s["ip_data"][0] == c.data_ip][0]
        c.stop(signal.SIGKILL)
        wait_for("the silent server declared failed",
                 lambda: self.api.listStorageServers(req(ssvrid=cid))[0]["priority"] == 4, 6 * GRACE)
        self.assertFalse(self.api.getClusterStatus(req())["isolated"])


class HeadOnADyingDisk(Pool):
    def test_1_a_stuck_kernel_call_does_not_stop_the_heartbeat(self):
        # API.md: "a head's heartbeats never wait behind a slow kernel call".
        since = self.last_event()
        stall = os.path.join(self.head.state_dir, "sim", "dm", "stall")
        open(stall, "w").close()
        try:
            time.sleep(4 * GRACE)
            self.assertNothingFailed(since)
        finally:
            os.unlink(stall)


if __name__ == "__main__":
    unittest.main()
