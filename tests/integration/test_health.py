"""The health verdict of getClusterStatus and `vastsky cluster status`
(manager/API.md, "Health"), on a real manager, state-only servers and real
agents."""
import os
import subprocess
import time
import unittest

from harness import (BIN_DIR, T_SSVR, UNDER_TSAN, AgentsCase, Manager, StorageAgent, legs_of, make_cluster,
                     req, stop_and_audit)

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def checks(status):
    return {c["code"]: c for c in status["checks"]}


class HealthCase(unittest.TestCase):
    """A fresh manager per test: each verdict starts from HEALTH_OK."""

    def setUp(self):
        self.m = Manager().start()
        self.api = self.m.proxy()

    def tearDown(self):
        stop_and_audit(self.m)

    def status(self):
        return self.api.getClusterStatus(req())

    def cli(self, *args):
        return subprocess.run([os.path.join(BIN_DIR, "vastsky")] + list(args) +
                              ["--manager", self.m.url(user=None), "--secret-file", self.m.secret_file],
                              capture_output=True, text=True, check=True).stdout

    def written_volume(self, redundancy, head):
        """A 1 GiB volume (one mirror) attached to a head without agent, so
        its legs are INSYNC and nothing rebuilds them."""
        lvolid = self.api.createLogicalVolume(req(lvolname="v%d" % redundancy, capacity=1, redundancy=redundancy))
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=lvolid, hsvrid=head)), 0)
        return [leg["lvolspec"]["ssvrid"] for leg in legs_of(self.api.showLogicalVolume(req(lvolid=lvolid)))]

    def test_fresh_cluster_is_ok(self):
        """API.md "Health": "With no check, health is HEALTH_OK", and
        `vastsky cluster status` prints the verdict on its first line."""
        make_cluster(self.api, servers=3, disks=1)
        self.api.registerHeadServer(req(ip_data=["127.220.0.1"]))
        st = self.status()
        self.assertEqual(st["health"], "HEALTH_OK")
        self.assertEqual(st["checks"], [])
        self.assertEqual((st["nearfull_ratio"], st["full_ratio"], st["max_clock_skew"]), (0.85, 0.95, 5.0))
        self.assertEqual(self.cli("cluster", "status").splitlines()[0], "health: HEALTH_OK")

    def test_failed_server_gives_ssvr_down_and_mirror_checks(self):
        """API.md "Health": SSVR_DOWN and PDSK_DOWN count what is OFFLINE,
        FAULTY or HALT; MIRROR_DEGRADED a mirror short of legs holding data
        with two left, MIRROR_ONE_LEG with one, MIRROR_DOWN (HEALTH_ERR)
        with none."""
        ssvrs, _ = make_cluster(self.api, servers=5, disks=1, sectors=str(20 * 2**21))
        head = self.api.registerHeadServer(req(ip_data=["127.220.0.2"]))
        three = self.written_volume(3, head)
        two = self.written_volume(2, head)
        # A server holding a leg of both, if there is one.
        first = next((s for s in three if s in two), three[0])
        self.assertEqual(self.api.notifyFailure(req(target=T_SSVR, targetid=first)), 0)
        st = self.status()
        c = checks(st)
        self.assertEqual(st["health"], "HEALTH_WARN")
        self.assertEqual(c["SSVR_DOWN"]["count"], 1)
        self.assertEqual(c["SSVR_DOWN"]["severity"], "HEALTH_WARN")
        self.assertEqual(c["PDSK_DOWN"]["count"], 1)
        self.assertEqual(c["MIRROR_DEGRADED"]["count"], 1 if first in three else 0)
        if first in two:
            self.assertEqual(c["MIRROR_ONE_LEG"]["count"], 1)
            self.assertIn("one more failure loses data", c["MIRROR_ONE_LEG"]["summary"])
        # Every server of the redundancy-2 mirror's legs fails: nothing holds its data.
        for s in two:
            if s != first:
                self.assertEqual(self.api.notifyFailure(req(target=T_SSVR, targetid=s)), 0)
        down = len(set(two) | {first})
        st = self.status()
        c = checks(st)
        self.assertEqual(st["health"], "HEALTH_ERR")
        self.assertEqual(st["checks"][0]["code"], "MIRROR_DOWN")
        self.assertEqual(c["MIRROR_DOWN"]["count"], 1)
        self.assertEqual(c["SSVR_DOWN"]["count"], down)
        # "`detail` names the first 10 of them in id order".
        self.assertEqual(c["SSVR_DOWN"]["detail"], ["ssvr-%08x" % s for s in sorted(set(two) | {first})])
        self.assertRegex(c["MIRROR_DOWN"]["detail"][0], r"^v2 mirr-[0-9a-f]{8}$")
        lines = self.cli("cluster", "status").splitlines()
        self.assertIn("    which: " + ", ".join(c["SSVR_DOWN"]["detail"]), lines)
        self.assertEqual(lines[0], "health: HEALTH_ERR")
        self.assertRegex(lines[1], r"^  HEALTH_ERR MIRROR_DOWN: 1 mirror has no leg holding data")
        self.assertTrue(any(l.startswith("  HEALTH_WARN SSVR_DOWN: %d storage servers are" % down) for l in lines),
                        lines)
        # The rest of the summary follows as before.
        self.assertTrue(any(l.startswith("storage servers") for l in lines), lines)

    def test_clock_skew_from_a_heartbeat(self):
        """API.md "Health": CLOCK_SKEW counts live servers whose heartbeat
        `time` differs from the manager's clock by more than
        max_clock_skew; a heartbeat without `time` is not judged."""
        s = self.api.registerStorageServer(req(ip_data=["127.221.0.1"]))
        h = self.api.registerHeadServer(req(ip_data=["127.221.0.2"]))
        self.assertEqual(self.api.heartbeat(req(ssvrid=s, time=time.time() + 1)), 0)
        self.assertEqual(self.api.heartbeat(req(hsvrid=h)), 0)
        self.assertEqual(self.status()["health"], "HEALTH_OK")
        self.assertEqual(self.api.heartbeat(req(hsvrid=h, time=int(time.time()) - 90)), 0)
        st = self.status()
        self.assertEqual(st["health"], "HEALTH_WARN")
        skew = checks(st)["CLOCK_SKEW"]
        self.assertEqual(skew["count"], 1)
        self.assertIn("more than 5 s", skew["summary"])
        # A wider allowance, then the clock fixed: healthy again.
        self.assertEqual(self.api.setClusterSetting(req(name="max_clock_skew", value="120")), 0)
        self.assertEqual(self.status()["health"], "HEALTH_OK")
        self.assertEqual(self.api.setClusterSetting(req(name="max_clock_skew", value="5")), 0)
        self.assertEqual(self.api.heartbeat(req(hsvrid=h, time=time.time())), 0)
        self.assertEqual(self.status()["health"], "HEALTH_OK")
        with self.assertRaises(Exception) as e:
            self.api.heartbeat(req(ssvrid=s, time="now"))
        self.assertIn("EINVAL", str(e.exception))

    def test_ratio_settings_validated(self):
        """API.md setClusterSetting: "nearfull_ratio and full_ratio must keep
        0 < nearfull_ratio < full_ratio <= 1 ... EINVAL otherwise"."""
        for name, bad in (("nearfull_ratio", "0"), ("nearfull_ratio", "0.95"), ("nearfull_ratio", "x"),
                          ("full_ratio", "0.85"), ("full_ratio", "1.5"), ("max_clock_skew", "0")):
            with self.assertRaises(Exception) as e:
                self.api.setClusterSetting(req(name=name, value=bad))
            self.assertIn("EINVAL", str(e.exception), (name, bad))
        self.assertEqual(self.api.setClusterSetting(req(name="full_ratio", value="0.97")), 0)
        self.assertEqual(self.api.setClusterSetting(req(name="nearfull_ratio", value="0.9")), 0)
        st = self.status()
        self.assertEqual((st["nearfull_ratio"], st["full_ratio"]), (0.9, 0.97))

    def test_pool_nearfull_and_full(self):
        """API.md "Health": POOL_NEARFULL and POOL_FULL judge each live
        disk's last pool report against the ratios set now."""
        ssvrs, pdsks = make_cluster(self.api, servers=2, disks=1)
        pool = dict(pdskid=pdsks[0], data_used_mib=900, data_mib=1000, meta_used_kib=0, meta_kib=1000, mode="rw")
        self.assertEqual(self.api.heartbeat(req(ssvrid=ssvrs[0], pools=[pool])), 0)
        self.assertEqual(checks(self.status())["POOL_NEARFULL"]["count"], 1)
        self.assertEqual(self.api.setClusterSetting(req(name="full_ratio", value="0.9")), 0)
        st = self.status()
        self.assertEqual(st["health"], "HEALTH_ERR")
        self.assertEqual(list(checks(st)), ["POOL_FULL"])


