"""Starts a real vastsky-manager on loopback for a test and tears it down.

Every integration test talks to the real daemon over a real socket:
    with Manager() as m:
        api = m.proxy()                 # xmlrpc.client.ServerProxy with credentials
        api.createLogicalVolume({"ver": 5, "lvolname": "a", "capacity": 10})
The binary is build-asan/bin/vastsky-manager when VASTSKY_BIN_DIR says so
(make check does), else build/bin.
"""
import base64
import errno
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request
import xmlrpc.client

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN_DIR = os.environ.get("VASTSKY_BIN_DIR", os.path.join(ROOT, "build", "bin"))
SECRET = "test-secret-0123456789abcdef"
# Under ThreadSanitizer (tests/run-all.sh sets TSAN_OPTIONS) every read
# into memory is a slow shadow update: tests that read GiBs read less.
UNDER_TSAN = bool(os.environ.get("TSAN_OPTIONS"))
VER = 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Agents that exited with a status other than 0 when a test cleaned them up
# (a sanitizer's report: ASan 86, UBSan 87, TSan 88); run.py counts each as
# a failed test.
UNCLEAN_EXITS = []


class Daemon:
    """What the daemon wrappers share: stopping by signal, reading the log.
    Subclasses set self.proc, self.log (open file) and self.log_path."""
    name = "daemon"

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops the process; returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("%s ignored signal %s for %ss" % (self.name, sig, timeout))
        self.log.close()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


