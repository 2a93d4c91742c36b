"""The manager's Prometheus endpoint (manager/API.md, "Metrics"): its own
address and credentials, values that follow the state, promtool's verdict,
and the refusals at start."""
import http.client
import os
import re
import shutil
import subprocess
import threading
import unittest
import xmlrpc.client

from harness import (BIN_DIR, SECRET, Manager, basic_auth, free_port, make_cluster, req, stop_and_audit)

METRICS_PASSWORD = "scrape-password-0123456789abcdef"


def metrics_manager(tls=False, host="127.0.0.1", password=METRICS_PASSWORD, **manager_kw):
    """A Manager (not started) serving /metrics on a port of its own."""
    m = Manager(tls=tls, **manager_kw)
    m.metrics_secret_file = os.path.join(m.dir, "metrics-secret")
    with open(m.metrics_secret_file, "w") as f:
        f.write(password + "\n")
    os.chmod(m.metrics_secret_file, 0o600)
    m.metrics_port = free_port()
    m.extra_args += ["--metrics-listen", "%s:%d" % (host, m.metrics_port),
                     "--metrics-secret-file", m.metrics_secret_file]
    return m


def get(m, path="/metrics", user="prometheus", password=METRICS_PASSWORD, method="GET", port=None):
    """One request to the metrics port; returns (status, headers, body text)."""
    port = port or m.metrics_port
    if m.tls:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=m.ssl_context())
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {} if user is None else {"Authorization": basic_auth(user, password)}
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode()
    finally:
        conn.close()


