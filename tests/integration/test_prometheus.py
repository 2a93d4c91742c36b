"""A real Prometheus server (Debian's package) scrapes the manager's
/metrics with its own credentials: the target is up, a query through
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

from harness import ROOT, free_port, make_cluster, req, stop_and_audit, wait_for
from test_metrics import metrics_manager

T_PDSK = 3


class RealPrometheus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        prometheus = shutil.which("prometheus")
        if not prometheus:
            raise RuntimeError("prometheus is not installed (tools/install-deps.sh installs it)")
        cls.m = metrics_manager().start()
        cls.api = cls.m.proxy()
        cls.ssvrs, _ = make_cluster(cls.api, servers=3, disks=1)
        cls.dir = tempfile.mkdtemp(prefix="vastsky-prom-")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [os.path.join(ROOT, "monitoring", "vastsky-rules.yml")],
            "scrape_configs": [{
                "job_name": "vastsky-manager",
                "basic_auth": {"username": "prometheus", "password_file": cls.m.metrics_secret_file},
                "static_configs": [{"targets": ["127.0.0.1:%d" % cls.m.metrics_port]}],
            }],
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
        wait_for("prometheus ready", cls.ready, 60)

    @classmethod
    def tearDownClass(cls):
        cls.prom.terminate()
        try:
            cls.prom.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cls.prom.kill()
        cls.log.close()
        stop_and_audit(cls.m)
        shutil.rmtree(cls.dir, ignore_errors=True)

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
        self.assertEqual(len(rules), 12, [r["name"] for r in rules])
        self.assertEqual({r["health"] for r in rules}, {"ok"}, rules)
        exprs += [r["query"] for r in rules]
        for e in exprs:
            self.get("/api/v1/query", query=e)  # status success, or the assertion names it
        with open(os.path.join(ROOT, "manager", "API.md")) as f:
            api_md = f.read()
        documented = set(re.findall(r"`(vastsky_[a-z_]+)`", api_md))
        used = set(re.findall(r"\bvastsky_[a-z_]+", " ".join(exprs)))
        used = {u[:-len("_bucket")] if u.endswith("_bucket") else u for u in used}
        self.assertEqual(used - documented, set(), "queried but not documented in API.md 'Metrics'")
        self.assertGreater(len(exprs), 20)


if __name__ == "__main__":
    unittest.main()