class Manager(Daemon):
    """A manager process with its own temp dir (db, secret, log)."""
    name = "manager"

    def __init__(self, extra_args=(), tls=False, workdir=None, chunk_size=None,
                 listen_host="127.0.0.1"):
        self.listen_host = listen_host
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="vastsky-it-")
        self.db = os.path.join(self.dir, "state.db")
        self.secret_file = os.path.join(self.dir, "secret")
        with open(self.secret_file, "w") as f:
            f.write(SECRET + "\n")
        os.chmod(self.secret_file, 0o600)
        self.port = free_port()
        self.tls = tls
        self.extra_args = list(extra_args)
        if chunk_size:
            self.extra_args += ["--chunk-size", chunk_size]
        self.proc = None
        self.env = None  # the process's environment; None: this one's
        self.log_path = os.path.join(self.dir, "manager.log")
        if tls:
            self.cert = os.path.join(self.dir, "cert.pem")
            self.key = os.path.join(self.dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", self.key, "-out", self.cert, "-days", "2",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True)

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    def url(self, user="admin", password=SECRET, path="/RPC2"):
        cred = "" if user is None else "%s:%s@" % (user, password)
        return "%s://%s127.0.0.1:%d%s" % (self.scheme, cred, self.port, path)

    def argv(self):
        a = [os.path.join(BIN_DIR, "vastsky-manager"), "--db", self.db,
             "--listen", "%s:%d" % (self.listen_host, self.port), "--secret-file", self.secret_file]
        if self.tls:
            a += ["--tls-cert", self.cert, "--tls-key", self.key]
        return a + self.extra_args

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("manager exited with %s; log:\n%s" % (self.proc.returncode, self.read_log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("manager did not listen within %ss" % timeout)

    def ssl_context(self):
        """A client context that trusts this manager's self-signed cert (None without TLS)."""
        return ssl.create_default_context(cafile=self.cert) if self.tls else None

    def proxy(self, timeout=60, allow_none=False, **kw):
        """ServerProxy with credentials; every call gives up after `timeout` seconds."""
        ctx = self.ssl_context()
        if ctx is None:
            transport = _timeout_transport(xmlrpc.client.Transport, timeout)
        else:
            transport = _timeout_transport(xmlrpc.client.SafeTransport, timeout, context=ctx)
        return xmlrpc.client.ServerProxy(self.url(**kw), transport=transport, allow_none=allow_none)

    def http(self, timeout=30):
        """A raw http.client connection to the manager (HTTPS when TLS is on)."""
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=self.ssl_context())
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def start_again(self):
        """Starts a stopped manager again on the same db and secret (on a new port)."""
        self.port = free_port()
        return self.start()


    def audit(self, head_records=()):
        """Runs `vastsky-manager --db X --audit` (with --head-records, the
        given head agents' record dirs); returns (exit code, output)."""
        argv = [os.path.join(BIN_DIR, "vastsky-manager"), "--db", self.db, "--audit"]
        if head_records:
            argv += ["--head-records", ",".join(head_records)]
        r = subprocess.run(argv, capture_output=True, text=True)
        return r.returncode, r.stdout + r.stderr

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        rc = self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        if rc not in (0, None) and exc[0] is None:
            raise AssertionError("manager exited with %s (sanitizer report?)" % rc)


def make_cluster(api, servers=4, disks=3, sectors=str(200 * 2**21), domains=None):
    """Registers servers x disks (200 GiB each by default); returns (ssvrids, pdskids)."""
    ssvrs, pdsks = [], []
    for i in range(servers):
        req = {"ver": VER, "ip_data": ["127.200.%d.%d" % (i // 250, i % 250 + 1)]}
        if domains:
            req["domain"] = domains[i % len(domains)]
        s = api.registerStorageServer(req)
        ssvrs.append(s)
        for d in range(disks):
            pdsks.append(api.registerPhysicalDisk({"ver": VER, "ssvrid": s,
                                                   "local_path": "/dev/disk/by-id/disk-%d-%d" % (i, d),
                                                   "capacity": sectors}))
    return ssvrs, pdsks


def _timeout_transport(base, timeout, **kw):
    """An xmlrpc.client transport (plain or TLS) whose connections time out."""
    class Transport(base):
        def make_connection(self, host):
            conn = super().make_connection(host)
            conn.timeout = timeout
            return conn
    return Transport(**kw)


# ---------------------------------------------------------------- requests --

def req(**members):
    """The one struct every method takes: `members` plus ver 5."""
    r = {"ver": VER}
    r.update(members)
    return r


# API enums (API.md "States").
HIGH, LOW, EVACUATE, OFFLINE, FAULTY, HALT = 1, 2, 3, 4, 5, 6
ALLOCATED, INSYNC, SPARE = 1, 2, 3
UNBOUND, BOUND, BIND_ERROR = 0, 1, 2
LVOL, LINEAR, MIRROR, DEXT, SNAPSHOT_ORIGIN, SNAPSHOT = 0, 1, 2, 3, 6, 7
T_HSVR, T_SSVR, T_PDSK, T_DEXT = 1, 2, 3, 4
MAX_ID = 0x7fffffff
UNKNOWN_ID = 0x7ffffff0  # valid as an id, never handed out in a test
GIB_SECTORS = 2 ** 21
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")


def disk_sectors(gib):
    """A disk size in GiB as registerPhysicalDisk wants it: a string of 512-byte sectors."""
    return str(gib * GIB_SECTORS)


def basic_auth(user="admin", password=SECRET):
    """The value of an Authorization header with HTTP Basic credentials."""
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def http_request(m, method="POST", path="/RPC2", body=b"", headers=None,
                 user="admin", password=SECRET, timeout=30):
    """One raw HTTP request; returns (status, {lowercased header: value}, body bytes)."""
    h = {"Content-Type": "text/xml"}
    if user is not None:
        h["Authorization"] = basic_auth(user, password)
    h.update(headers or {})
    conn = m.http(timeout)
    try:
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def raw_call(m, body):
    """POSTs a hand-made XML-RPC body; returns the result or raises the Fault."""
    if isinstance(body, str):
        body = body.encode()
    status, _, data = http_request(m, body=body)
    if status != 200:
        raise AssertionError("HTTP %d for an XML-RPC call: %r" % (status, data[:200]))
    return xmlrpc.client.loads(data)[0][0]


def walk(node):
    """Every node of an lvolstruct tree, depth first, parents before children."""
    yield node
    for c in node["components"]:
        yield from walk(c)


def mirrors_of(tree):
    """The MIRROR nodes of a volume's showLogicalVolume tree, in order."""
    return [n for n in walk(tree) if n["lvoltype"] == MIRROR]


def legs_of(tree):
    return [n for n in walk(tree) if n["lvoltype"] == DEXT]


def footprint(leg):
    """(pdskid, start MiB, end MiB) of a leg: its 1 MiB metadata slice plus its data."""
    s = leg["lvolspec"]
    start = min(s["offset"], s["meta_offset"])
    end = max(s["offset"] + s["length"], s["meta_offset"] + 1)
    return s["pdskid"], start, end


# ---------------------------------------------------------------- test case --

def stop_and_audit(m):
    """Stops manager m and removes its dir; raises if it did not exit
    cleanly or its database fails --audit."""
    try:
        rc = m.stop()
        code, out = m.audit()
        log = m.read_log()
    finally:
        shutil.rmtree(m.dir, ignore_errors=True)
    if rc not in (0, None):
        raise AssertionError("manager exited with %s; log tail:\n%s" % (rc, log[-3000:]))
    if code != 0 or "audit: OK" not in out:
        raise AssertionError("audit failed (exit %d):\n%s" % (code, out))


class ManagerCase(unittest.TestCase):
    """A TestCase class sharing one manager: started before its first test,
    stopped after its last, and then the database must pass --audit.
    Set `manager_kw` (Manager arguments) and `cluster` (make_cluster
    arguments, or None for an empty cluster) on the subclass."""
    manager_kw = {}
    cluster = None
    _names = 0

    @classmethod
    def setUpClass(cls):
        cls.m = Manager(**cls.manager_kw).start()
        cls.api = cls.m.proxy()
        cls.ssvrs, cls.pdsks = [], []
        if cls.cluster is not None:
            try:
                cls.ssvrs, cls.pdsks = make_cluster(cls.api, **cls.cluster)
            except Exception:
                cls.tearDownClass()
                raise

    @classmethod
    def tearDownClass(cls):
        cls.api("close")()
        stop_and_audit(cls.m)

    # -- helpers for tests --
    @classmethod
    def fresh_name(cls, prefix="v"):
        """A fresh valid volume name."""
        ManagerCase._names += 1
        return "%s%d" % (prefix, ManagerCase._names)

    def create(self, capacity=1, redundancy=None, name=None, api=None):
        """Creates a volume; returns (lvolid, name)."""
        name = name or self.fresh_name()
        r = req(lvolname=name, capacity=capacity)
        if redundancy is not None:
            r["redundancy"] = redundancy
        return (api or self.api).createLogicalVolume(r), name

    def show(self, lvolid):
        return self.api.showLogicalVolume(req(lvolid=lvolid))

    def lvol(self, lvolid):
        rows = self.api.listLogicalVolumes(req(lvolid=lvolid))
        self.assertEqual(len(rows), 1, rows)
        return rows[0]

    def status(self):
        return self.api.getClusterStatus(req())

    def assertFault(self, name, method, request, api=None, names=None):
        """Calls method(request) and asserts it fails with the fault `name`
        (faultCode = errno, faultString = the symbolic name). `names` lets a
        test accept any of several faults where the contract allows them."""
        allowed = names or (name,)
        with self.assertRaises(xmlrpc.client.Fault,
                               msg="%s(%r) should fail with %s" % (method, request, "/".join(allowed))) as cm:
            getattr(api or self.api, method)(request)
        f = cm.exception
        got = (f.faultCode, f.faultString)
        self.assertIn(got, [(getattr(errno, n), n) for n in allowed],
                      "%s(%.300r): want %s, got fault %r" % (method, request, "/".join(allowed), got))
        return f

    def assertTyped(self, struct, types):
        """struct has each member of `types` with exactly that Python type
        (bool is not accepted for int)."""
        for k, t in types.items():
            self.assertIn(k, struct, "member %r missing from %r" % (k, struct))
            self.assertIs(type(struct[k]), t, "member %r of %r should be %s" % (k, struct, t.__name__))


class AgentsCase(unittest.TestCase):
    """A TestCase class sharing one manager (new_manager(), by default
    Manager(**manager_kw)) and the agents its start_agents() starts, each
    appended to cls.agents: they are cleaned up after its last test, then
    the manager is stopped and its database must pass --audit."""
    manager_kw = {}

    @classmethod
    def new_manager(cls):
        return Manager(**cls.manager_kw)

    @classmethod
    def start_agents(cls):
        pass

    @classmethod
    def setUpClass(cls):
        cls.m = cls.new_manager().start()
        cls.api = cls.m.proxy()
        cls.agents = []
        try:
            cls.start_agents()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for a in cls.agents:
            a.cleanup()
        stop_and_audit(cls.m)


# ------------------------------------------------------------ storage agent --

class Agent(Daemon):
    """An agent process serving on 127.0.0.1:<free port> in its own temp dir
    (state under dir/state), talking to `manager`. Subclasses give argv()."""
    name = "agent"

    def __init__(self, manager, data_ip, heartbeat=1, workdir=None, prefix="vastsky-agent-"):
        self.manager = manager
        self.data_ip = data_ip
        self.dir = workdir or tempfile.mkdtemp(prefix=prefix)
        self.state_dir = os.path.join(self.dir, "state")
        self.heartbeat = heartbeat
        self.port = free_port()
        self.proc = None
        self.env = None  # the process's environment; None: this one's
        self.log_path = os.path.join(self.dir, "agent.log")
        self.metrics_port = None  # with_metrics() sets it

    def with_metrics(self, password="agent-scrape-password-0123456789"):
        """Serve /metrics on a port of its own, user prometheus with `password`."""
        self.metrics_port = free_port()
        self.metrics_password = password
        self.metrics_secret_file = os.path.join(self.dir, "metrics-secret")
        with open(self.metrics_secret_file, "w") as f:
            f.write(password + "\n")
        os.chmod(self.metrics_secret_file, 0o600)
        return self

    def common_argv(self):
        return ["--config", "/dev/null", "--manager", self.manager.url(user=None),
                "--secret-file", self.manager.secret_file, "--listen", "127.0.0.1:%d" % self.port,
                "--data-ip", self.data_ip, "--state-dir", self.state_dir, "--heartbeat", str(self.heartbeat)] + (
                    [] if self.metrics_port is None else
                    ["--metrics-listen", "127.0.0.1:%d" % self.metrics_port,
                     "--metrics-secret-file", self.metrics_secret_file])

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        if wait:
            deadline = time.time() + 20
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError("%s exited with %s; log:\n%s" % (self.name, self.proc.returncode, self.read_log()))
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                        return self
                except OSError:
                    time.sleep(0.02)
            raise RuntimeError("%s did not listen within 20s" % self.name)
        return self

    def url(self, user="admin", password=SECRET):
        cred = "" if user is None else "%s:%s@" % (user, password)
        return "http://%s127.0.0.1:%d/RPC2" % (cred, self.port)

    def proxy(self, timeout=30, **kw):
        return xmlrpc.client.ServerProxy(self.url(**kw), transport=_timeout_transport(xmlrpc.client.Transport, timeout))

    def cleanup(self):
        """Stops the agent and removes its directory; an exit status other
        than 0 goes to UNCLEAN_EXITS with the log's tail."""
        rc = self.stop()
        if rc not in (0, None):
            UNCLEAN_EXITS.append("%s (%s) exited with %s; log tail:\n%s" % (self.name, self.dir, rc, self.read_log()[-4000:]))
        shutil.rmtree(self.dir, ignore_errors=True)


class StorageAgent(Agent):
    """A vastsky-storage-agent process (target=sim) with sparse-file disks;
    `data_ip` is the loopback address it registers (127.0.0.x)."""
    name = "storage agent"

    def __init__(self, manager, data_ip, disks_gib=(100,), heartbeat=1, workdir=None, scrub_rate=0):
        super().__init__(manager, data_ip, heartbeat, workdir, "vastsky-sa-")
        self.scrub_rate = scrub_rate  # MiB/s; 0: no scrub (it would only read zeros here)
        self.disks = []
        for i, gib in enumerate(disks_gib):
            path = os.path.join(self.dir, "disk%d.img" % i)
            with open(path, "wb") as f:
                f.truncate(int(gib * 2**30))
            self.disks.append(path)

    @staticmethod
    def binary():
        return os.path.join(BIN_DIR, "vastsky-storage-agent")

    def argv(self):
        return [self.binary()] + self.common_argv() + ["--disks", ",".join(self.disks), "--target", "sim",
                                                       "--scrub-rate", str(self.scrub_rate), "--scrub-pause", "1"]



class HeadAgent(Agent):
    """A vastsky-head-agent process (host sim: dm and iSCSI simulated in
    files under its state dir) registering `initiator`."""
    name = "head agent"

    def __init__(self, manager, data_ip, initiator, heartbeat=1):
        super().__init__(manager, data_ip, heartbeat, None, "vastsky-ha-")
        self.initiator = initiator

    @staticmethod
    def binary():
        return os.path.join(BIN_DIR, "vastsky-head-agent")

    def argv(self):
        return [self.binary()] + self.common_argv() + ["--host", "sim", "--initiator-name", self.initiator]

    def refuse_logins_to(self, pdskids):
        """The simulated initiator refuses logins to these disks (EACCES)."""
        d = os.path.join(self.state_dir, "sim", "iscsi")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "refuse"), "w") as f:
            f.write("".join("iqn.2010-10.org.vastsky:pdsk-%08x\n" % p for p in pdskids))

    def refuse_luns(self, chunkids):
        """The simulated initiator never sees these legs' LUNs (ENXIO): not mapped to this head."""
        d = os.path.join(self.state_dir, "sim", "iscsi")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "refuse-luns"), "w") as f:
            f.write("".join("leg-%08x\n" % c for c in chunkids))

    def open_marker(self, lvolid):
        """Creating this file makes the simulated dm device count as open."""
        return os.path.join(self.state_dir, "sim", "dm", "mapper", "vastsky-%d.open" % lvolid)



def wait_for(what, pred, timeout=10):
    """Polls pred until it returns something true (returned) or timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)