def parse(text):
    """{'name{labels}': value} of a scrape (labels as the manager writes them)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = metrics_manager().start()
        cls.api = cls.m.proxy()
        cls.ssvrs, _ = make_cluster(cls.api, servers=3, disks=1)

    @classmethod
    def tearDownClass(cls):
        cls.api("close")()
        stop_and_audit(cls.m)

    def scrape(self):
        status, headers, body = get(self.m)
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"), headers)
        return parse(body)

    # API.md: "Missing or wrong credentials: HTTP 401."
    def test_no_credentials_401(self):
        self.assertEqual(get(self.m, user=None)[0], 401)
        self.assertEqual(get(self.m, password="wrong-password-0123456789")[0], 401)

    # API.md: "The cluster secret is refused there"
    def test_cluster_secret_refused(self):
        for user in ("admin", "prometheus"):
            self.assertEqual(get(self.m, user=user, password=SECRET)[0], 401, user)

    # API.md: "the metrics password is refused on the API"
    def test_metrics_password_refused_on_api(self):
        for user in ("admin", "prometheus"):
            with self.m.proxy(user=user, password=METRICS_PASSWORD) as api, \
                    self.assertRaises(xmlrpc.client.ProtocolError) as e:
                api.getClusterStatus(req())
            self.assertEqual(e.exception.errcode, 401)

    # API.md: "Other paths: 404. Other HTTP methods: 405." (of the metrics address)
    def test_other_paths_and_methods(self):
        self.assertEqual(get(self.m, path="/RPC2")[0], 404)
        status, headers, _ = get(self.m, method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers.get("allow"), "GET")
        # The API's port does not serve the metrics.
        self.assertEqual(get(self.m, port=self.m.port)[0], 404)

    # API.md: "Gauges are read at each scrape"; a storage agent's
    # registration and createLogicalVolume show in the next scrape.
    def test_values_follow_registration_and_create(self):
        before = self.scrape()
        high = 'vastsky_servers{kind="ssvr",state="high"}'
        ssvr = self.api.registerStorageServer(req(ip_data=["127.201.0.1"], url="http://127.0.0.1:1"))
        after = self.scrape()
        self.assertEqual(after[high], before[high] + 1)
        age = 'vastsky_agent_heartbeat_age_seconds{id="ssvr-%08x",kind="ssvr"}' % ssvr
        self.assertIn(age, after)
        self.assertGreaterEqual(after[age], 0)
        self.assertLess(after[age], 30)
        pdsk = self.api.registerPhysicalDisk(req(ssvrid=ssvr, local_path="/dev/sdz", capacity=str(100 * 2 ** 21)))
        cap = self.scrape()["vastsky_cluster_capacity_bytes"]
        self.assertEqual(cap - after["vastsky_cluster_capacity_bytes"], 100 * 2 ** 30)
        after = self.scrape()
        name = "metrics-v1"
        calls = 'vastsky_api_calls_total{fault="none",method="createLogicalVolume"}'
        # Four servers, four legs: one on ssvr's disk.
        self.api.createLogicalVolume(req(lvolname=name, capacity=4, redundancy=4))
        with self.assertRaises(xmlrpc.client.Fault):
            self.api.createLogicalVolume(req(lvolname=name, capacity=4, redundancy=4))
        now = self.scrape()
        self.assertEqual(now['vastsky_lvols{bind_status="unbound"}'], after['vastsky_lvols{bind_status="unbound"}'] + 1)
        self.assertEqual(now["vastsky_cluster_provisioned_bytes"] - after["vastsky_cluster_provisioned_bytes"],
                         4 * (4 * 1024 + 1) * 2 ** 20)
        self.assertEqual(now[calls], after.get(calls, 0) + 1)
        self.assertEqual(now['vastsky_api_calls_total{fault="EEXIST",method="createLogicalVolume"}'], 1)
        self.assertEqual(now['vastsky_mirrors{state="whole"}'], after['vastsky_mirrors{state="whole"}'] + 1)
        self.assertGreaterEqual(now['vastsky_api_call_duration_seconds_count{method="createLogicalVolume"}'], 2)
        # A heartbeat's pool report: the disk's pool use.
        used = 'vastsky_pdsk_pool_used_bytes{pdsk="pdsk-%08x",ssvr="ssvr-%08x"}' % (pdsk, ssvr)
        self.assertNotIn(used, now)
        self.api.heartbeat(req(ssvrid=ssvr, pools=[{"pdskid": pdsk, "data_used_mib": 700, "data_mib": 102400,
                                                   "meta_used_kib": 10, "meta_kib": 4096, "mode": "rw"}]))
        self.assertEqual(self.scrape()[used], 700 * 2 ** 20)
        # A failure is an event, counted once recorded.
        self.api.notifyFailure(req(target=2, targetid=ssvr))
        failed = self.scrape()
        self.assertEqual(failed['vastsky_mirrors{state="degraded"}'], now['vastsky_mirrors{state="degraded"}'] + 1)
        self.assertEqual(failed['vastsky_mirrors_degraded{legs_missing="1"}'], 1)
        self.assertNotIn(age, failed)  # no longer a live server to watch
        self.assertTrue(any(k.startswith("vastsky_events_total{") for k in failed), failed)

    # API.md: "Gauges are read at each scrape in one pass over the state,
    # under the lock the API calls take, so they agree with each other"
    def test_scrapes_beside_calls_agree(self):
        errors = []

        def create(k):
            try:
                with self.m.proxy() as api:
                    for i in range(10):
                        api.createLogicalVolume(req(lvolname="metrics-c%d-%d" % (k, i), capacity=4, redundancy=2))
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=create, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            v = self.scrape()
            lvols = sum(v['vastsky_lvols{bind_status="%s"}' % b] for b in ("unbound", "bound", "error"))
            mirrors = v['vastsky_mirrors{state="whole"}'] + v['vastsky_mirrors{state="degraded"}']
            self.assertGreaterEqual(mirrors, lvols)  # each volume here has a mirror, created with it
            disks = sum(x for k, x in v.items() if k.startswith("vastsky_pdsk_provisioned_bytes{"))
            self.assertEqual(disks, v["vastsky_cluster_provisioned_bytes"])
            # API.md: "`vastsky_scrape_lock_seconds` ... how long this
            # scrape's read of the state held the lock"
            self.assertGreater(v["vastsky_scrape_lock_seconds"], 0)
            self.assertLess(v["vastsky_scrape_lock_seconds"], 5)
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    # API.md: "`promtool check metrics` finds nothing to say about the output."
    @unittest.skipUnless(shutil.which("promtool"), "promtool not installed (tools/install-deps.sh)")
    def test_promtool_finds_nothing(self):
        self.api.createLogicalVolume(req(lvolname="metrics-p1", capacity=4, redundancy=2))
        status, _, body = get(self.m)
        self.assertEqual(status, 200)
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout + r.stderr, "")


class MetricsStartTest(unittest.TestCase):
    def refused(self, m):
        try:
            r = subprocess.run(m.argv(), capture_output=True, text=True, timeout=20)
            return r.returncode, r.stdout + r.stderr
        finally:
            shutil.rmtree(m.dir, ignore_errors=True)

    # API.md: "the manager refuses to start unless the metrics address is a
    # loopback address"
    def test_plain_http_on_routable_address_refused(self):
        rc, out = self.refused(metrics_manager(host="0.0.0.0"))
        self.assertNotEqual(rc, 0, "served metrics on 0.0.0.0 without TLS")
        self.assertRegex(out.lower(), "tls|loopback")

    # API.md: "A metrics password equal to the cluster secret, or no
    # `--metrics-secret-file`, is refused at start."
    def test_cluster_secret_as_metrics_password_refused(self):
        rc, out = self.refused(metrics_manager(password=SECRET))
        self.assertNotEqual(rc, 0)
        self.assertIn("cluster secret", out)
        m = Manager(extra_args=["--metrics-listen", "127.0.0.1:%d" % free_port()])
        rc, out = self.refused(m)
        self.assertNotEqual(rc, 0)
        self.assertIn("metrics_secret_file", out)

    # API.md: "HTTPS with the API's `--tls-cert`/`--tls-key`"
    def test_tls_on_any_address(self):
        m = metrics_manager(tls=True, host="0.0.0.0").start()
        try:
            status, _, body = get(m)
            self.assertEqual(status, 200)
            self.assertIn("vastsky_cluster_capacity_bytes 0", body)
        finally:
            stop_and_audit(m)


if __name__ == "__main__":
    unittest.main()