class AgentClocks(AgentsCase):
    """Real storage agents send their wall clock in every heartbeat."""

    @classmethod
    def start_agents(cls):
        cls.agents.append(StorageAgent(cls.m, "127.0.0.31", disks_gib=(20,)).start())
        # libfaketime sets the agent's wall clock 300 s back (not its
        # monotonic clock); ThreadSanitizer's runtime does not bear a
        # preload, ASan's does once told not to check the order.
        if os.path.exists(FAKETIME) and not UNDER_TSAN:
            late = StorageAgent(cls.m, "127.0.0.32", disks_gib=(20,))
            asan = os.environ.get("ASAN_OPTIONS", "")
            late.env = dict(os.environ, LD_PRELOAD=FAKETIME, FAKETIME="-300", FAKETIME_DONT_FAKE_MONOTONIC="1",
                            ASAN_OPTIONS=(asan + ":" if asan else "") + "verify_asan_link_order=0")
            cls.agents.append(late.start())

    def test_agent_clock_skew(self):
        """API.md "Health": an agent's heartbeat carries `time`; one whose
        clock is 300 s late gives CLOCK_SKEW, the one on time does not."""
        deadline = time.time() + 20
        while time.time() < deadline:
            st = self.api.getClusterStatus(req())
            if st["ssvrs"] == len(self.agents) and (len(self.agents) == 1 or "CLOCK_SKEW" in checks(st)):
                break
            time.sleep(0.5)
        c = checks(st)
        if len(self.agents) == 1:
            self.skipTest("no libfaketime (or under TSan): only the agent on time was started")
        self.assertEqual(c["CLOCK_SKEW"]["count"], 1, st)
        self.assertIn("up to 300 s", c["CLOCK_SKEW"]["summary"])


if __name__ == "__main__":
    unittest.main()
