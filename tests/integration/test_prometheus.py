"""A real Prometheus server (Debian's package) scrapes the manager's
/metrics with its own credentials, and the agents' in a second round: the target is up, a query through
Prometheus' HTTP API follows a change (a volume created, a disk failed),
and every query of the Grafana dashboard and of the alert rules
(monitoring/) evaluates there (manager/API.md, "Metrics")."""
import json
import re
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

from harness import ROOT, AgentsCase, free_port, make_cluster, req, stop_and_audit, wait_for
from test_agent_metrics import STAT, start_metrics_agents
from test_metrics import metrics_manager

T_PDSK = 3


class Prometheus:
    """A mixin: a real Prometheus server for the class (start_prometheus,
    stop_prometheus) and queries through its HTTP API."""

    @classmethod
    def start_prometheus(cls, scrape_configs, rule_files=()):
        prometheus = shutil.which("prometheus")
        if not prometheus:
            raise RuntimeError("prometheus is not installed (tools/install-deps.sh installs it)")
        cls.dir = tempfile.mkdtemp(prefix="vastsky-prom-")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": list(rule_files),
            "scrape_configs": scrape_configs,
        }
        with open(os.path.join(cls.dir, "prometheus.yml"), "w") as f:
            json.dump(config, f)  # YAML is a superset of JSON
        cls.port = free_port()
        cls.log = open(os.path.join(cls.dir, "prometheus.log"), "w")
        cls.prom = subprocess.Popen(
            [prometheus, "--config.file=" + os.path.join(cls.dir, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(cls.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % cls.port, "--log.level=warn"],
            stdout=cls.log, stderr=subprocess.STDOUT)
        try:
            wait_for("prometheus ready", lambda: cls.prom.poll() is not None or cls.ready(), 60)
            if cls.prom.poll() is not None:
                raise AssertionError("prometheus exited")
        except AssertionError:
            cls.log.flush()
            with open(os.path.join(cls.dir, "prometheus.log")) as f:
                raise AssertionError("prometheus not ready in 60 s; its log:\n" + f.read()[-3000:])

    @classmethod
    def stop_prometheus(cls):
        cls.prom.terminate()
        try:
            cls.prom.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cls.prom.kill()
        cls.log.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @staticmethod
    def job(name, ports, password_file):
        return {"job_name": name, "basic_auth": {"username": "prometheus", "password_file": password_file},
                "static_configs": [{"targets": ["127.0.0.1:%d" % p for p in ports]}]}

    @classmethod
    def ready(cls):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % cls.port, timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def get(self, path, **params):
        url = "http://127.0.0.1:%d%s?%s" % (self.port, path, urllib.parse.urlencode(params))
        with urllib.request.urlopen(url, timeout=30) as r:
            answer = json.load(r)
        self.assertEqual(answer["status"], "success", answer)
        return answer["data"]

    def value(self, expr):
        """The one value of an instant query, or None if it has no series."""
        result = self.get("/api/v1/query", query=expr)["result"]
        self.assertLessEqual(len(result), 1, result)
        return float(result[0]["value"][1]) if result else None

    def becomes(self, expr, want, seconds=30):
        wait_for("%s == %s (now %s)" % (expr, want, self.value(expr)), lambda: self.value(expr) == want, seconds)


class RealPrometheus(Prometheus, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = metrics_manager().start()
        cls.api = cls.m.proxy()
        cls.ssvrs, _ = make_cluster(cls.api, servers=3, disks=1)
        cls.start_prometheus([cls.job("vastsky-manager", [cls.m.metrics_port], cls.m.metrics_secret_file)],
                             [os.path.join(ROOT, "monitoring", "vastsky-rules.yml")])

    @classmethod
    def tearDownClass(cls):
        cls.stop_prometheus()
        stop_and_audit(cls.m)

    def test_1_target_up_with_its_own_credentials(self):
        self.becomes('up{job="vastsky-manager"}', 1.0)
        targets = self.get("/api/v1/targets")["activeTargets"]
        self.assertEqual([(t["health"], t["lastError"]) for t in targets], [("up", "")])

    # API.md, "Metrics": "Gauges are read at each scrape".
    def test_2_a_new_volume_shows_in_a_query(self):
        self.becomes('up{job="vastsky-manager"}', 1.0)
        before = self.value("sum(vastsky_lvols)")
        lvolid = self.api.createLogicalVolume(req(lvolname="prom-1", capacity=1, redundancy=2))
        self.becomes("sum(vastsky_lvols)", before + 1)
        self.becomes('vastsky_lvols{bind_status="unbound"}', before + 1)
        self.api.deleteLogicalVolume(req(lvolid=lvolid))
        self.becomes("sum(vastsky_lvols)", before)

    def test_3_a_failed_disk_shows_in_a_query_and_the_health(self):
        self.becomes('up{job="vastsky-manager"}', 1.0)
        pdsk = self.api.listPhysicalDisks(req(ssvrid=self.ssvrs[0]))[0]["pdskid"]
        self.assertEqual(self.api.notifyFailure(req(target=T_PDSK, targetid=pdsk)), 0)
        self.becomes('vastsky_pdsks{state="faulty"}', 1.0)
        self.becomes('vastsky_health_check{code="PDSK_DOWN"}', 1.0)
        self.becomes("vastsky_health_status", 1.0)

    def test_4_every_dashboard_and_rule_query_evaluates(self):
        """A query Prometheus refuses (a typo, a bad function) fails here;
        each name it reads must be one the manager documents."""
        with open(os.path.join(ROOT, "monitoring", "vastsky-dashboard.json")) as f:
            dashboard = json.load(f)
        exprs = [t["expr"].replace("$job", ".*") for p in dashboard["panels"] for t in p["targets"]]
        # The rules as Prometheus loaded them from monitoring/vastsky-rules.yml.
        rules = [r for g in self.get("/api/v1/rules")["groups"] for r in g["rules"]]
        self.assertEqual(len(rules), 15, [r["name"] for r in rules])
        self.assertEqual({r["health"] for r in rules}, {"ok"}, rules)
        exprs += [r["query"] for r in rules]
        for e in exprs:
            self.get("/api/v1/query", query=e)  # status success, or the assertion names it
        documented = set()
        for doc in (("manager", "API.md"), ("agents", "PROTOCOL.md")):
            with open(os.path.join(ROOT, *doc)) as f:
                documented |= set(re.findall(r"`(vastsky_[a-z_]+)`", f.read()))
        used = set(re.findall(r"\bvastsky_[a-z_]+", " ".join(exprs)))
        used = {u[:-len("_bucket")] if u.endswith("_bucket") else u for u in used}
        self.assertEqual(used - documented, set(), "queried but not documented in API.md or PROTOCOL.md 'Metrics'")
        self.assertGreater(len(exprs), 20)


class RealPrometheusAgents(Prometheus, AgentsCase):
    """The same server scraping two storage agents and a head agent, each
    on its own /metrics (agents/PROTOCOL.md, "Metrics")."""

    @classmethod
    def new_manager(cls):
        return metrics_manager(chunk_size="1G")

    @classmethod
    def start_agents(cls):
        start_metrics_agents(cls)
        jobs = [cls.job("vastsky-manager", [cls.m.metrics_port], cls.m.metrics_secret_file)]
        # The storage agents share one password, as a job has one.
        jobs.append(cls.job("vastsky-storage", [a.metrics_port for a in cls.storage], cls.storage[0].metrics_secret_file))
        jobs.append(cls.job("vastsky-head", [cls.head.metrics_port], cls.head.metrics_secret_file))
        cls.start_prometheus(jobs)

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "prom"):
            cls.stop_prometheus()
        super().tearDownClass()

    def test_every_agent_up(self):
        self.becomes('count(up{job="vastsky-storage"} == 1)', 2.0)
        self.becomes('up{job="vastsky-head"}', 1.0)

    # PROTOCOL.md: the storage agent's "pool use as the last heartbeat read
    # it"; the manager's pool_used series say the same.
    def test_pool_use_agrees_with_the_manager(self):
        self.becomes('count(vastsky_storage_pool_data_bytes > 0)', 2.0)
        self.becomes('sum(vastsky_storage_pool_data_used_bytes) - sum(vastsky_cluster_pool_used_bytes)', 0.0)

    # A change shows in a query: a volume attached appears on the head
    # with its mirrors in sync, and goes when detached.
    def test_an_attached_volume_shows_on_the_head(self):
        self.becomes('up{job="vastsky-head"}', 1.0)
        lvolid = self.api.createLogicalVolume(req(lvolname="prom-head", capacity=1, redundancy=2))
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=lvolid, hsvrid=self.hsvrid)), 0)
        self.becomes('vastsky_head_volume_assembled{lvol="prom-head"}', 1.0)
        self.becomes('sum(vastsky_head_mirror_legs_in_sync{lvol="prom-head"})', 2.0)
        with open(os.path.join(self.head.state_dir, "sim", "dm", "mapper", "vastsky-%d.stat" % lvolid), "w") as f:
            f.write(STAT)  # the kernel's counters, as the sim reads them
        self.becomes('vastsky_head_volume_written_bytes_total{lvol="prom-head"}', 4096.0 * 512)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=lvolid)), 0)
        self.becomes('count(vastsky_head_volume_assembled{lvol="prom-head"})', None)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=lvolid)), 0)


if __name__ == "__main__":
    unittest.main()
