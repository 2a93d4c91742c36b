"""The agents' Prometheus endpoints (agents/PROTOCOL.md, "Metrics"): their
own address and credentials, the storage agent's pool use and scrub
progress, the head agent's volumes, mirrors and I/O counters as its last
look found them, and promtool's verdict on each."""
import http.client
import os
import shutil
import subprocess
import time
import unittest

from harness import (SECRET, AgentsCase, HeadAgent, Manager, StorageAgent, basic_auth, req, wait_for)
from test_metrics import parse

INITIATOR = "iqn.2024-01.org.vastsky.test:metrics-head"
# A 4.18+ kernel's stat line: 100 reads of 800 sectors, 50 writes of 4096.
STAT = "100 0 800 30 50 0 4096 70 2 90 120 3 0 64 5 7 1\n"


def scrape_agent(agent, user="prometheus", password=None):
    """(status, body) of GET /metrics on the agent's metrics port."""
    conn = http.client.HTTPConnection("127.0.0.1", agent.metrics_port, timeout=30)
    headers = {} if user is None else {"Authorization": basic_auth(user, password or agent.metrics_password)}
    try:
        conn.request("GET", "/metrics", headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def start_metrics_agents(case):
    """Two storage agents (4 GiB disks, scrubbed at 1 GiB/s) and a head
    agent, each serving /metrics, registered with case.m."""
    for i in range(2):
        a = StorageAgent(case.m, "127.0.0.%d" % (61 + i), disks_gib=(4,), scrub_rate=1024).with_metrics()
        case.agents.append(a.start())
    case.storage = case.agents[:2]
    case.head = HeadAgent(case.m, "127.0.0.70", INITIATOR).with_metrics()
    case.agents.append(case.head.start())
    wait_for("disks", lambda: len(case.api.listPhysicalDisks(req())) == 2, 30)
    wait_for("head", lambda: case.api.listHeadServers(req()), 30)
    case.hsvrid = case.api.listHeadServers(req())[0]["hsvrid"]


class AgentMetricsTest(AgentsCase):
    @classmethod
    def new_manager(cls):
        return Manager(chunk_size="1G")

    @classmethod
    def start_agents(cls):
        start_metrics_agents(cls)

    def scrape(self, agent):
        status, body = scrape_agent(agent)
        self.assertEqual(status, 200, body)
        return parse(body)

    # PROTOCOL.md: "Missing or wrong credentials: HTTP 401; the cluster
    # secret is refused there".
    def test_credentials_of_its_own(self):
        for agent in (self.storage[0], self.head):
            self.assertEqual(scrape_agent(agent, user=None)[0], 401)
            self.assertEqual(scrape_agent(agent, password="wrong-password-0123456789")[0], 401)
            self.assertEqual(scrape_agent(agent, user="admin", password=SECRET)[0], 401)
            self.assertEqual(scrape_agent(agent, password=SECRET)[0], 401)

    # PROTOCOL.md: "per disk, its thin pool's use as the last heartbeat
    # read it, and the scrub's position, passes and bad blocks found".
    def test_storage_pool_use_and_scrub_progress(self):
        agent = self.storage[0]
        ssvr = [s for s in self.api.listStorageServers(req()) if "127.0.0.61" in s["ip_data"]][0]["ssvrid"]
        pdsk = self.api.listPhysicalDisks(req(ssvrid=ssvr))[0]["pdskid"]
        label = '{pdsk="pdsk-%08x"}' % pdsk
        wait_for("a scrub pass", lambda: self.scrape(agent).get("vastsky_storage_scrub_passes_total" + label, 0) >= 1, 60)
        v = self.scrape(agent)
        self.assertGreater(v["vastsky_storage_pool_data_bytes" + label], 3 * 2**30)
        self.assertLessEqual(v["vastsky_storage_pool_data_used_bytes" + label], v["vastsky_storage_pool_data_bytes" + label])
        self.assertEqual(v['vastsky_storage_pool_mode{mode="rw",pdsk="pdsk-%08x"}' % pdsk], 1.0)
        self.assertEqual(v["vastsky_storage_pool_needs_check" + label], 0.0)
        self.assertEqual(v["vastsky_storage_scrub_disk_bytes" + label], 4 * 2**30)
        self.assertEqual(v["vastsky_storage_scrub_bad_blocks_total" + label], 0.0)
        self.assertLess(v["vastsky_storage_pool_look_age_seconds"], 5)

    # PROTOCOL.md: "per volume, the kernel's I/O counters of its device"
    # and "per mirror, dm raid's view"; "as the head's last look found them".
    def test_head_volume_mirrors_and_io(self):
        lvolid = self.api.createLogicalVolume(req(lvolname="met-h1", capacity=2, redundancy=2))
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=lvolid, hsvrid=self.hsvrid)), 0)
        label = '{lvol="met-h1"}'
        wait_for("the volume in a look", lambda: self.scrape(self.head).get("vastsky_head_volume_assembled" + label) == 1.0, 30)
        v = self.scrape(self.head)
        self.assertEqual(v["vastsky_head_volume_capacity_bytes" + label], 2 * 2**30)
        legs = {k: x for k, x in v.items() if k.startswith("vastsky_head_mirror_legs_in_sync{")}
        self.assertEqual(sorted(legs.values()), [2.0, 2.0], legs)  # two 1 GiB mirrors, both legs in sync
        idle = [x for k, x in v.items() if k.startswith('vastsky_head_mirror_sync_action{action="idle"')]
        self.assertEqual(idle, [1.0, 1.0])
        self.assertEqual(v["vastsky_head_volume_reads_total" + label], 0.0)  # the sim maps no I/O
        # The kernel's counters as its stat file gives them (the sim reads this file).
        dm = os.path.join(self.head.state_dir, "sim", "dm", "mapper", "vastsky-%d.stat" % lvolid)
        with open(dm, "w") as f:
            f.write(STAT)
        wait_for("the counters in a look", lambda: self.scrape(self.head).get("vastsky_head_volume_reads_total" + label) == 100.0, 30)
        v = self.scrape(self.head)
        self.assertEqual(v["vastsky_head_volume_written_bytes_total" + label], 4096 * 512)
        self.assertEqual(v["vastsky_head_volume_in_flight" + label], 2.0)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=lvolid)), 0)
        wait_for("the volume gone from a look",
                 lambda: ("vastsky_head_volume_assembled" + label) not in self.scrape(self.head), 30)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=lvolid)), 0)

    # PROTOCOL.md: "`promtool check metrics` finds nothing to say about either agent's output."
    @unittest.skipUnless(shutil.which("promtool"), "promtool not installed (tools/install-deps.sh)")
    def test_promtool_finds_nothing(self):
        lvolid = self.api.createLogicalVolume(req(lvolname="met-p1", capacity=1, redundancy=2))
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=lvolid, hsvrid=self.hsvrid)), 0)
        wait_for("the volume in a look", lambda: 'vastsky_head_volume_assembled{lvol="met-p1"}' in self.scrape(self.head), 30)
        for agent in (self.storage[0], self.head):
            status, body = scrape_agent(agent)
            self.assertEqual(status, 200)
            r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""), agent.name)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=lvolid)), 0)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=lvolid)), 0)


class AgentMetricsStartTest(unittest.TestCase):
    # PROTOCOL.md: "an agent whose metrics password is the cluster secret
    # refuses to start".
    def test_cluster_secret_as_metrics_password_refused(self):
        m = Manager().start()
        try:
            for cls in (StorageAgent, lambda mm, ip: HeadAgent(mm, ip, INITIATOR)):
                a = cls(m, "127.0.0.71").with_metrics(password=SECRET)
                try:
                    r = subprocess.run(a.argv(), capture_output=True, text=True, timeout=20)
                    self.assertNotEqual(r.returncode, 0)
                    self.assertIn("holds the cluster secret", r.stderr)
                finally:
                    shutil.rmtree(a.dir, ignore_errors=True)
        finally:
            m.stop()
            shutil.rmtree(m.dir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
